"""Faults: a disk that fills up mid-save, a kill during reporting, and score tables made from other run records."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from kedro.io import DatasetError

from ex_coverage import datasets
from ex_coverage.lock import LOCK_NAME
from tests.project import SEQUENTIAL, TO_REPORT, bootstrap, copy_finished, data_files, kedro_in_process

REPORTED = (
    "data/08_reporting/report.md",
    "data/08_reporting/coverage_runs.csv",
    "data/08_reporting/coverage_summary.csv",
    "data/08_reporting/critical_coverage.json",
)


@pytest.fixture
def project(tiny_sweep, tmp_path):
    """A private copy of the finished tiny sweep."""
    return copy_finished(tiny_sweep, tmp_path / "project")


def disk_fills_up(monkeypatch, target: str) -> None:
    """Make writes to the temporary file of a save of ``target`` fail half way: half the bytes, then ENOSPC."""
    import fsspec.implementations.local as local

    write = local.LocalFileOpener.write

    def half_then_full(self, payload, *args, **kwargs):
        if f".{target}." not in str(self.path):
            return write(self, payload, *args, **kwargs)
        write(self, payload[: len(payload) // 2])
        self.f.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(local.LocalFileOpener, "write", half_then_full)


def test_a_save_that_fails_half_way_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "table.csv"
    dataset = datasets.AtomicCSVDataset(filepath=str(path))
    dataset.save(pd.DataFrame({"a": [1, 2, 3]}))
    previous = path.read_bytes()
    disk_fills_up(monkeypatch, "table.csv")
    with pytest.raises(DatasetError) as error:
        dataset.save(pd.DataFrame({"a": range(10_000)}))
    assert str(error.value) == (
        f"{path}: could not be saved: No space left on device (disk full: free some space); "
        "the previous file is unchanged. Rerun once fixed."
    )
    assert path.read_bytes() == previous
    assert os.listdir(tmp_path) == ["table.csv"]  # the half-written temporary file is gone


def test_a_run_whose_disk_fills_up_fails_with_one_line_and_keeps_the_previous_report(project, monkeypatch):
    from ex_coverage.cli import cli

    before = data_files(project)
    monkeypatch.chdir(project)
    bootstrap(project)
    disk_fills_up(monkeypatch, "report.md")
    result = CliRunner().invoke(cli, ["run", "--pipeline", "reporting", "--env", "test", *SEQUENTIAL, *TO_REPORT])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert errors[0].endswith(
        "data/08_reporting/report.md: could not be saved: No space left on device (disk full: free some "
        "space); the previous file is unchanged. Rerun once fixed."
    )
    after = data_files(project)
    assert after["data/08_reporting/report.md"] == before["data/08_reporting/report.md"]
    assert not [p for p in (project / "data").rglob("*.partial")]
    assert not (project / "data" / LOCK_NAME).exists()


@pytest.mark.long
def test_a_kill_during_reporting_then_a_rerun_gives_the_uninterrupted_report(project, tiny_sweep):
    shutil.rmtree(project / "data/08_reporting")
    # a process of its own (it is killed); sequential, as the runner does not matter and spawns no workers
    env = {**os.environ, "DO_NOT_TRACK": "1", "MPLBACKEND": "Agg"}
    process = subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--pipeline", "reporting", "--env", "test", *SEQUENTIAL],
        cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while not any(p.is_file() for p in (project / "data/08_reporting").rglob("*")):
        assert process.poll() is None, "reporting ended before it wrote anything"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert (project / "data" / LOCK_NAME).exists()  # a killed run cannot remove its lock
    assert not (project / "data/08_reporting/report.md").exists()
    leftover = project / "data/08_reporting/.report.md.ab12cd34.partial"
    leftover.write_text("half a report")  # as a kill mid-save would leave

    # the rerun in-process (the runner does not matter here): its console is the lock's warnings and cleanup line
    rerun = kedro_in_process(project, "run", "--pipeline", "reporting", "--env", "test", *SEQUENTIAL, *TO_REPORT)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    output = " ".join((rerun.stdout + rerun.stderr).split())
    assert "Taking over a stale run lock" in output and "is no longer running" in output
    assert re.search(r"Removed \d+ temporary file\(s\) left by an interrupted save", output)  # ours, maybe the kill's
    assert not leftover.exists() and not (project / "data" / LOCK_NAME).exists()
    for path in REPORTED:
        assert (project / path).read_bytes() == (tiny_sweep / path).read_bytes(), path


def test_score_tables_made_from_other_run_records_are_refused(project):
    record = project / "data/07_model_output/coverage_0p01/run_record_seed_1.json"
    retrained = json.loads(record.read_text())
    retrained["fingerprint"] = "0123456789abcdef"  # as if retrained by another configuration and not rescored
    record.write_text(json.dumps(retrained))
    before = data_files(project)

    result = kedro_in_process(project, "run", "--pipeline", "reporting", "--env", "test", *SEQUENTIAL)
    assert result.returncode == 1 and not result.traceback, result.exception
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert errors[0].startswith("Error: 1 of 4 runs were trained with a different configuration")
    assert "or were scored from other run records: coverage 0.01 seed 1 (levels coverage_0p01)" in errors[0]
    assert data_files(project) == before


def test_the_run_table_checks_scores_against_the_records_beside_them(tiny_sweep):
    from ex_coverage.pipelines.reporting.nodes import build_run_table
    from ex_coverage.science.errors import StaleResultsError
    from ex_coverage.science.schedule import read_schedule_csv
    from tests.test_config_validation import base_parameters

    parameters = base_parameters("test")
    schedule = read_schedule_csv(tiny_sweep / "data/01_raw/dopesheet_short.csv")
    output = tiny_sweep / "data/07_model_output"
    scores = [pd.read_parquet(output / level / "run_scores.parquet") for level in ("coverage_0", "coverage_0p01")]
    records = [json.loads(p.read_text()) for p in sorted(output.glob("*/run_record_seed_*.json"))]
    arguments = (
        parameters["reporting"]["thresholds"], parameters["training"], parameters["labels"], parameters["grids"], schedule
    )  # fmt: skip

    table = build_run_table(*arguments, *scores, *records)
    assert len(table) == 4 and set(table["fingerprint"]) == {r["fingerprint"] for r in records}
    with pytest.raises(StaleResultsError, match=r"coverage 0 seed 1 \(levels coverage_0\)"):
        build_run_table(*arguments, *scores, *records[:1], {**records[1], "fingerprint": "other"}, *records[2:])
    with pytest.raises(StaleResultsError, match=r"1 of 4 runs .*: coverage 0.01 seed 1"):
        build_run_table(*arguments, *scores, *records[:3])  # a run scored but without its record


def test_results_on_disk_are_untouched_by_reading_while_a_run_holds_the_lock(project):
    """Read-only use (catalog.load in a notebook) needs no lock."""
    from kedro.framework.session import KedroSession

    from ex_coverage.lock import run_lock

    bootstrap(project)
    with run_lock(project / "data", command="kedro run --pipeline sweep"):
        with KedroSession.create(project_path=project, env="test") as session:
            runs = session.load_context().catalog.load("coverage_runs")
    assert len(runs) == 4
    assert Path(project / "data/08_reporting/coverage_runs.csv").exists()
