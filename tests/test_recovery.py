"""Results survive interruption, runners agree, stale results are refused, and bad inputs stop a run cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.project import SEQUENTIAL, TO_RUN_TABLE, copy_project, data_files, kedro_in_process

#: One pytest-xdist worker runs this module: the reference sweep (module fixture) is built once.
pytestmark = pytest.mark.xdist_group("recovery")

ENV = ("--env", "test")
#: The default runner with one worker process: it scores the levels one after another, so that the interrupt, sent
#: once the first level is scored, comes long before the run table even on a loaded machine.
ONE_WORKER = ("--runner-params", "max_workers=1")
#: Four levels so that an interrupted run has finished some and not others.
GRID = "sweep:\n  coverages: [0, 0.002, 0.005, 0.01]\n  seeds: [0, 1]\n"


def four_level_project(folder: Path) -> Path:
    project = copy_project(folder)
    (project / "conf/test/parameters_sweep.yml").write_text(GRID)
    return project


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted four-level sweep, up to its run table (what the resumed runs are compared with)."""
    project = four_level_project(tmp_path_factory.mktemp("reference"))
    result = kedro_in_process(project, "run", "--pipeline", "sweep", *ENV, *SEQUENTIAL, *TO_RUN_TABLE)
    assert result.returncode == 0, result.stdout[-3000:]
    return project


def scored_levels(project: Path) -> set[str]:
    """The levels whose scores were written (their runs are complete)."""
    return {p.parent.name for p in (project / "data/07_model_output").glob("*/run_scores.parquet")}


def interrupt_once_scored(project: Path, sig: int, levels: int, *args: str) -> None:
    """Start the sweep (``kedro run`` with ``args``; default runner: the project's) and send ``sig`` to its whole
    process group once ``levels`` levels are scored."""
    env = {**os.environ, "DO_NOT_TRACK": "1", "MPLBACKEND": "Agg"}
    # As from a terminal: a test run started as a background job (`pytest &`) ignores SIGINT, and a process inherits
    # that (the sweep would ignore Ctrl-C); a handled signal is reset to its default action in the new program.
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    console = project / "interrupted_run.txt"  # what the sweep printed (outside data/), for a failure message
    try:
        with console.open("w") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "kedro", "run", "--pipeline", "sweep", *ENV, *args],
                cwd=project, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, ignored)
    deadline = time.monotonic() + 240
    while len(scored_levels(project)) < levels:
        assert process.poll() is None, f"the sweep ended before {levels} levels were scored"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"the sweep went on 60 s after {signal.Signals(sig).name}:\n{console.read_text()[-3000:]}")
    assert process.returncode != 0, console.read_text()[-3000:]


def finished_run_files(project: Path) -> dict[str, bytes]:
    """Files of every scored level."""
    done = scored_levels(project)
    return {k: v for k, v in data_files(project).items() if any(f"/{level}/" in k for level in done)}


def test_an_interrupted_sweep_and_an_interrupted_resume_lose_nothing(tmp_path, reference):
    """Ctrl-C (SIGINT) reaches the default runner's worker processes once a level is scored; the resume, on the
    sequential runner, is killed outright (SIGKILL: no clean-up, no worker processes to start) once a further level
    is scored, and leaves what the catalog's atomic writes leave; a second resume finishes the sweep with the
    uninterrupted sweep's run table, touching none of the finished levels. Resumes go as far as the run table: what
    an interrupted training can leave behind. (A resume up to the report is checked on a cluster,
    tests/test_dask_runner.py; a whole pipeline's, figures included, on the budget map, tests/test_budget_map.py.)"""
    project = four_level_project(tmp_path)
    run_table = project / "data/08_reporting/coverage_runs.csv"
    interrupt_once_scored(project, signal.SIGINT, 1, *ONE_WORKER)
    after_ctrl_c = finished_run_files(project)
    assert after_ctrl_c and not run_table.exists()

    interrupt_once_scored(
        project, signal.SIGKILL, len(scored_levels(project)) + 1, *SEQUENTIAL, "--only-missing-outputs"
    )
    after_kill = finished_run_files(project)  # (the kill may land later, even after the run table: no matter)
    assert {k: after_kill[k] for k in after_ctrl_c} == after_ctrl_c and len(after_kill) > len(after_ctrl_c)

    result = kedro_in_process(
        project, "run", "--pipeline", "sweep", *ENV, *SEQUENTIAL, "--only-missing-outputs", *TO_RUN_TABLE
    )
    assert result.returncode == 0, result.stdout[-3000:]
    after = data_files(project)
    assert {k: after[k] for k in after_kill} == after_kill  # finished runs untouched
    assert run_table.read_bytes() == (reference / "data/08_reporting/coverage_runs.csv").read_bytes()
    assert not [p for p in (project / "data").rglob("*.partial")]  # what the hard kill left is gone


def test_sequential_and_parallel_runners_give_identical_results(tmp_path, tiny_sweep):
    project = copy_project(tmp_path)
    result = kedro_in_process(project, "run", "--pipeline", "sweep", *ENV, *SEQUENTIAL, *TO_RUN_TABLE)
    assert result.returncode == 0, result.stdout[-3000:]
    for path in (
        "data/08_reporting/coverage_runs.csv",
        "data/06_models/coverage_0p01/seed_1.pt",
        "data/07_model_output/coverage_0/history_seed_0.parquet",
    ):
        assert (project / path).read_bytes() == (tiny_sweep / path).read_bytes(), path


def test_stale_results_are_refused(tmp_path, reference):
    project = four_level_project(tmp_path)
    for folder in ("data",):
        subprocess.run(["cp", "-r", str(reference / folder), str(project)], check=True)
    training = project / "conf/test/parameters_training.yml"
    training.write_text("training:\n  batch_size: 64\n  validate_every: 100\n  accelerator: cpu\n  threads: 1\n")
    before = data_files(project)

    resumed = kedro_in_process(project, "run", "--pipeline", "sweep", *ENV, *SEQUENTIAL, "--only-missing-outputs")
    assert resumed.returncode != 0
    output = " ".join((resumed.stdout + resumed.stderr).split())
    assert "Error: 8 of 8 runs were trained with a different configuration" in output
    assert "kedro run --pipeline sweep" in output

    report = kedro_in_process(project, "run", "--pipeline", "reporting", *ENV, *SEQUENTIAL)
    assert report.returncode != 0
    assert "runs were trained with a different configuration" in " ".join(report.stdout.split() + report.stderr.split())
    assert data_files(project) == before
