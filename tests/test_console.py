"""What `kedro run` prints: progress per level, warnings, a closing summary — and no catalog chatter."""

from __future__ import annotations

import json
import re
import time

import pandas as pd
import pytest

from ex_coverage.progress import SweepProgress, work_of
from ex_coverage.summary import ed80_line, runs_line, sweep_summary, window_line
from tests.conftest import RUN_OUTPUT
from tests.project import SEQUENTIAL, copy_project, kedro_in_process

#: A default sweep's whole console output must fit on one screen.
MAX_LINES = 60
CHATTER = ("Loading data from", "Saving data to", "Running node", "Completed node", "Completed 1 out of")


@pytest.fixture(scope="module")
def console(tiny_sweep):
    return (tiny_sweep / RUN_OUTPUT).read_text()


def test_tiny_sweep_output_is_short_and_free_of_catalog_chatter(console):
    lines = console.splitlines()
    assert len(lines) <= MAX_LINES, console
    assert not [line for line in lines if any(c in line for c in CHATTER)]
    assert "Traceback" not in console and "UserWarning" not in console, console


def test_tiny_sweep_reports_training_scoring_and_reporting_as_they_go(console):
    pattern = r"Training ([\d.]+)/4 runs · other nodes (\d+)/(\d+) · (\d+) s elapsed"
    progress = [(float(runs), int(done), int(total), int(s)) for runs, done, total, s in re.findall(pattern, console)]
    assert len(progress) >= 3, console
    assert progress == sorted(progress)  # runs, nodes and time only go up
    runs, done, total, _ = progress[-1]
    assert (runs, done) == (4, total) and total > 20  # the last line: everything done


def test_tiny_sweep_ends_with_the_summary(tiny_sweep, console):
    runs = pd.read_csv(tiny_sweep / "data/08_reporting/coverage_runs.csv")
    summary = console[console.index("── Sweep summary") :].splitlines()
    assert summary[1].startswith("Working window (fitted, effective): ")  # the window first, then c*
    critical = json.loads((tiny_sweep / "data/08_reporting/critical_coverage.json").read_text())
    assert critical["coverage"] is None  # at 201 steps no level of the tiny sweep passes
    assert summary[2] == "Answer:  no tested coverage reaches a pass rate of 0.8 (highest level 0.01)"
    runs_line = next(line for line in summary if line.startswith("Runs:    "))
    assert runs_line == (
        f"Runs:    {int(runs['effective'].sum())} of {len(runs)} effective, structured {int(runs['structured'].sum())}, "
        f"controllable {int(runs['controllable'].sum())}"
    )
    ed80 = pd.read_csv(tiny_sweep / "data/08_reporting/ed80.csv").set_index("criterion")
    assert ed80.loc["effective", "ed80"] != ed80.loc["effective", "ed80"]  # NaN: no run passes
    assert summary[1] == "Working window (fitted, effective): ED80 not estimable (see the report)"
    assert "Report:  data/08_reporting/report.md" in summary
    figures = next(line for line in summary if line.startswith("Figures: "))
    assert figures.startswith("Figures: data/08_reporting/ ") and "coverage_pass_rate.png" in figures
    assert "Levels:  data/08_reporting/levels/index.md (a page and figures per coverage level)" in summary
    assert (tiny_sweep / "data/08_reporting/levels/coverage_0p01.md").exists()


def test_warnings_still_reach_the_console(tmp_path):
    """A level beyond label saturation warns; the warning shows in the quiet console, and no summary
    is printed when the run did not write the report. (In-process: the console is the same logging
    configuration, conf/logging.yml, writing to the captured stdout.)"""
    project = copy_project(tmp_path)
    (project / "conf/test/parameters_sweep.yml").write_text("sweep:\n  coverages: [0.1]\n  seeds: [0]\n")
    result = kedro_in_process(
        project, "run", "--env", "test", *SEQUENTIAL, "--to-nodes", "levels.coverage_0p1.solve_label_multiplier"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, (output, result.exception)
    assert re.search(r"WARNING\s+coverage 0.1 needs multiplier", output), output
    assert "Sweep summary" not in output and "Loading data from" not in output


class FakeNode:
    def __init__(self, name: str, runs: int = 0, reads_seeds: int = 0) -> None:
        self.name, self.outputs = name, [f"{name}.model_seed_{s}" for s in range(runs)] or [f"{name}_out"]
        self.inputs = [f"level.{what}_seed_{s}" for s in range(reads_seeds) for what in ("model", "run_record")]


def test_progress_counts_runs_step_by_step_and_estimates_what_is_left():
    now = [0.0]
    training = [FakeNode("train_together_1", 6), FakeNode("train_together_2", 4)]
    others = [FakeNode("score_a", reads_seeds=5), FakeNode("score_b", reads_seeds=5)]
    others += [FakeNode(f"node_{k}") for k in range(18)]
    assert [work_of(node) for node in others[:3]] == [5, 5, 1]  # a unit per run read, at least one
    progress = SweepProgress(training + others, workers=2, clock=lambda: now[0])
    assert progress.line() == "Training 0/10 runs · other nodes 0/20 · 0 s elapsed"  # no estimate yet
    now[0] = 10.0
    progress.steps("train_together_1", 6, 500, 2000)  # a quarter of each ensemble's steps in 10 s
    progress.steps("train_together_2", 4, 500, 2000)
    assert progress.runs_trained == 2.5
    # training: 30 s more at this pace; then 28 units of work at 0.22 s each on 2 workers
    assert progress.estimate_left() == pytest.approx(30 + 28 * 0.22 / 2)
    assert progress.line() == "Training 2.5/10 runs · other nodes 0/20 · 10 s elapsed, ~33 s left"
    now[0] = 38.0
    progress.steps("train_together_1", 6, 1900, 2000)
    progress.node_finished(training[0])
    progress.steps("train_together_1", 6, 2000, 2000)  # its last report, after the node: counted once
    assert progress.runs_trained == 6 + 4 * 0.25
    progress.node_finished(training[1])
    assert progress.runs_trained == 10
    now[0] = 41.0
    for node in others[:4]:
        progress.node_finished(node)
    assert progress.estimate_left() == pytest.approx(16 * 0.22 / 2)  # too few nodes yet to tell their pace
    now[0] = 43.0
    for node in others[4:10]:
        progress.node_finished(node)
    assert progress.estimate_left() == pytest.approx(10 * 5 / 18)  # 18 units in 5 s since training ended
    assert progress.line().startswith("Training 10/10 runs · other nodes 10/20 · 43 s elapsed, ~3 s")


def test_progress_speaks_while_nothing_finishes(caplog):
    """Without a terminal a line comes every few seconds even while one long node runs."""
    caplog.set_level("INFO", logger="ex_coverage.progress")
    with SweepProgress([FakeNode("train_together_1", 2), FakeNode("report")], bar=False, line_every=0.3):
        time.sleep(1.6)
    lines = [r.getMessage() for r in caplog.records if r.name == "ex_coverage.progress"]
    assert len(lines) >= 3 and lines[0].startswith("Training 0/2 runs · other nodes 0/1")


def test_summary_block_opens_with_the_fitted_window():
    critical = {"coverage": 0.002, "last_failing": 0.0015, "expected_labels": 192.1, "min_pass_rate": 0.8,
                "samples_per_run": 96064}  # fmt: skip
    runs = pd.DataFrame({"effective": [True, False, True], "structured": [True, True, True]})
    ed80 = pd.DataFrame(
        {"criterion": ["structured", "effective"], "model": ["linear", "quadratic"], "ed80": [0.001, 0.0018],
         "ci_low": [0.0008, 0.0012], "ci_high": [0.0013, float("nan")], "gof_p": [0.5, 0.32]}
    )  # fmt: skip
    text = sweep_summary(critical, runs, "data/08_reporting/report.md", ["data/08_reporting/a.png"], ed80=ed80)
    lines = text.splitlines()
    assert lines[2] == (
        "Working window (fitted, effective): from ED80 = 0.0018 [0.0012, unbounded] (0.18 % of samples, ≈ 173 "
        "[115, unbounded] labelled samples per run); no upper edge found (no significant downturn below c = 1); "
        "quadratic logistic fit, goodness of fit p = 0.32. Intervals: 95 % profile likelihood."
    )
    assert lines[3] == "Answer:  c* = 0.002, above 0.0015 ≈ 192 labelled samples per run"
    assert "Runs:    2 of 3 effective, structured 3" in text
    assert "Figures: data/08_reporting/ a.png" in text
    assert ed80_line(None) is None and "ED80" not in sweep_summary(critical, runs, "r.md", [])
    assert ed80_line(ed80.assign(ed80=float("nan"))) == "ED80:    not estimable for effective (quadratic fit)"
    assert runs_line(pd.DataFrame({"seed": [0, 1]})) == "Runs:    2"


def test_window_line_flags_extrapolation_other_links_and_a_rejected_fit():
    row = {"criterion": "effective", "model": "quadratic", "ed80": 0.002, "ci_low": 0.0015, "ci_high": 0.003,
           "upper": 0.03, "upper_low": 0.02, "upper_high": 0.05, "gof_p": 0.01, "ed80_probit": 0.0021,
           "ed80_cloglog": 0.0035, "upper_probit": 0.031, "upper_cloglog": 0.029, "ed80_extrapolated": False,
           "upper_extrapolated": True}  # fmt: skip
    text = window_line(row, 100000)
    assert "from ED80 = 0.002 [0.0015, 0.003] (0.2 % of samples, ≈ 200 [150, 300] labelled samples per run) " in text
    assert "[the cloglog link gives 0.0035, outside this interval] to the upper edge 0.03 [0.02, 0.05]" in text
    assert "(3 % of samples, ≈ 3000 [2000, 5000] labelled samples per run) [extrapolated" in text
    assert "probit" not in text and "goodness of fit p = 0.01 (rejected at 5 %" in text


def test_progress_bar_in_a_terminal_counts_runs_and_nodes(caplog):
    """With a bar (stdout a terminal) the bar advances instead of log lines."""
    caplog.set_level("INFO", logger="ex_coverage.progress")
    nodes = [FakeNode("train_together_1", 3), FakeNode("a"), FakeNode("b"), FakeNode("c")]
    with SweepProgress(nodes, bar=True) as progress:
        progress.steps("train_together_1", 3, 100, 200)
        progress._show()
        task = progress._bar.tasks[0]
        assert task.completed == pytest.approx(1.5 / 6)
        progress.node_finished(nodes[0])
        progress.node_finished(nodes[1])
        progress._show()
        assert task.completed == pytest.approx(4 / 6) and "other nodes 1/3" in task.fields["detail"]
    assert not [r for r in caplog.records if r.name == "ex_coverage.progress"]
