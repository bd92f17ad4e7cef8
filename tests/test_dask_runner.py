"""DaskRunner on a 2-worker LocalCluster: same results as the local runners, clear errors from workers."""

from __future__ import annotations

import shutil

import pytest

from tests.project import copy_project, kedro

distributed = pytest.importorskip("distributed")

DASK = ("--runner", "ex_coverage.runner.DaskRunner")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


def test_dask_sweep_matches_the_local_runner_and_resumes(tmp_path, tiny_sweep, cluster):
    project = copy_project(tmp_path)
    result = kedro(
        project,
        "run",
        "--pipeline",
        "sweep",
        "--env",
        "test",
        *DASK,
        "--runner-params",
        f"address={cluster.scheduler_address}",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for path in ("data/08_reporting/coverage_runs.csv", "data/06_models/coverage_0p01/seed_1.pt"):
        assert (project / path).read_bytes() == (tiny_sweep / path).read_bytes(), path

    (project / "data/08_reporting/report.md").unlink()
    shutil.rmtree(project / "data/06_models/coverage_0")
    before = (project / "data/06_models/coverage_0p01/seed_1.pt").stat().st_mtime_ns
    resumed = kedro(
        project,
        "run",
        "--pipeline",
        "sweep",
        "--env",
        "test",
        *DASK,
        "--runner-params",
        f"address={cluster.scheduler_address}",
        "--only-missing-outputs",
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert (project / "data/06_models/coverage_0/seed_0.pt").exists() and (
        project / "data/08_reporting/report.md"
    ).exists()
    assert (project / "data/06_models/coverage_0p01/seed_1.pt").stat().st_mtime_ns == before


def test_a_failing_node_names_itself_and_its_worker(tmp_path):
    project = copy_project(tmp_path)
    (project / "data/01_raw/dopesheet_short.csv").write_text("STEP,lr\n0,1e30\n20,1e30\n")
    result = kedro(project, "run", "--pipeline", "sweep", "--env", "test", *DASK, "--runner-params", "n_workers=2")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert "node 'coverage_0" in errors[0] and ".train_seeds' failed on Dask worker tcp://" in errors[0]
    assert "TrainingDiverged: coverage " in errors[0] and ": loss term" in errors[0]
