"""One writer at a time: the run lock on data/, stale-lock takeover, leftover cleanup, and two real concurrent sweeps."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ex_coverage.lock import LOCK_NAME, RunLockedError, acquire, read_holder, release, run_lock


def write_lock(data: Path, pid: int, host: str, age_s: float = 0.0) -> Path:
    path = data / LOCK_NAME
    data.mkdir(parents=True, exist_ok=True)
    holder = {"pid": pid, "host": host, "command": "kedro run --pipeline sweep", "started": "2026-01-01T00:00:00+00:00"}
    path.write_text(json.dumps({**holder, "token": "theirs"}))
    if age_s:
        os.utime(path, (time.time() - age_s, time.time() - age_s))
    return path


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_second_writer_is_refused_at_once_naming_the_holder(tmp_path):
    with run_lock(tmp_path / "data", command="kedro run --pipeline sweep --params training.batch_size=64"):
        start = time.monotonic()
        with pytest.raises(RunLockedError) as refused:
            acquire(tmp_path / "data", "kedro run --pipeline sweep")
        assert time.monotonic() - start < 1.0
    message = str(refused.value)
    assert f"PID {os.getpid()} on host {socket.gethostname()}" in message
    assert "command `kedro run --pipeline sweep --params training.batch_size=64`" in message
    assert "started 20" in message and "Wait for it to finish" in message
    assert not (tmp_path / "data" / LOCK_NAME).exists()  # released when the block ends


def test_the_lock_is_released_when_the_run_fails(tmp_path):
    with pytest.raises(RuntimeError, match="node failed"), run_lock(tmp_path / "data"):
        raise RuntimeError("node failed")
    with run_lock(tmp_path / "data"):
        pass


def test_a_lock_of_a_dead_process_on_this_host_is_taken_over_with_a_warning(tmp_path, caplog):
    pid = dead_pid()
    write_lock(tmp_path / "data", pid, socket.gethostname())
    with caplog.at_level(logging.WARNING, logger="ex_coverage.lock"), run_lock(tmp_path / "data") as holder:
        assert read_holder(tmp_path / "data" / LOCK_NAME) == holder
    warnings = [r.getMessage() for r in caplog.records if "stale run lock" in r.getMessage()]
    assert len(warnings) == 1 and f"process {pid} on this host is no longer running" in warnings[0]


def test_a_lock_held_on_another_host_is_stale_only_without_heartbeat(tmp_path):
    data = tmp_path / "data"
    write_lock(data, 1, "another-node", age_s=60)  # heartbeat a minute old: alive as far as we can tell
    with pytest.raises(RunLockedError, match="PID 1 on host another-node"):
        acquire(data, "kedro run", stale_after_s=120)
    write_lock(data, 1, "another-node", age_s=180)
    holder = acquire(data, "kedro run", stale_after_s=120)
    assert read_holder(data / LOCK_NAME) == holder
    release(data, holder)


def test_a_live_process_on_this_host_keeps_its_lock(tmp_path):
    write_lock(tmp_path / "data", os.getppid(), socket.gethostname(), age_s=10)
    with pytest.raises(RunLockedError, match=f"PID {os.getppid()}"):
        acquire(tmp_path / "data", "kedro run")


def test_the_heartbeat_keeps_the_lock_fresh_and_release_spares_a_lock_taken_over(tmp_path):
    path = tmp_path / "data" / LOCK_NAME
    with run_lock(tmp_path / "data", heartbeat_s=0.05) as holder:
        os.utime(path, (time.time() - 1000, time.time() - 1000))
        time.sleep(0.5)
        assert time.time() - path.stat().st_mtime < 5
    write_lock(tmp_path / "data", 1, "elsewhere")  # as if taken over meanwhile
    release(tmp_path / "data", holder)  # not ours any more: left in place
    assert read_holder(path).token == "theirs"


def test_leftover_partial_files_are_removed_only_if_ours_and_inside_data(tmp_path):
    data = tmp_path / "data"
    ours = [
        data / "08_reporting/.report.md.k2j_9xq1.partial",
        data / "06_models/coverage_0/.seed_0.pt.abcdefgh.partial",
    ]
    kept = [
        data / "08_reporting/report.partial",  # not a temporary name of ours
        data / "08_reporting/.report.md.partial",
        data / "01_raw/dopesheet.csv",
        tmp_path / ".report.md.k2j_9xq1.partial",  # outside data/
    ]
    for path in ours + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    with run_lock(data):
        assert not any(p.exists() for p in ours)
    assert all(p.exists() for p in kept)


def test_two_concurrent_sweeps_one_succeeds_the_other_stops_at_once(tiny_sweep, second_writer):
    """The issue's scenario: two sweeps a few seconds apart with different batch sizes in one folder.

    The first is the shared tiny sweep (conftest.py ``tiny_sweep_run``: `kedro run ... --params
    training.batch_size=64` in a process of its own); the second (batch size 32) started while it held the lock."""
    second = second_writer
    assert second.returncode == 1
    errors = [line for line in second.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, second.stderr[-2000:]
    assert f"PID {second.first_pid} on host {socket.gethostname()}" in errors[0]
    assert second.first_command == "kedro run --pipeline sweep --env test --params training.batch_size=64"
    assert second.first_command in errors[0]
    assert "started 20" in errors[0]
    assert "Traceback" not in second.stderr and not second.traceback, second.exception
    assert second.seconds < 30, second.seconds  # nothing was loaded or trained
    assert not second.started_workers  # nor were worker processes started, to import torch for nothing
    # The first succeeded (else no tiny sweep), and every result on disk is the first configuration's.
    records = list((tiny_sweep / "data/07_model_output").glob("*/run_record_seed_*.json"))
    assert len(records) == 4
    assert {json.loads(p.read_text())["configuration"]["training"]["batch_size"] for p in records} == {64}
    assert not (tiny_sweep / "data" / LOCK_NAME).exists()
