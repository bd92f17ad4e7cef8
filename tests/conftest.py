import json
import os
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

import psutil  # noqa: E402
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
        children = {child.pid for child in psutil.Process().children()}
        started = time.monotonic()
        second = kedro_in_process(project, *SECOND_WRITER)
        refused_after = time.monotonic() - started
        started_workers = bool({child.pid for child in psutil.Process().children()} - children)
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


@pytest.fixture(scope="session")
def tiny_sweep_run(tmp_path_factory) -> tuple[Path, SecondWriter]:
    """`kedro run --pipeline sweep --env test` (2 levels × 2 seeds, 201 steps) in a process of its own, in a project
    copy; the one finished sweep the tests that read results share (built once per test run by whichever pytest
    worker asks first; the other waits for it).

    Its console is kept in ``RUN_OUTPUT`` (relative to the project copy) for tests/test_console.py. While it holds
    the run lock, a second writer with another batch size tries the same folder; what it saw is returned for
    tests/test_run_lock.py (the issue's two concurrent sweeps), so that scenario costs no sweep of its own.
    """
    with built_once(tmp_path_factory, "tiny_sweep") as (project, built):
        if not built:  # in a process of its own: the second writer's forkserver check needs a fresh process
            script = f"from tests.conftest import build_tiny_sweep; build_tiny_sweep({str(project)!r})"
            result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
            assert result.returncode == 0, f"the shared tiny sweep failed:\n{result.stderr[-5000:]}"
    return project, SecondWriter(**json.loads((project / "second_writer.json").read_text()))


def build_tiny_sweep(project: str) -> None:
    """The tiny sweep in ``project``, and what the second writer saw (``second_writer.json``)."""
    seen = _run_tiny_sweep(Path(project))
    (Path(project) / "second_writer.json").write_text(json.dumps(asdict(seen)))


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
