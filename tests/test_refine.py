"""`kedro refine` end to end on the tiny test sweep, and the refinement levels in the sweep grid."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ex_coverage.pipelines.training.pipeline import create_pipeline as training_pipeline
from ex_coverage.refine import narrow_enough, plan_round
from ex_coverage.science.estimate import fit_dose_response
from ex_coverage.sweep import SweepConfigError, parse_grid, parse_refinement
from tests.project import SEQUENTIAL, TO_REPORT, copy_finished, kedro_in_process

# Loose thresholds under which every run of the tiny sweep at c = 0.01 passes (winding must still be ±1), so
# that the fit says "every run passes" and refinement looks below the lowest level. (Kedro replaces a
# top-level key given in --params as a whole, hence min_pass_rate; absent thresholds take the SPEC's defaults.)
LOOSE = (
    "reporting.min_pass_rate=0.8,reporting.thresholds.anchor_cos_min=0.5,reporting.thresholds.offplane_mean_max=1,"
    "reporting.thresholds.offplane_max_max=1,reporting.thresholds.monotone_fraction_min=0,"
    "reporting.thresholds.sextant_max_dev_deg=180,reporting.thresholds.mse_median_max=1,"
    "reporting.thresholds.mse_max_max=1,reporting.thresholds.suppression_r2_min=-1,refine.seeds_per_level=1"
)


def test_refinement_levels_join_the_grid_with_their_own_seeds():
    grid = parse_refinement(
        {"levels": [{"coverage": 0.0015, "seeds": [5, 6]}, {"coverage": 0.01, "seeds": [7]}]},
        parse_grid({"coverages": [0, 0.01], "seeds": [0, 1]}),
    )
    assert grid.coverages == (0.0, 0.01) and grid.levels == (0.0, 0.0015, 0.01)
    assert grid.seeds_at(0.0015) == (5, 6) and grid.seeds_at(0.01) == (0, 1, 7) and grid.seeds_at(0.0) == (0, 1)
    assert grid.refinement_runs == ((0.0015, 5), (0.0015, 6), (0.01, 7)) and grid.n_runs == 7
    nodes = {n.name: n for n in training_pipeline(grid).nodes}
    assert "levels.coverage_0p0015.train_seeds" in nodes
    assert set(nodes["levels.coverage_0p0015.train_seeds"].outputs) >= {
        "levels.coverage_0p0015.model_seed_5",
        "levels.coverage_0p0015.model_seed_6",
    }


@pytest.mark.parametrize(
    "refinement, message",
    [
        ({"levels": "x"}, "must be a mapping with a list 'levels'"),
        ({"levels": [{"coverage": 1.5, "seeds": [3]}]}, r"refinement.levels\[0\].coverage = 1.5 is outside"),
        ({"levels": [{"coverage": 0.01, "seeds": [1]}]}, "seed 1 is already trained at coverage 0.01"),
        ({"levels": [{"coverage": 0.002, "seeds": []}]}, "seeds must be a non-empty list"),
    ],
)
def test_bad_refinement_entries_are_refused(refinement, message):
    with pytest.raises(SweepConfigError, match=message):
        parse_refinement(refinement, parse_grid({"coverages": [0, 0.01], "seeds": [0, 1]}))


def _window(levels, rates, n=40):
    coverage, passed = [], []
    for c, r in zip(levels, rates):
        k = round(r * n)
        coverage += [c] * n
        passed += [True] * k + [False] * (n - k)
    return fit_dose_response(coverage, passed, checks=False)


def test_a_round_goes_to_the_wider_edge_and_refinement_stops_when_both_are_narrow():
    levels = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
    fit = _window(levels, [0.05, 0.3, 0.8, 0.95, 0.95, 0.7, 0.2])
    grid = parse_grid({"coverages": levels, "seeds": [0, 1]})
    planned = plan_round(fit, grid, runs_left=100, seeds_per_level=8)
    wider = fit.upper if fit.upper.width > fit.ed80.width else fit.ed80
    assert {level["edge"] for level in planned} == {"upper" if wider is fit.upper else "ed80"}
    assert [level["coverage"] for level in planned] == pytest.approx(
        sorted(10 ** np.array([wider.low, wider.x, wider.high])), rel=0.02
    )
    assert all(level["seeds"] == list(range(2, 10)) for level in planned)
    assert not narrow_enough(fit, 0.2) and narrow_enough(fit, max(fit.ed80.width, fit.upper.width) + 1e-9)
    assert not narrow_enough(fit, min(fit.ed80.width, fit.upper.width) + 1e-9)  # one edge narrow is not enough
    # without a downturn only ED80 counts
    linear = fit_dose_response([1e-3] * 10 + [1e-2] * 10, [True] * 2 + [False] * 8 + [True] * 9 + [False])
    assert narrow_enough(linear, linear.ed80.width + 1e-9) and linear.upper is None


def test_refinement_edges_and_rounds_reach_the_run_table():
    grid = parse_refinement(
        {"levels": [{"coverage": 0.0015, "seeds": [5], "edge": "ed80", "round": 1},
                    {"coverage": 0.03, "seeds": [6], "edge": "upper", "round": 2}]},
        parse_grid({"coverages": [0, 0.01], "seeds": [0]}),
    )  # fmt: skip
    assert grid.refinement_edges == ((0.0015, 5, "ed80", 1), (0.03, 6, "upper", 2))
    with pytest.raises(SweepConfigError, match=r"edge must be 'ed80' or 'upper'"):
        parse_refinement({"levels": [{"coverage": 0.002, "seeds": [3], "edge": "middle"}]}, grid)


def test_a_round_uses_fresh_shared_seeds_and_new_namespaces():
    grid = parse_grid({"coverages": [0.001, 0.01], "seeds": [0, 1, 2]})
    fit = fit_dose_response([1e-3] * 10 + [1e-2] * 10, [True] * 2 + [False] * 8 + [True] * 9 + [False])
    levels = plan_round(fit, grid, runs_left=7, seeds_per_level=4)
    assert [level["seeds"] for level in levels] == [[3, 4]] * 3  # 7 runs left: 3 levels × 2 seeds
    assert all(0.001 < level["coverage"] < 0.1 for level in levels)


@pytest.mark.long
def test_refine_end_to_end(tiny_sweep, tmp_path):
    # in-process (tests/project.py): the project's `kedro refine`; the runner does not matter to the rounds
    project = copy_finished(tiny_sweep, tmp_path / "project")
    levels = project / "data/08_reporting/levels"
    earlier_levels = {p: p.stat().st_mtime_ns for p in levels.glob("coverage_*")}
    result = kedro_in_process(project, "refine", "--env", "test", *SEQUENTIAL, "--budget", "2", "--params", LOOSE)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "refine: start — 4 runs; ED80 not estimable (every run passes" in output
    assert "refine: round 1 — +2 runs for ED80 at 0.00251, 0.00501 (seeds 2–2; 2/2 of budget)" in output
    assert "refine: budget spent — 2 of 2 runs added" in output
    recorded = json.loads((project / "data/05_model_input/refinement/test.json").read_text())
    assert recorded == {
        "levels": [
            {"coverage": 0.00251, "edge": "ed80", "round": 1, "seeds": [2]},
            {"coverage": 0.00501, "edge": "ed80", "round": 1, "seeds": [2]},
        ]
    }
    assert not list((project / "conf").rglob("*refinement*"))  # configuration is never written
    assert not (project / "data/05_model_input/refinement/local.json").exists()  # the default sweep keeps its grid
    assert (project / "data/06_models/coverage_0p00251/seed_2.pt").exists()
    runs = pd.read_csv(project / "data/08_reporting/coverage_runs.csv")
    assert len(runs) == 6 and sorted(runs.loc[runs["refinement"], "coverage"]) == [0.00251, 0.00501]
    report = (project / "data/08_reporting/report.md").read_text()
    assert "2 runs came from refinement" in report and "0.00251: seeds 2" in report
    assert "Runs per edge: 2 for ED80, 0 for the upper edge" in report
    assert "| 1 | 6 | ED80 |" in report  # the widths-per-round table: round 1, 6 runs, refined ED80
    # the final report makes the new levels' pages and figures and leaves the earlier levels' as they were
    assert {p: p.stat().st_mtime_ns for p in earlier_levels} == earlier_levels
    assert {"coverage_0p00251.md", "coverage_0p00501_seeds.png"} <= {p.name for p in levels.iterdir()}
    assert "[coverage_0p00251](coverage_0p00251.md)" in (levels / "index.md").read_text()  # the index has them
    ed80 = pd.read_csv(project / "data/08_reporting/ed80.csv")
    assert list(ed80["criterion"]) == ["effective", "structured", "controllable", "m1", "m2", "m3", "m4", "m5"]

    # the refined report is reproduced by the reporting pipeline alone, which reads the refinement file
    (project / "data/08_reporting/report.md").unlink()
    again = kedro_in_process(
        project, "run", "--pipeline", "reporting", "--env", "test", *SEQUENTIAL, "--params", LOOSE,
        *TO_REPORT,
    )  # fmt: skip
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert (project / "data/08_reporting/report.md").read_text() == report

    # the new levels are ordinary sweep levels: resumable, nothing is missing
    models = {p: p.stat().st_mtime_ns for p in (project / "data/06_models").rglob("*.pt")}
    resumed = kedro_in_process(
        project, "run", "--pipeline", "training", "--env", "test", *SEQUENTIAL, "--only-missing-outputs"
    )
    assert resumed.returncode == 0, resumed.exception
    assert {p: p.stat().st_mtime_ns for p in (project / "data/06_models").rglob("*.pt")} == models

    # a refinement run's model is bound to its run like any other: copied over another level's, it is refused
    models = project / "data/06_models"
    (models / "coverage_0p00501/seed_2.pt").write_bytes((models / "coverage_0p00251/seed_2.pt").read_bytes())
    refused = kedro_in_process(
        project, "run", "--pipeline", "training", "--env", "test", *SEQUENTIAL, "--only-missing-outputs"
    )
    assert refused.returncode == 1, (refused.stdout + refused.stderr)[-3000:]
    assert (
        "Error: data/06_models/coverage_0p00501/seed_2.pt (coverage_0p00501, seed 2): the model file belongs to "
        "coverage 0.00251 seed 2"
    ) in refused.stderr


def test_sweep_writes_ed80_and_threshold_sensitivity(tiny_sweep):
    from ex_coverage.science.estimate import ED80_COLUMNS

    ed80 = pd.read_csv(tiny_sweep / "data/08_reporting/ed80.csv")
    assert list(ed80.columns) == ED80_COLUMNS
    assert list(ed80["criterion"]) == ["effective", "structured", "controllable", "m1", "m2", "m3", "m4", "m5"]
    sensitivity = pd.read_csv(tiny_sweep / "data/08_reporting/threshold_sensitivity.csv")
    assert {"anchor_cos_min", "offplane_mean_max"} <= set(sensitivity["threshold"])
    report = (tiny_sweep / "data/08_reporting/report.md").read_text()
    assert report.index("**Working window (fitted, effective)**") < report.index("c\\* ")
    assert "## Threshold sensitivity (effective)" in report and "suppression_r2_min" in report
