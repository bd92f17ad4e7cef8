"""The label budget map (SPEC §9b): per-label solver, grid validation, per-cell summary, binding analysis, heat
maps, and a tiny map end to end through the real catalog (conf/test: 2 × 2 cells × 1 seed, 201-step schedule)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from ex_coverage.budget_grid import check_budget_reachable, parse_budget_grid
from ex_coverage.science.budget import (
    CRITERIA,
    BudgetGrid,
    binding,
    binding_overview,
    bindings,
    cell_namespace,
    cheapest_cell,
    check_cells_fresh,
    present_criteria,
    solve_cell,
    summarise_cells,
)
from ex_coverage.science.budget_fit import BUDGET_FIT_COLUMNS
from ex_coverage.science.budget_plots import cell_positions, plot_budget_map
from ex_coverage.science.colour import rgb_grid
from ex_coverage.science.errors import StaleResultsError
from ex_coverage.science.labels import (
    CoverageError,
    base_label_probabilities,
    coverage_at,
    label_probabilities,
    solve_label_multipliers,
    solve_multiplier,
)
from ex_coverage.sweep import SweepConfigError
from tests.conftest import SEED_LABELS
from tests.project import SEQUENTIAL, bootstrap, copy_project, kedro_in_process

#: One pytest-xdist worker runs this module: the tiny map (module fixture) is built once.
pytestmark = pytest.mark.xdist_group("budget_map")

CRITERION = {c.column: c for c in CRITERIA}


@pytest.fixture(scope="module")
def base():
    return base_label_probabilities(rgb_grid(10), SEED_LABELS)


# --- the per-label solver -------------------------------------------------------------------------------------


@pytest.mark.parametrize("label, target", [("red", 0.0003), ("red", 0.003), ("vibrant", 0.001), ("vibrant", 0.01)])
def test_one_label_solver_hits_that_labels_own_coverage(base, label, target):
    solution = solve_label_multipliers({label: target}, base)[label]
    own = label_probabilities({label: base[label]}, solution.multiplier)[label].mean()
    assert own == pytest.approx(target, rel=1e-9)
    assert solution.expected_coverage == pytest.approx(target, rel=1e-9)


def test_one_label_solver_recovers_the_sweeps_shared_multiplier(base):
    """At the sweep's m, each label's own coverage solves back to m: the per-label solver is the sweep's, per label."""
    m = solve_multiplier(0.002, base).multiplier
    own = {name: float(p.mean()) for name, p in label_probabilities(base, m).items()}
    assert own["red"] + own["vibrant"] > 0.002 > max(own.values())  # a colour can carry both labels
    solved = solve_label_multipliers(own, base)
    assert solved["red"].multiplier == pytest.approx(m, rel=1e-9)
    assert solved["vibrant"].multiplier == pytest.approx(m, rel=1e-9)


def test_a_cell_scales_each_label_by_its_own_multiplier(base):
    cell = solve_cell(0.001, 0.0, base)
    assert cell["multipliers"]["vibrant"] == 0.0 and cell["multipliers"]["red"] > 0
    probabilities = label_probabilities(base, cell["multipliers"])
    assert not probabilities["vibrant"].any()
    assert cell["expected_coverage"] == pytest.approx(0.001, rel=1e-9)  # only red labels: any-label = red-only
    both = solve_cell(0.001, 0.002, base)
    assert 0.002 < both["expected_coverage"] < 0.003
    assert both["expected_coverage"] == pytest.approx(coverage_at(base, both["multipliers"]))
    assert both["label_coverages"] == {"red": 0.001, "vibrant": 0.002} and not both["saturated"]


def test_per_label_solver_errors_name_the_label(base):
    with pytest.raises(CoverageError, match=r"red-only coverage 0\.95 is not reachable"):
        solve_label_multipliers({"red": 0.95}, base)
    with pytest.raises(CoverageError, match=r"unknown labels \['blue'\]"):
        solve_label_multipliers({"blue": 0.001}, base)
    with pytest.raises(CoverageError, match=r"no multiplier for labels \['vibrant'\]"):
        label_probabilities(base, {"red": 1.0})


def test_one_multiplier_for_all_labels_is_unchanged(base):
    shared = label_probabilities(base, 2.5)
    mapped = label_probabilities(base, {"red": 2.5, "vibrant": 2.5})
    for name in base:
        assert np.array_equal(shared[name], mapped[name])


# --- the grid -------------------------------------------------------------------------------------------------


def test_grid_cells_and_namespaces():
    grid = parse_budget_grid({"red_coverages": [0.001, 0], "vibrant_coverages": [0, 0.0005], "seeds": [2, 0]})
    assert grid == BudgetGrid((0.0, 0.001), (0.0, 0.0005), (2, 0))
    assert list(grid.cells) == ["budget_r0_v0", "budget_r0_v0p0005", "budget_r0p001_v0", "budget_r0p001_v0p0005"]
    assert grid.cells["budget_r0p001_v0p0005"] == (0.001, 0.0005)
    assert cell_namespace(0.0001, 5e-05) == "budget_r0p0001_v0p00005"


@pytest.mark.parametrize(
    "params, message",
    [
        ({"red_coverages": [0, -0.1], "vibrant_coverages": [0], "seeds": [0]}, r"budget_map\.red_coverages\[1\] = -0\.1 is outside"),
        ({"red_coverages": [0], "vibrant_coverages": [0, "x"], "seeds": [0]}, r"budget_map\.vibrant_coverages\[1\] = 'x' is not a number"),
        ({"red_coverages": [0, 0.001, 0.001], "vibrant_coverages": [0], "seeds": [0]}, r"red_coverages\[2\] = 0\.001 is duplicated"),
        ({"red_coverages": [0.001], "vibrant_coverages": [0], "seeds": [0]}, r"budget_map\.red_coverages must include 0"),
        ({"red_coverages": [0], "vibrant_coverages": [], "seeds": [0]}, r"budget_map\.vibrant_coverages must be a non-empty list"),
        ({"red_coverages": [0], "vibrant_coverages": [0], "seeds": [0, 0]}, r"budget_map\.seeds\[1\] = 0 is duplicated"),
        ({"red_coverages": [0], "vibrant_coverages": [0], "seeds": [0], "seed": 1}, r"unknown key budget_map\.seed \(allowed: red_coverages, vibrant_coverages, seeds\)"),
        ([0, 1], "must be a mapping"),
    ],
)  # fmt: skip
def test_bad_budget_grids_name_the_file_and_key(params, message):
    with pytest.raises(SweepConfigError, match=r"parameters_budget_map\.yml: .*" + message):
        parse_budget_grid(params)


def test_unreachable_label_coverage_is_refused_before_training(base):
    grid = parse_budget_grid({"red_coverages": [0], "vibrant_coverages": [0, 0.999], "seeds": [0]})
    with pytest.raises(SweepConfigError, match=r"budget_map\.vibrant_coverages entry 0\.999: vibrant-only coverage"):
        check_budget_reachable(grid, base)


# --- per-cell summary, cheapest cell, binding analysis ------------------------------------------------------------

REDS, VIBRANTS = (0.0, 0.001, 0.01), (0.0, 0.002, 0.02)


def synthetic_runs(rule, seeds=3, extra_flags=()) -> pd.DataFrame:
    """Runs on a 3 × 3 map whose flags follow ``rule(red, vibrant, seed) -> {flag: bool}``."""
    rows = []
    for red in REDS:
        for vibrant in VIBRANTS:
            for seed in range(seeds):
                flags = rule(red, vibrant, seed)
                rows.append(
                    {
                        "red_coverage": red,
                        "vibrant_coverage": vibrant,
                        "seed": seed,
                        "labelled_red": int(red * 1000) + seed,
                        "labelled_vibrant": int(vibrant * 1000),
                        "labelled_any": int(red * 1000) + seed + int(vibrant * 1000),
                        "counted_samples": 1000,
                        "expected_coverage": red + vibrant,
                        "multiplier_red": red * 100,
                        "multiplier_vibrant": vibrant * 100,
                        **{c: flags.get(c, False) for c in ("effective", "pass_m1", "pass_m2", "pass_m3", "pass_m4", *extra_flags)},
                    }
                )  # fmt: skip
    return pd.DataFrame(rows)


def red_and_vibrant(red, vibrant, seed):
    m1, m2 = red >= 0.001, vibrant >= 0.002 and (vibrant > 0.002 or seed > 0)  # M2 reaches 2/3 at vibrant 0.002
    return {"pass_m1": m1, "pass_m2": m2, "pass_m3": red > 0 or vibrant > 0, "pass_m4": True, "effective": m1 and m2}


def test_summary_has_the_fixed_columns_rates_bounds_and_pooled_realised_coverage():
    summary = summarise_cells(synthetic_runs(red_and_vibrant), samples_per_run=1000)
    leading = ["red_coverage", "vibrant_coverage", "realised_red", "realised_vibrant", "runs", "effective_rate"]
    assert list(summary.columns[:10]) == [*leading, "m1_rate", "m2_rate", "m3_rate", "m4_rate"]
    assert summary.columns[10] == "expected_labels"
    assert len(summary) == 9 and (summary["runs"] == 3).all()
    cell = summary[(summary["red_coverage"] == 0.001) & (summary["vibrant_coverage"] == 0.002)].iloc[0]
    assert cell["realised_red"] == pytest.approx((1 + 2 + 3) / 3000)  # labels pooled over seeds / samples counted
    assert cell["m2_rate"] == pytest.approx(2 / 3) and cell["effective_rate"] == pytest.approx(2 / 3)
    assert cell["effective_rate_low"] == pytest.approx(0.2077, abs=1e-4)  # Wilson 95 % for 2 of 3
    assert cell["effective_rate_high"] == pytest.approx(0.9385, abs=1e-4)
    assert cell["expected_labels"] == pytest.approx(0.003 * 1000)


def test_criteria_from_another_branch_appear_in_the_fixed_order_when_their_flags_exist():
    runs = synthetic_runs(red_and_vibrant, extra_flags=("pass_m5", "structured", "controllable"))
    summary = summarise_cells(runs, samples_per_run=1000)
    rates = [
        "effective_rate",
        "structured_rate",
        "controllable_rate",
        "m1_rate",
        "m2_rate",
        "m3_rate",
        "m4_rate",
        "m5_rate",
    ]
    assert list(summary.columns[5:14]) == [*rates, "expected_labels"]
    assert [c.column for c in present_criteria(["pass_m2", "effective", "x"])] == ["effective", "pass_m2"]


def test_cheapest_cell_is_the_fewest_expected_labels_reaching_the_rate():
    summary = summarise_cells(synthetic_runs(red_and_vibrant), samples_per_run=1000)
    cheapest = cheapest_cell(summary, "effective_rate", 0.8)
    assert (cheapest["red_coverage"], cheapest["vibrant_coverage"]) == (0.001, 0.02)  # 0.002 only reaches 2/3
    assert cheapest["expected_labels"] == pytest.approx(21.0) and cheapest["rate"] == 1.0
    assert cheapest_cell(summary, "effective_rate", 0.6)["vibrant_coverage"] == 0.002
    assert cheapest_cell(summary.assign(effective_rate=0.0), "effective_rate", 0.8) is None


def test_binding_says_which_label_each_criterion_needs():
    summary = summarise_cells(synthetic_runs(red_and_vibrant), samples_per_run=1000)
    found = {b.criterion: b for b in bindings(summary, 0.8)}
    assert {k: b.verdict for k, b in found.items()} == {
        "effective": "both",
        "pass_m1": "red",
        "pass_m2": "vibrant",
        "pass_m3": "either",
        "pass_m4": "neither",
    }
    assert (found["effective"].min_red, found["effective"].min_vibrant) == (0.001, 0.02)
    assert found["pass_m1"].red_alone == 0.001 and found["pass_m1"].vibrant_alone is None
    assert (found["pass_m1"].red_everywhere, found["pass_m1"].vibrant_everywhere) == (0.001, None)
    assert (found["pass_m2"].red_everywhere, found["pass_m2"].vibrant_everywhere) == (None, 0.02)
    assert found["pass_m4"].red_everywhere == 0.0 and found["effective"].red_everywhere is None
    assert "from red 0.001 on it reaches it at every vibrant coverage" in found["pass_m1"].sentence
    assert found["pass_m2"].vibrant_alone == 0.02
    assert (found["pass_m3"].red_alone, found["pass_m3"].vibrant_alone) == (0.001, 0.002)
    assert (
        "**red labels bind**" in found["pass_m1"].sentence
        and "from a red-only coverage of 0.001" in found["pass_m1"].sentence
    )
    assert "**vibrant labels bind**" in found["pass_m2"].sentence and "0.02" in found["pass_m2"].sentence
    assert "neither label binds" in found["pass_m4"].sentence
    overview = binding_overview(list(found.values()))
    assert "Red labels alone bind: M1 anchor alignment." in overview
    assert "Vibrant labels alone bind: M2 planarity of the hue ring." in overview
    assert "Both labels bind: effective (structured and controllable)." in overview
    assert "No labels are needed for: M4 reconstruction." in overview


def test_binding_of_a_criterion_no_cell_reaches():
    summary = summarise_cells(synthetic_runs(lambda r, v, s: {"pass_m1": r == 0.01 and s == 0}), samples_per_run=1000)
    result = binding(summary, CRITERION["pass_m1"], 0.8)
    assert result.verdict == "unreached" and result.min_red is None and result.cheapest is None
    assert "best 0.33 at red 0.01, vibrant 0" in result.sentence


# --- staleness, figures -------------------------------------------------------------------------------------------


def test_stale_budget_runs_are_refused_naming_the_cell():
    runs = pd.DataFrame(
        {"red_coverage": [0.001, 0.0], "vibrant_coverage": [0.0, 0.0], "coverage": [0.001, 0.0], "seed": [0, 1],
         "fingerprint": ["old", "ok"]}
    )  # fmt: skip
    with pytest.raises(
        StaleResultsError, match=r"1 of 2 budget-map runs .* red 0\.001 vibrant 0 seed 0 \(cells budget_r0p001_v0\)"
    ):
        check_cells_fresh(runs, lambda label_coverages, coverage, seed: "ok")


def test_axis_positions_are_log_spaced_with_zero_one_step_below():
    centres, edges = cell_positions([0.0, 0.0001, 0.001, 0.01])
    np.testing.assert_allclose(centres, [-5, -4, -3, -2])
    np.testing.assert_allclose(edges, [-5.5, -4.5, -3.5, -2.5, -1.5])


def test_heat_maps_one_panel_per_criterion_with_the_cheapest_cell_outlined():
    summary = summarise_cells(synthetic_runs(red_and_vibrant), samples_per_run=1000)
    figure = plot_budget_map(summary, 0.8, cheapest_cell(summary, "effective_rate", 0.8))
    panels = [ax for ax in figure.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in panels] == [c.title for c in CRITERIA if c.rate in summary.columns]
    outlines = [p for p in panels[0].patches if isinstance(p, Rectangle)]
    assert len(outlines) == 1
    x, y = outlines[0].get_xy()
    assert x < np.log10(0.02) < x + outlines[0].get_width() and y < np.log10(0.001) < y + outlines[0].get_height()
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["0", "0.002", "0.02"]


# --- end to end ------------------------------------------------------------------------------------------------

CELLS = ("budget_r0_v0", "budget_r0_v0p01", "budget_r0p005_v0", "budget_r0p005_v0p01")


@pytest.fixture(scope="module")
def tiny_map(tmp_path_factory):
    """A project copy on which `kedro run --pipeline budget_map --env test` has run (2 × 2 cells × 1 seed), in-process
    and sequential (tests/project.py): what the map checks does not depend on the runner."""
    project = copy_project(tmp_path_factory.mktemp("budget"))
    result = kedro_in_process(project, "run", "--pipeline", "budget_map", "--env", "test", *SEQUENTIAL)
    assert result.returncode == 0, (result.stdout[-3000:] + result.stderr[-3000:], result.exception)
    return project


def test_tiny_map_end_to_end(tiny_map):
    table = pd.read_csv(tiny_map / "data/08_reporting/budget_map.csv")
    rates = [c.rate for c in CRITERIA if c.rate in table.columns]
    assert {"effective_rate", "m1_rate", "m2_rate", "m3_rate", "m4_rate"} <= set(rates)
    fixed = ["red_coverage", "vibrant_coverage", "realised_red", "realised_vibrant", "runs", *rates, "expected_labels"]
    assert list(table.columns[: len(fixed)]) == fixed
    assert sorted(zip(table["red_coverage"], table["vibrant_coverage"])) == [
        (0, 0),
        (0, 0.01),
        (0.005, 0),
        (0.005, 0.01),
    ]
    assert (table["runs"] == 1).all()
    assert (table.loc[table["red_coverage"] == 0, "realised_red"] == 0).all()
    assert (table.loc[table["vibrant_coverage"] == 0, "realised_vibrant"] == 0).all()
    assert table.loc[table["red_coverage"] > 0, "realised_red"].between(0.003, 0.007).all()
    assert table.loc[table["vibrant_coverage"] > 0, "realised_vibrant"].between(0.007, 0.013).all()
    both = table[(table["red_coverage"] > 0) & (table["vibrant_coverage"] > 0)].iloc[0]
    assert 0.01 < both["expected_labels"] / (201 * 64) < 0.015  # any-label coverage: at most red + vibrant
    report = (tiny_map / "data/08_reporting/budget_map.md").read_text()
    assert "## Which label binds which criterion" in report and "![Budget map](budget_map.png)" in report
    fit = pd.read_csv(tiny_map / "data/08_reporting/budget_fit.csv")
    assert list(fit.columns) == BUDGET_FIT_COLUMNS
    assert {"effective", "m1", "m2", "m3", "m4"} <= set(fit["criterion"]) and (fit["runs"] == 1).all()
    assert fit[BUDGET_FIT_COLUMNS[1:-1]].isna().all().all()  # one cell with both labels: no surface, empty cells
    assert "**Fitted surface (effective): no cheapest point** — 1 cell(s) with both labels" in report
    assert "## Fitted surfaces (SPEC §9b, §9c)" in report
    assert (tiny_map / "data/08_reporting/budget_map.png").read_bytes()[:4] == b"\x89PNG"
    for cell in CELLS:
        assert (tiny_map / "data/06_models" / cell / "seed_0.pt").exists()


def test_each_cell_trains_with_its_own_two_multipliers(tiny_map):
    import json

    multiplier = json.loads((tiny_map / "data/05_model_input/budget_r0p005_v0/label_multiplier.json").read_text())
    assert multiplier["multipliers"]["vibrant"] == 0 and multiplier["multipliers"]["red"] > 0
    record = json.loads((tiny_map / "data/07_model_output/budget_r0p005_v0/run_record_seed_0.json").read_text())
    assert record["multipliers"] == multiplier["multipliers"]
    assert record["label_coverages"] == record["configuration"]["label_coverages"] == {"red": 0.005, "vibrant": 0.0}
    assert record["label_counts"]["vibrant"] == 0 and record["label_counts"]["red"] > 0


def test_tiny_map_resumes_only_what_is_missing(tiny_map, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(tiny_map, project)
    reference = (project / "data/08_reporting/budget_map.csv").read_bytes()
    kept = project / "data/06_models/budget_r0_v0p01/seed_0.pt"
    before = kept.stat().st_mtime_ns
    shutil.rmtree(project / "data/06_models/budget_r0p005_v0")
    (project / "data/08_reporting/budget_map.csv").unlink()
    result = kedro_in_process(
        project, "run", "--pipeline", "budget_map", "--env", "test", *SEQUENTIAL, "--only-missing-outputs"
    )
    assert result.returncode == 0, (result.stdout[-3000:] + result.stderr[-3000:], result.exception)
    assert "Budget map: 4 cells × 1 seeds" in result.stdout + result.stderr
    assert (project / "data/06_models/budget_r0p005_v0/seed_0.pt").exists()
    assert kept.stat().st_mtime_ns == before
    assert (project / "data/08_reporting/budget_map.csv").read_bytes() == reference


def test_a_cells_model_copied_over_another_cells_is_refused_on_resume(tiny_map, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(tiny_map, project)
    models = project / "data/06_models"
    shutil.copy(models / "budget_r0_v0p01/seed_0.pt", models / "budget_r0p005_v0/seed_0.pt")
    result = kedro_in_process(
        project, "run", "--pipeline", "budget_map", "--env", "test", *SEQUENTIAL, "--only-missing-outputs"
    )
    assert result.returncode == 1, (result.stdout[-3000:] + result.stderr[-3000:], result.exception)
    assert (
        "Error: data/06_models/budget_r0p005_v0/seed_0.pt (budget_r0p005_v0, seed 0): the model file belongs to "
        "red coverage 0, vibrant coverage 0.01 seed 0"
    ) in result.stderr


def test_budget_pipeline_is_namespaced_per_cell_and_file_backed_for_dask(tiny_map, monkeypatch):
    """One namespace per cell (kedro-viz's collapsible groups); every intermediate a catalog file (DaskRunner)."""
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession

    from ex_coverage.pipelines.levels import level_of
    from ex_coverage.runner import DaskRunner
    from ex_coverage.sweep import pipelines_for

    monkeypatch.chdir(tiny_map)
    bootstrap(tiny_map)
    with pipelines_for("test"), KedroSession.create(project_path=tiny_map, env="test") as session:
        catalog = session.load_context().catalog
        pipeline = pipelines["budget_map"]
        assert {level_of(n) for n in pipeline.nodes} - {None} == set(CELLS)
        DaskRunner._check_file_backed(pipeline, catalog)
