import gc
import json
import multiprocessing.forkserver
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

# Before numpy and torch load: every test process computes on one core. Two pytest workers share two cores with
# the processes their tests start; thread pools of two threads each would wait on one another.
for _pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_pool, "1")
# Tracked test runs log to their project copy's own MLflow store, never to a store the developer's shell names.
os.environ.pop("MLFLOW_TRACKING_URI", None)

import pytest  # noqa: E402

from ex_coverage.lock import LOCK_NAME  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEED_SCHEDULE = ROOT / "data" / "01_raw" / "dopesheet.csv"
SHORT_SCHEDULE = ROOT / "data" / "01_raw" / "dopesheet_short.csv"
#: Where the tiny_sweep fixture keeps what `kedro run` printed (relative to the project copy).
RUN_OUTPUT = "kedro_run_output.txt"
SEED_LABELS = {
    "red": {"shape": "redness", "exponent": 10, "base_probability": 0.07},
    "vibrant": {"shape": "vibrancy", "exponent": 100, "base_probability": 0.02},
}


@pytest.fixture
def seed_labels():
    return SEED_LABELS


@dataclass
class SecondWriter:
    """A second `kedro run` started in the tiny sweep's folder while the sweep held the run lock."""

    first_pid: int  # the sweep's process
    first_command: str  # as typed
    returncode: int  # the second writer's exit status
    stderr: str  # its error output
    traceback: bool  # whether an error escaped its CLI (a process of its own would have printed a traceback)
    exception: str  # that error, if any
    seconds: float  # from its start to its refusal
    started_workers: bool  # whether it started SweepRunner's forkserver (which imports torch and the project)


#: Tests whose in-process runs start worker processes from this pytest worker's forkserver (SweepRunner's, the Dask
#: cluster's): one pytest-xdist worker runs them all, so that one forkserver imports torch, Lightning and the project.
ON_FORKSERVER = pytest.mark.xdist_group("forkserver")

#: The tiny sweep's command (batch size 64 is the default, written out as the first of two writers with
#: different batch sizes: tests/test_run_lock.py).
TINY_SWEEP = ("run", "--pipeline", "sweep", "--env", "test", "--params", "training.batch_size=64")
#: The second writer's command: the same sweep with another batch size.
SECOND_WRITER = ("run", "--pipeline", "sweep", "--env", "test", "--params", "training.batch_size=32")


def shared_root(tmp_path_factory) -> Path:
    """The folder every process of this test run shares: the base temporary folder, or with pytest-xdist its
    parent, where the workers' folders are."""
    root = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


@contextmanager
def built_once(tmp_path_factory, name: str):
    """A folder ``name`` shared by the whole test run, built by the first caller: yields ``(folder, built)``;
    when ``built`` is False the caller builds it, else it is ready. With pytest-xdist every worker process runs
    session fixtures; they meet in the run's common temporary folder, and a file lock lets one build it."""
    from filelock import FileLock

    root = shared_root(tmp_path_factory)
    folder, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if done.exists():
            yield folder, True
            return
        folder.mkdir()
        yield folder, False
        done.touch()


def _run_tiny_sweep(project: Path) -> SecondWriter:
    from tests.project import copy_project, kedro_in_process

    copy_project(project, tracking=True)  # its MLflow store is read by tests/test_tracking.py
    env = {**os.environ, "DO_NOT_TRACK": "1", "COLUMNS": "200", "MPLBACKEND": "Agg"}
    first = subprocess.Popen(
        [sys.executable, "-m", "kedro", *TINY_SWEEP],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (project / "data" / LOCK_NAME).exists():
            assert first.poll() is None and time.monotonic() < deadline, first.communicate(timeout=60)
            time.sleep(0.05)
        started = time.monotonic()
        second = kedro_in_process(project, *SECOND_WRITER)
        refused_after = time.monotonic() - started
        started_workers = multiprocessing.forkserver._forkserver._forkserver_pid is not None
        stdout, stderr = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, stdout[-3000:] + stderr[-3000:]
    (project / RUN_OUTPUT).write_text(stdout + stderr)  # the console, for tests/test_console.py
    command = " ".join(["kedro", *TINY_SWEEP])
    return SecondWriter(
        first.pid,
        command,
        second.returncode,
        second.stderr,
        second.traceback,
        repr(second.exception),
        refused_after,
        started_workers,
    )


def build_tiny_sweep(root: str) -> None:
    """In a process of its own (see :func:`start_tiny_sweep`): the tiny sweep in ``<root>/tiny_sweep``, and what
    the second writer saw; ends with ``tiny_sweep.done``, or ``tiny_sweep.failed`` holding the traceback."""
    import traceback

    folder = Path(root)
    try:
        seen = _run_tiny_sweep(folder / "tiny_sweep")
        (folder / "tiny_sweep" / "second_writer.json").write_text(json.dumps(asdict(seen)))
        (folder / "tiny_sweep.done").touch()
    except BaseException:
        (folder / "tiny_sweep.failed").write_text(traceback.format_exc())
        raise


#: The process building the tiny sweep, if this process started it.
_builder: subprocess.Popen | None = None


def start_tiny_sweep(tmp_path_factory) -> Path:
    """Start building the tiny sweep in the background unless a process of this test run already has; returns
    the shared folder it is built in. Called once the tests are collected, so that other tests run meanwhile."""
    global _builder
    from filelock import FileLock

    root = shared_root(tmp_path_factory)
    with FileLock(str(root / "tiny_sweep.lock")):
        if not (root / "tiny_sweep").exists():
            (root / "tiny_sweep").mkdir()
            _builder = subprocess.Popen(
                [sys.executable, "-c", f"from tests.conftest import build_tiny_sweep; build_tiny_sweep({str(root)!r})"],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            (root / "tiny_sweep.pid").write_text(str(_builder.pid))
    return root


def _builder_alive(root: Path) -> bool:
    if _builder is not None:  # ours: poll() also reaps it
        return _builder.poll() is None
    try:
        os.kill(int((root / "tiny_sweep.pid").read_text()), 0)
    except ProcessLookupError:
        return False
    return True


def reads_tiny_sweep(item) -> bool:
    """Whether a test needs the finished tiny sweep when it starts (a fixture, or the ``uses_tiny_sweep`` mark where
    a fixture asks for it by name)."""
    return "tiny_sweep_run" in item.fixturenames or item.get_closest_marker("uses_tiny_sweep") is not None


def hand_out_order(item) -> tuple[int, bool]:
    """Where pytest-xdist hands a test out (it hands them out in this order, one worker holding up to three ahead):

    0. grouped tests (xdist_group: long ones sharing a module fixture) that do not read the tiny sweep;
    1. other long tests that do not read it;
    2. long tests that read it (the sweep is built by then);
    3. the short tests, which keep both workers busy to the end whichever worker the long ones went to.

    Within a kind, tests marked ``long`` first.
    """
    reads, long = reads_tiny_sweep(item), item.get_closest_marker("long") is not None
    if item.get_closest_marker("xdist_group") is not None and not reads:
        kind = 0
    elif long:
        kind = 2 if reads else 1
    else:
        kind = 3
    return kind, not long


def pytest_collection_modifyitems(session, config, items) -> None:
    """Start the tiny sweep, and order the tests for pytest-xdist (:func:`hand_out_order`)."""
    if not config.option.collectonly and any(reads_tiny_sweep(item) for item in items):
        start_tiny_sweep(config._tmp_path_factory)
    items.sort(key=hand_out_order)


def pytest_collection_finish(session) -> None:
    """Keep the garbage collector's full passes off what collection imported (torch, pandas, Kedro, the project:
    a third of a million objects that live as long as the process), and make those passes rarer: they walked every
    object about 20 times a suite, 6–7 CPU-s per pytest worker; now about 2 s."""
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 100)


def pytest_unconfigure(config) -> None:
    if _builder is not None and _builder.poll() is None:  # the run ended early (-x, Ctrl-C): stop it and its sweep
        os.killpg(_builder.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def tiny_sweep_run(tmp_path_factory) -> tuple[Path, SecondWriter]:
    """`kedro run --pipeline sweep --env test` (2 levels × 2 seeds, 201 steps) in a process of its own, in a project
    copy; the one finished sweep the tests that read results share (once per test run, pytest-xdist workers
    included). It is built in the background from collection on (:func:`start_tiny_sweep`).

    Its console is kept in ``RUN_OUTPUT`` (relative to the project copy) for tests/test_console.py. While it holds
    the run lock, a second writer with another batch size tries the same folder (in the builder's process); what
    it saw is returned for tests/test_run_lock.py (the issue's two concurrent sweeps), so that scenario costs no
    sweep of its own.
    """
    root = start_tiny_sweep(tmp_path_factory)
    deadline = time.monotonic() + 600
    while not (root / "tiny_sweep.done").exists():
        failed = root / "tiny_sweep.failed"
        if failed.exists():
            pytest.fail(f"the shared tiny sweep failed:\n{failed.read_text()}", pytrace=False)
        if not _builder_alive(root) and not (root / "tiny_sweep.done").exists():
            pytest.fail("the process building the shared tiny sweep ended without finishing it", pytrace=False)
        assert time.monotonic() < deadline, "the shared tiny sweep took more than 10 minutes"
        time.sleep(0.1)
    project = root / "tiny_sweep"
    return project, SecondWriter(**json.loads((project / "second_writer.json").read_text()))


@pytest.fixture(scope="session")
def tiny_sweep(tiny_sweep_run):
    """A project copy on which `kedro run --pipeline sweep --env test` has run (2 levels × 2 seeds, 201 steps).

    Shared: tests that change a finished project work on a copy (tests/project.py ``copy_finished``)."""
    return tiny_sweep_run[0]


@pytest.fixture(scope="session")
def second_writer(tiny_sweep_run) -> SecondWriter:
    """What a second writer saw, started while the tiny sweep ran (see ``tiny_sweep_run``)."""
    return tiny_sweep_run[1]


@pytest.fixture(scope="session")
def tiny_viz(tiny_sweep, tmp_path_factory):
    """What `kedro viz build --include-previews` (KEDRO_ENV=test) writes for the finished tiny sweep: the JSON of
    ``build/api/main``, with ``build/api/nodes/<id>`` beside it in the project folder. Built once, read by
    tests/test_viz_structure.py and tests/test_notebook_and_viz.py."""
    from tests.project import kedro

    with built_once(tmp_path_factory, "tiny_viz") as (_, built):
        if not built:
            result = kedro(tiny_sweep, "viz", "build", "--include-previews", env={"KEDRO_ENV": "test"})
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads((tiny_sweep / "build" / "api" / "main").read_text())
