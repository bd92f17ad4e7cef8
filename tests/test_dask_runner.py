"""DaskRunner on a 2-worker LocalCluster behind TLS: same results as the local runners, resume, clear errors
from workers.

The runs are the project's `kedro run` in-process (tests/project.py): the client side is the same CLI, hooks and
runner, and the nodes run in the cluster's own worker processes. The runs share one cluster.
"""

from __future__ import annotations

import re
import shutil

import pytest

from tests.conftest import ON_FORKSERVER
from tests.project import TO_REPORT, copy_project, kedro_in_process
from tests.test_tracking import all_runs

#: One pytest-xdist worker runs this module: one cluster (module fixture), whose workers fork from the forkserver
#: that SweepRunner's in-process runs use too.
pytestmark = ON_FORKSERVER

distributed = pytest.importorskip("distributed")

DASK = ("--runner", "ex_coverage.runner.DaskRunner")


@pytest.fixture(scope="module")
def forked_workers():
    """Dask starts its worker processes from SweepRunner's forkserver, which has imported torch, Lightning and the
    project, instead of spawning them: each spawned worker would import them again (seconds of CPU in a suite that
    shares two cores). Dask's own stack profiler is off for the same reason."""
    import dask

    from ex_coverage.runner import start_worker_server

    start_worker_server()  # or the one this process already runs
    forked = {"distributed.worker.multiprocessing-method": "forkserver", "distributed.worker.profile.enabled": False}
    with dask.config.set(forked):
        yield


@pytest.fixture(scope="module")
def secure_cluster(forked_workers):
    """A LocalCluster that only accepts TLS clients holding the cluster's (temporary) credentials."""
    from distributed.security import Security

    security = Security.temporary()
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, security=security, protocol="tls://"
    ) as local:
        yield local, security


@pytest.fixture(scope="module")
def runner_params(secure_cluster, tmp_path_factory) -> str:
    """``--runner-params`` for the secured cluster: its address and the client's credentials as PEM files."""
    cluster, security = secure_cluster
    folder = tmp_path_factory.mktemp("credentials")
    credentials = {}
    for name in ("tls_ca_file", "tls_client_cert", "tls_client_key"):  # PEM text in memory: give the runner files
        (folder / f"{name}.pem").write_text(getattr(security, name) or security.tls_client_cert)
        credentials[name] = folder / f"{name}.pem"
    return ",".join([f"address={cluster.scheduler_address}", *(f"{k}={v}" for k, v in credentials.items())])


def test_a_secured_cluster_runs_the_sweep_resumes_and_refuses_clients_without_credentials(
    tmp_path, secure_cluster, runner_params, request
):
    """The sweep as a user runs it on a cluster behind TLS (up to its report) gives the local runner's results; a
    resume retrains only what is missing; clients without the credentials are refused. (The shared tiny sweep is
    asked for once this sweep has run: it is built meanwhile.)"""
    from distributed.security import Security

    cluster, security = secure_cluster
    assert cluster.scheduler_address.startswith("tls://")
    project = copy_project(tmp_path, tracking=True)
    with (
        distributed.Client(cluster.scheduler_address, security=security, timeout=5) as watcher,
        distributed.get_task_stream(watcher) as stream,
    ):
        result = kedro_in_process(
            project, "run", "--pipeline", "sweep", "--env", "test", *DASK, "--runner-params", runner_params, *TO_REPORT
        )
    assert result.returncode == 0, (result.stdout[-3000:] + result.stderr[-3000:], result.exception)
    # the two ensembles train at the same time, one on each worker (not queued one behind the other)
    training = [task for task in stream.data if task["key"].startswith("train_together_")]
    assert len(training) == 2 and training[0]["worker"] != training[1]["worker"], training
    (first,), (second,) = ([s for s in task["startstops"] if s["action"] == "compute"] for task in training)
    assert first["start"] < second["stop"] and second["start"] < first["stop"], training
    tiny_sweep = request.getfixturevalue("tiny_sweep")
    for path in ("data/08_reporting/coverage_runs.csv", "data/06_models/coverage_0p01/seed_1.pt"):
        assert (project / path).read_bytes() == (tiny_sweep / path).read_bytes(), path

    (project / "data/08_reporting/report.md").unlink()
    shutil.rmtree(project / "data/06_models/coverage_0")
    before = (project / "data/06_models/coverage_0p01/seed_1.pt").stat().st_mtime_ns
    resumed = kedro_in_process(
        project, "run", "--pipeline", "sweep", "--env", "test", *DASK, "--runner-params", runner_params,
        "--only-missing-outputs", *TO_REPORT,
    )  # fmt: skip
    assert resumed.returncode == 0, (resumed.stdout[-3000:], resumed.exception)
    assert (project / "data/06_models/coverage_0/seed_0.pt").exists() and (
        project / "data/08_reporting/report.md"
    ).exists()
    assert (project / "data/06_models/coverage_0p01/seed_1.pt").stat().st_mtime_ns == before
    # tracked like the other runners' runs: one MLflow run each, none from the cluster's workers
    runs = all_runs(project)
    assert [(r.info.run_name, r.info.status, r.data.tags["runner"]) for r in runs] == [
        ("sweep", "FINISHED", "DaskRunner")
    ] * 2

    plain = cluster.scheduler_address.replace("tls://", "tcp://")
    with pytest.raises(OSError):  # no TLS at all: the scheduler drops the connection
        distributed.Client(plain, timeout=5)
    with pytest.raises(OSError, match="TLS certificate does not match"):  # TLS, but not the cluster's CA
        distributed.Client(cluster.scheduler_address, security=Security.temporary(), timeout=5)
    with distributed.Client(cluster.scheduler_address, security=security, timeout=5) as client:
        assert client.submit(sum, [1, 2]).result() == 3


def test_a_failing_node_names_itself_and_its_worker(tmp_path, runner_params):
    project = copy_project(tmp_path)
    (project / "data/01_raw/dopesheet_short.csv").write_text("STEP,lr\n0,1e30\n20,1e30\n")
    result = kedro_in_process(
        project, "run", "--pipeline", "sweep", "--env", "test", *DASK, "--runner-params", runner_params
    )
    assert result.returncode != 0 and not result.traceback, result.exception
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    # the levels train as ensembles on the cluster too: the error names the ensemble's node and the level that diverged
    assert "node 'train_together_" in errors[0] and "' failed on Dask worker tls://" in errors[0]
    assert re.search(r"TrainingDiverged: coverage 0(\.01)?: loss term", errors[0]), errors[0]


def test_without_an_address_the_runner_starts_a_local_cluster_of_its_own(forked_workers):
    """``--runner-params n_workers=1,security=temporary``: a LocalCluster of one worker behind throw-away TLS
    credentials, closed with the run."""
    from ex_coverage.runner import DaskRunner

    client, cluster = DaskRunner(n_workers=1, security="temporary")._client()
    try:
        assert cluster.scheduler_address.startswith("tls://") and len(client.scheduler_info()["workers"]) == 1
        assert client.submit(sum, [1, 2]).result() == 3
    finally:
        client.close()
        cluster.close()


def test_tls_credentials_must_come_together(tmp_path):
    from ex_coverage.runner import DaskRunner
    from ex_coverage.science.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="missing: tls_client_cert, tls_client_key"):
        DaskRunner(tls_ca_file=str(tmp_path))
    with pytest.raises(ConfigurationError, match=r"tls_ca_file=.*nope.pem: no such file"):
        DaskRunner(tls_ca_file=str(tmp_path / "nope.pem"), tls_client_cert="a", tls_client_key="b")
