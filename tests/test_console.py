"""What `kedro run` prints: progress per level, warnings, a closing summary — and no catalog chatter."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from ex_coverage.progress import LevelProgress
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


def test_tiny_sweep_reports_progress_per_level(console):
    progress = re.findall(r"Level (\d)/2 · (\d)/4 runs · \d+ s elapsed, ~\d+ s left · (coverage_\w+)", console)
    assert [(done, runs) for done, runs, _ in progress] == [("1", "2"), ("2", "4")]
    assert {level for *_, level in progress} == {"coverage_0", "coverage_0p01"}


def test_tiny_sweep_ends_with_the_summary(tiny_sweep, console):
    runs = pd.read_csv(tiny_sweep / "data/08_reporting/coverage_runs.csv")
    summary = console[console.index("── Sweep summary") :].splitlines()
    assert summary[1].startswith("Working window (fitted, effective): ")  # the window, or that ED80 is not estimable
    assert summary[2].startswith("Answer:  ")  # the tiny sweep's c* (none qualifies at 201 steps, or a level)
    runs_line = next(line for line in summary if line.startswith("Runs:    "))
    assert runs_line == (
        f"Runs:    {int(runs['effective'].sum())} of {len(runs)} effective, structured {int(runs['structured'].sum())}, "
        f"controllable {int(runs['controllable'].sum())}"
    )
    assert "Report:  data/08_reporting/report.md" in summary
    figures = next(line for line in summary if line.startswith("Figures: "))
    assert figures.startswith("Figures: data/08_reporting/ ") and "coverage_pass_rate.png" in figures
    assert "Levels:  data/08_reporting/levels/ (a page and figures per coverage level)" in summary
    assert (tiny_sweep / "data/08_reporting/levels/coverage_0p01.md").exists()


def test_warnings_still_reach_the_console(tmp_path):
    """A level beyond label saturation warns; the warning shows in the quiet console, and no summary
    is printed when the run did not write the report. (In-process: the console is the same logging
    configuration, conf/logging.yml, writing to the captured stdout.)"""
    project = copy_project(tmp_path)
    result = kedro_in_process(
        project,
        "run",
        "--env", "test",
        *SEQUENTIAL,
        "--params", "sweep.coverages=[0.1]",
        "--to-nodes", "coverage_0p1.solve_label_multiplier",
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, (output, result.exception)
    assert re.search(r"WARNING\s+coverage 0.1 needs multiplier", output), output
    assert "Sweep summary" not in output and "Loading data from" not in output


def test_progress_counts_levels_and_runs_with_an_estimate():
    ticks = iter([0.0, 10.0, 30.0])
    progress = LevelProgress(3, {"a.train_seeds": 5, "b.train_seeds": 5, "c.train_seeds": 4}, clock=lambda: next(ticks))
    progress.node_finished("a.score_seeds")  # not a training node: ignored
    assert progress.done == 0
    progress.node_finished("a.train_seeds")
    assert progress.level_finished("b", 5) == "Level 2/3 · 10/14 runs · 30 s elapsed, ~15 s left · b"


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


def test_progress_bar_in_a_terminal_counts_levels_and_runs(caplog):
    """With a bar (stdout a terminal) the bar advances instead of one log line per level."""
    with LevelProgress(2, {"a.train_seeds": 3, "b.train_seeds": 3}, bar=True) as progress:
        progress.node_finished("a.train_seeds")
        task = progress._bar.tasks[0]
        assert (task.completed, task.total, task.fields["runs"]) == (1, 2, "3/6")
        progress.node_finished("b.train_seeds")
        assert (task.completed, task.fields["runs"]) == (2, "6/6")
    assert progress._bar is None  # taken down with the block
    assert "Level" not in caplog.text
