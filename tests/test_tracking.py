"""Every sweep, report and refinement is one MLflow run (src/ex_coverage/tracking.py), checked with the real MLflow
and each project copy's own SQLite store: the shared tiny sweep is tracked (tests/conftest.py), and these tests
read its store or work on copies of it."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import time
from pathlib import Path

import pandas as pd
import pytest

from ex_coverage.science.estimate import ED80_COLUMNS, ed80_row, fit_dose_response
from ex_coverage.tracking import (
    Tracker,
    TrackingHooks,
    TrackingSettings,
    config_digest,
    flatten,
    report_metrics,
    runner_name,
)
from tests.project import SEQUENTIAL, TO_REPORT, copy_finished, execute_notebook, kedro_in_process
from tests.test_refine import LOOSE

REPORTING = ("run", "--pipeline", "reporting", "--env", "test", *SEQUENTIAL)
#: A stricter effective threshold than the test environment's: a second configuration of the same runs.
STRICT = "reporting.thresholds.anchor_cos_min=0.99"
ARTIFACTS = {"report.md", "ed80.csv", "coverage_runs.csv", "coverage_summary.csv", "critical_coverage.json"}


def store(project: Path):
    """The MLflow client of a project folder's own store (``mlflow.db`` at its root)."""
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def all_runs(project: Path) -> list:
    """Every run in every experiment of the project's store, deleted ones included, oldest first."""
    from mlflow.entities import ViewType

    client = store(project)
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    runs = client.search_runs(experiments, run_view_type=ViewType.ALL, order_by=["attributes.start_time ASC"])
    return list(runs)


def run_metrics_match_report(run, reporting: Path) -> None:
    """The run's metrics and statements are what the report's files say."""
    ed80 = pd.read_csv(reporting / "ed80.csv")
    critical = json.loads((reporting / "critical_coverage.json").read_text())
    fits = json.loads((reporting / "ed80_fits.json").read_text())
    runs = pd.read_csv(reporting / "coverage_runs.csv")
    summary = pd.read_csv(reporting / "coverage_summary.csv")
    metrics, tags = run.data.metrics, run.data.tags
    effective = ed80.set_index("criterion").loc["effective"]
    if pd.isna(effective["ed80"]):
        assert "ed80" not in metrics and tags["ed80_statement"] == fits["effective"]["reason"]
    else:
        assert metrics["ed80"] == pytest.approx(effective["ed80"], rel=1e-12)
    if critical["coverage"] is None:
        assert "c_star" not in metrics and tags["c_star_statement"].startswith("no tested coverage reaches")
    else:
        assert metrics["c_star"] == critical["coverage"]
    assert metrics["runs"] == len(runs) and metrics["effective_runs"] == runs["effective"].sum()
    for row in summary.itertuples():
        namespace = "coverage_" + f"{row.coverage:g}".replace(".", "p")
        assert metrics[f"pass_rate_{namespace}"] == pytest.approx(row.pass_rate)
    assert metrics["wall_s"] > 0


@pytest.mark.long
def test_the_tiny_sweep_is_one_run_with_the_report_numbers_and_files(tiny_sweep, tmp_path):
    runs = all_runs(tiny_sweep)
    assert len(runs) == 1, [(r.info.run_name, r.info.status) for r in runs]  # no stray runs of the parallel workers
    run = runs[0]
    experiment = store(tiny_sweep).get_experiment(run.info.experiment_id)
    assert experiment.name == "ex_coverage" and run.info.status == "FINISHED" and run.info.run_name == "sweep"
    assert Path(experiment.artifact_location.removeprefix("file://")) == tiny_sweep / "mlartifacts"
    run_metrics_match_report(run, tiny_sweep / "data/08_reporting")
    params, tags = run.data.params, run.data.tags
    assert params["sweep.coverages"] == "[0, 0.01]" and params["training.batch_size"] == "64"
    assert params["reporting.thresholds.anchor_cos_min"] == "0.95" and params["project_version"]
    assert re.fullmatch(r"[0-9a-f]{64}", params["schedule_sha256"])
    fingerprints = pd.read_csv(tiny_sweep / "data/08_reporting/coverage_runs.csv")["fingerprint"]
    assert params["config_digest"] == config_digest(fingerprints)
    assert tags["pipeline"] == "sweep" and tags["environment"] == "test" and tags["runner"] == "SweepRunner"
    assert tags["command"] == "kedro run --pipeline sweep --env test --params training.batch_size=64"
    names = {a.path for a in store(tiny_sweep).list_artifacts(run.info.run_id)}
    assert ARTIFACTS | {"coverage_pass_rate.png", "coverage_metrics.png"} <= names
    assert not any(name.startswith("coverage_0") for name in names)  # a level's pages stay in data/
    logged = Path(store(tiny_sweep).download_artifacts(run.info.run_id, "report.md", str(tmp_path)))
    assert logged.read_bytes() == (tiny_sweep / "data/08_reporting/report.md").read_bytes()


@pytest.mark.long
def test_a_report_under_another_threshold_is_a_second_run_with_its_own_numbers(tiny_sweep, tmp_path, monkeypatch):
    project = copy_finished(tiny_sweep, tmp_path / "project", tracking=True)
    result = kedro_in_process(project, *REPORTING, "--params", LOOSE, *TO_REPORT)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    first, second = all_runs(project)
    assert second.info.status == "FINISHED" and second.info.run_name == "reporting"
    assert second.data.params["reporting.thresholds.anchor_cos_min"] == "0.5"
    assert first.data.params["reporting.thresholds.anchor_cos_min"] == "0.95"
    run_metrics_match_report(second, project / "data/08_reporting")
    # under the loose thresholds every run passes: another answer than the tiny sweep's
    assert second.data.metrics["effective_runs"] == 4 and first.data.metrics["effective_runs"] == 0
    assert "c_star" in second.data.metrics and "c_star" not in first.data.metrics
    assert first.data.params["config_digest"] == second.data.params["config_digest"]  # the same trained runs
    assert f"Tracked: MLflow run {second.info.run_id[:8]} (reporting)" in result.stdout
    assert len(all_runs(tiny_sweep)) == 1  # the copy logs to its own store

    # notebooks/compare_runs.ipynb shows the two configurations: a figure, and the thresholds that differ
    monkeypatch.setenv("KEDRO_ENV", "test")
    outputs = execute_notebook("compare_runs.ipynb", project)
    assert any("image/png" in o.get("data", {}) for o in outputs)
    differing = [o["data"]["text/html"] for o in outputs if o.output_type == "execute_result"][-1]
    assert "reporting.thresholds.anchor_cos_min" in differing and "0.95" in differing and "0.5" in differing


@pytest.mark.long
def test_a_refinement_is_one_run_with_its_rounds_as_steps(tiny_sweep, tmp_path):
    project = copy_finished(tiny_sweep, tmp_path / "project", tracking=True)
    result = kedro_in_process(project, "refine", "--env", "test", *SEQUENTIAL, "--budget", "1", "--params", LOOSE)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    rounds = len(re.findall(r"refine: round \d+", result.stdout))
    assert rounds >= 1
    sweep, refine = all_runs(project)  # the three Kedro sessions of the command are one run
    assert sweep.info.run_name == "sweep"  # the tiny sweep's, copied with the store
    assert refine.info.run_name == "refine" and refine.info.status == "FINISHED"
    assert refine.data.tags["command"].startswith("kedro refine") and refine.data.tags["pipeline"] == "refine"
    history = store(project).get_metric_history(refine.info.run_id, "runs")
    by_step = {m.step: m.value for m in history}
    assert sorted(by_step) == list(range(rounds + 1))  # step 0: before the first round
    assert by_step[0] == 4 and by_step[rounds] == 4 + 1
    run_metrics_match_report(refine, project / "data/08_reporting")
    assert ARTIFACTS <= {a.path for a in store(project).list_artifacts(refine.info.run_id)}
    assert refine.data.params["config_digest"] != sweep.data.params["config_digest"]  # the runs it added


@pytest.mark.long
def test_an_unreachable_server_costs_one_warning_not_the_report(tiny_sweep, tmp_path, monkeypatch):
    project = copy_finished(tiny_sweep, tmp_path / "project", tracking=True)
    (project / "data/08_reporting/report.md").unlink()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    result = kedro_in_process(project, *REPORTING, *TO_REPORT)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert (project / "data/08_reporting/report.md").exists()
    records = re.findall(r"Tracking skipped: MLflow store (\S+): ", result.stdout + result.stderr)
    assert records == [uri], result.stdout[-3000:]
    assert "Connection refused" in result.stdout and "Tracked:" not in result.stdout
    assert len(all_runs(project)) == 1  # the tiny sweep's run only; nothing went to the local store either

    # within seconds: the store's answer is awaited once, without MLflow's retries with backoff
    started = time.perf_counter()
    tracker = Tracker(TrackingSettings(True, uri, "ex_coverage"), "reporting", {})
    assert not tracker.ready() and tracker.off
    assert time.perf_counter() - started < 10
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # the limits applied to the probe only


@pytest.mark.long
def test_a_failing_run_is_recorded_as_failed_with_its_parameters(tiny_sweep, tmp_path):
    project = copy_finished(tiny_sweep, tmp_path / "project", tracking=True)
    report = project / "data/08_reporting/report.md"
    report.unlink()
    report.mkdir()  # the report cannot be saved: the last node fails
    result = kedro_in_process(project, *REPORTING, *TO_REPORT)
    assert result.returncode == 1 and result.stderr.startswith("Error: ")
    failed = all_runs(project)[-1]
    assert failed.info.status == "FAILED" and failed.info.run_name == "reporting"
    assert failed.data.params["reporting.thresholds.anchor_cos_min"] == "0.95"
    assert "report.md" in failed.data.tags["error"] and "wall_s" in failed.data.metrics
    assert len(all_runs(project)) == 2


def test_a_statement_is_a_tag_and_a_number_a_metric():
    """Metrics equal ed80.csv's cells; where the file has none, ``<metric>_statement`` says why."""
    coverage = [1e-3] * 10 + [3e-3] * 10 + [1e-2] * 10
    rising = fit_dose_response(coverage, [True] * 2 + [False] * 8 + [True] * 7 + [False] * 3 + [True] * 10)
    flat = fit_dose_response(coverage, [False] * 30)
    table = pd.DataFrame([ed80_row("effective", rising), ed80_row("structured", flat)], columns=ED80_COLUMNS)
    fits = {"effective": rising.to_dict(), "structured": flat.to_dict()}
    runs = pd.DataFrame({"coverage": coverage, "effective": [True] * 3 + [False] * 27})
    summary = pd.DataFrame({"coverage": [1e-3, 3e-3, 1e-2], "pass_rate": [0.2, 0.7, 1.0]})
    critical = {"coverage": 0.01, "min_pass_rate": 0.8}
    metrics, tags = report_metrics(table, fits, critical, runs, summary)
    assert metrics["ed80"] == table.loc[0, "ed80"] and metrics["ed80_ci_low"] == table.loc[0, "ci_low"]
    assert metrics["c_star"] == 0.01 and metrics["runs"] == 30 and metrics["effective_runs"] == 3
    assert metrics["pass_rate_coverage_0p003"] == 0.7 and metrics["pass_rate_coverage_0p01"] == 1.0
    assert "upper_edge" not in metrics and tags["upper_edge_statement"].startswith("no significant downturn")
    assert "ed80_structured" not in metrics and tags["ed80_structured_statement"] == flat.reason
    assert all(math.isfinite(v) for v in metrics.values())
    _, none = report_metrics(table, fits, {"coverage": None, "min_pass_rate": 0.8}, runs, summary)
    assert none["c_star_statement"] == "no tested coverage reaches a pass rate of 0.8"


def test_the_store_is_found_from_the_project_root_and_mlflow_tracking_uri_overrides(tmp_path, monkeypatch):
    config = {"enabled": True, "uri": "sqlite:///mlflow.db", "experiment": "ex_coverage", "credentials": None}
    settings = TrackingSettings.from_config(config, tmp_path / "a")
    assert settings.uri == f"sqlite:///{tmp_path / 'a' / 'mlflow.db'}"
    assert settings.artifact_location == (tmp_path / "a" / "mlartifacts").as_uri()
    assert TrackingSettings.from_config(config, tmp_path / "b").uri != settings.uri  # two folders, two stores
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    server = TrackingSettings.from_config(config, tmp_path / "a")
    assert server.uri == "http://127.0.0.1:5000" and server.artifact_location is None
    with pytest.raises(Exception, match=r"unknown key 'url'"):
        TrackingSettings.from_config({**config, "url": "x"}, tmp_path)


def test_switched_off_nothing_is_tracked(tmp_path):
    from kedro.pipeline import Pipeline, node

    hooks = TrackingHooks()
    hooks.settings = TrackingSettings(False, f"sqlite:///{tmp_path}/mlflow.db", "ex_coverage")
    pipeline = Pipeline([node(lambda x: x, "x", "report")])
    hooks.before_pipeline_run({"pipeline_names": ["reporting"]}, pipeline, None)
    assert hooks.tracker is None and not (tmp_path / "mlflow.db").exists()


def test_the_budget_map_is_tracked_with_its_cheapest_point():
    from kedro.pipeline import Pipeline, node

    from ex_coverage.tracking import budget_metrics, tracked

    assert tracked(Pipeline([node(len, "budget_runs", "budget_map")]))
    assert not tracked(Pipeline([node(len, "schedule", "model_seed_0")]))
    cheapest = {"red_coverage": 0.005, "vibrant_coverage": 0.0, "expected_labels": 480.3, "rate": 1.0, "runs": 3}
    assert budget_metrics(None, {"cheapest": cheapest}) == {
        "cheapest_labels": 480.3,
        "cheapest_red": 0.005,
        "cheapest_vibrant": 0.0,
    }
    fitted = pd.DataFrame(
        [
            {"criterion": "structured", "cheapest_labels": 90.0, "cheapest_labels_low": 50.0},
            {"criterion": "effective", "cheapest_labels": 300.0, "cheapest_labels_low": 200.0, "cheapest_red": 4e-4},
            {"criterion": "m4", "cheapest_labels": float("nan")},
        ]
    )
    # the fitted surface's answer for effective; the cheapest cell only without a fitted table
    assert budget_metrics(fitted, {"cheapest": cheapest}) == {
        "cheapest_labels": 300.0,
        "cheapest_labels_low": 200.0,
        "cheapest_red": 4e-4,
    }
    assert budget_metrics(fitted.iloc[[2]], {"cheapest": cheapest}) == {}  # no contour: nothing logged
    assert budget_metrics(None, {"cheapest": None}) == {}


def test_flattened_params_and_runner_names():
    assert flatten({"a": {"b": 1, "c": [0, 0.5]}, "d": "x", "e": {}}) == {
        "a.b": "1",
        "a.c": "[0, 0.5]",
        "d": "x",
        "e": "{}",
    }
    assert runner_name("<ex_coverage.runner.SweepRunner object at 0x7f>") == "SweepRunner"
