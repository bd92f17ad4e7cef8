"""One writer at a time: a run lock on the project's data folder.

Every command that writes results (``kedro run`` with any runner, ``kedro refine``) holds the lock
``data/.run.lock`` for its whole run::

    with run_lock(Path("data"), command="kedro run --pipeline sweep"):
        ...  # load, train, save

A second writer fails at once with :class:`RunLockedError`, naming the holder (PID, host, command,
start time) and what to do. Reading results (``kedro viz``, notebooks, ``catalog.load``) never takes
the lock.

How it works, and why it is safe on a shared (NFS) folder:

- The lock is a file created with ``O_CREAT | O_EXCL`` — atomic on local file systems and on NFSv3+
  — holding the holder's PID, host, command, start time and a random token.
- While the run lasts, a background thread refreshes the file's modification time every
  ``HEARTBEAT_S`` seconds (the heartbeat).
- A lock is **stale** (its holder was killed, or its machine lost power) when
  - its holder is on this host and its PID is no longer alive, or
  - its heartbeat is older than ``STALE_AFTER_S`` seconds — the only test possible for a holder on
    another host (it also catches a PID reused after a reboot). Hosts sharing a data folder need
    clocks agreeing to well within that (NTP).
- A stale lock is taken over automatically with one warning line; the takeover itself is serialised
  by a second ``O_EXCL`` file so that two newcomers cannot both take it.
- The holder removes the lock when it ends (also on errors and Ctrl-C); it only ever removes a lock
  carrying its own token.

At the start of every locked run, leftover temporary files of killed saves (``.*.partial``, see
:mod:`ex_coverage.datasets`) are removed from the data folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from ex_coverage.science.errors import ExCoverageError

log = logging.getLogger(__name__)

LOCK_NAME = ".run.lock"
#: Seconds between heartbeats of a running holder.
HEARTBEAT_S = 15.0
#: A lock whose heartbeat is older than this is stale, whichever host holds it.
STALE_AFTER_S = 120.0
#: A takeover marker older than this was left by a newcomer that died mid-takeover.
TAKEOVER_STALE_S = 30.0


class RunLockedError(ExCoverageError, RuntimeError):
    """Another command is writing results in the same data folder."""


@dataclass(frozen=True)
class Holder:
    """Who holds a run lock."""

    pid: int
    host: str
    command: str
    started: str  # ISO 8601, UTC
    token: str

    def describe(self) -> str:
        return f"PID {self.pid} on host {self.host}, command `{self.command}`, started {self.started}"


def lock_path(data_dir: Path | str) -> Path:
    return Path(data_dir) / LOCK_NAME


def read_holder(path: Path) -> Holder | None:
    """The holder recorded in a lock file; None if it has gone or is not (yet) readable."""
    try:
        info = json.loads(path.read_text())
        return Holder(**{k: info[k] for k in Holder.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def stale_reason(path: Path, holder: Holder | None, stale_after_s: float = STALE_AFTER_S) -> str | None:
    """Why the lock at ``path`` is stale, or None if its holder may still be running."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None
    if holder is None:
        # Unreadable: a holder killed between creating and writing it, or one writing right now.
        return f"unreadable lock file, {age:.0f} s old" if age > stale_after_s else None
    if holder.host == socket.gethostname() and not _pid_alive(holder.pid):
        return f"process {holder.pid} on this host is no longer running"
    if age > stale_after_s:
        return f"no heartbeat for {age:.0f} s (more than {stale_after_s:.0f} s)"
    return None


def _create(path: Path, holder: Holder) -> bool:
    """Create the lock file atomically; False if it exists."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as stream:
        json.dump(asdict(holder), stream, indent=2)
        stream.flush()
        os.fsync(stream.fileno())
    return True


def _take_over(path: Path, stale: Holder | None, stale_after_s: float) -> bool:
    """Remove the stale lock ``stale``, unless someone else got there first. True if it was removed."""
    marker = path.with_name(path.name + ".takeover")
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        with contextlib.suppress(FileNotFoundError):
            if time.time() - marker.stat().st_mtime > TAKEOVER_STALE_S:
                marker.unlink()
        return False
    os.close(fd)
    try:
        now = read_holder(path)
        if now != stale or stale_reason(path, now, stale_after_s) is None:
            return False  # it changed hands meanwhile
        path.unlink(missing_ok=True)
        return True
    finally:
        marker.unlink(missing_ok=True)


def acquire(data_dir: Path | str, command: str, stale_after_s: float = STALE_AFTER_S, attempts: int = 5) -> Holder:
    """Take the lock on ``data_dir`` or raise :class:`RunLockedError` at once if a live holder has it."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = lock_path(data_dir)
    me = Holder(
        pid=os.getpid(),
        host=socket.gethostname(),
        command=command,
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        token=uuid.uuid4().hex,
    )
    for _ in range(attempts):
        if _create(path, me):
            return me
        holder = read_holder(path)
        reason = stale_reason(path, holder, stale_after_s)
        if reason is None:
            if holder is None:  # just created, not written yet: look again shortly
                time.sleep(0.2)
                holder = read_holder(path)
            who = holder.describe() if holder else "another command (its lock file is being written)"
            raise RunLockedError(
                f"{path} is held by {who}: another run is writing results in this data folder. "
                "Wait for it to finish (or stop it); a lock left by a killed run is taken over automatically "
                f"once its process is gone (same host) or its heartbeat is {stale_after_s:.0f} s old (other hosts)."
            )
        if _take_over(path, holder, stale_after_s):
            who = holder.describe() if holder else "an unknown holder"
            log.warning("Taking over a stale run lock %s (held by %s; %s)", path, who, reason)
        else:
            time.sleep(0.2)
    raise RunLockedError(f"{path}: could not take the lock after {attempts} attempts (several runs starting at once?)")


def release(data_dir: Path | str, holder: Holder) -> None:
    """Remove the lock if it is still ``holder``'s (a lock taken over meanwhile is left alone)."""
    path = lock_path(data_dir)
    current = read_holder(path)
    if current is not None and current.token == holder.token:
        path.unlink(missing_ok=True)
    else:
        log.warning("Run lock %s was no longer ours when the run ended (taken over as stale?)", path)


class _Heartbeat(threading.Thread):
    def __init__(self, path: Path, holder: Holder, interval_s: float) -> None:
        super().__init__(name="run-lock-heartbeat", daemon=True)
        self.path, self.holder, self.interval_s = path, holder, interval_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval_s):
            current = read_holder(self.path)
            if current is None or current.token != self.holder.token:
                log.error("Run lock %s was taken over by %s", self.path, current.describe() if current else "nobody")
                return
            with contextlib.suppress(OSError):
                os.utime(self.path)


@contextlib.contextmanager
def run_lock(
    data_dir: Path | str = "data",
    command: str = "kedro run",
    heartbeat_s: float = HEARTBEAT_S,
    stale_after_s: float = STALE_AFTER_S,
    clean: bool = True,
) -> Iterator[Holder]:
    """Hold the run lock on ``data_dir`` for the ``with`` block; by default, first remove leftover partial files."""
    holder = acquire(data_dir, command, stale_after_s)
    heartbeat = _Heartbeat(lock_path(data_dir), holder, heartbeat_s)
    heartbeat.start()
    try:
        if clean:
            remove_partial_files(data_dir)
        yield holder
    finally:
        heartbeat.stopped.set()
        heartbeat.join()
        release(data_dir, holder)


def remove_partial_files(data_dir: Path | str) -> list[Path]:
    """Delete this project's temporary files of killed saves under ``data_dir`` (symbolic links not followed).

    Only call this while holding the run lock: a running writer's temporary files look the same.
    """
    from ex_coverage.datasets import is_partial_file

    removed = []
    for folder, _, files in os.walk(data_dir):
        for name in files:
            if is_partial_file(name):
                path = Path(folder) / name
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
    if removed:
        log.warning(
            "Removed %d temporary file(s) left by an interrupted save: %s",
            len(removed),
            ", ".join(str(p) for p in removed[:5]) + (" ..." if len(removed) > 5 else ""),
        )
    return removed
