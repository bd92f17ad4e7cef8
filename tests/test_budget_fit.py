"""The budget map as a fitted surface (SPEC §9b, §9c): the terms forward selection keeps, the 0.8 contour and its
cheapest point recovered from pass/fail drawn from a known surface, the cost of a labelling, the goodness of fit,
degenerate maps, and an independent statsmodels fit of ``budget_fit.csv``'s terms that passes 0.8 at its cheapest
point."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ex_coverage.science.budget import solve_cell
from ex_coverage.science.budget_fit import (
    BUDGET_FIT_COLUMNS,
    Box,
    LabelCost,
    budget_fit_table,
    cells_of,
    cheapest_point,
    contour,
    design,
    fit_logit,
    fit_surface,
    fit_surfaces,
    goodness_of_fit,
    select_terms,
)
from ex_coverage.science.budget_plots import plot_budget_map
from ex_coverage.science.colour import rgb_grid
from ex_coverage.science.estimate import LOGIT_TARGET
from ex_coverage.science.labels import base_label_probabilities
from tests.conftest import SEED_LABELS

#: The default map's positive coverages (conf/base/parameters_budget_map.yml).
REDS = (0.00003, 0.0001, 0.0003, 0.001)
VIBRANTS = (0.0001, 0.0003, 0.001, 0.003)
SAMPLES = 1501 * 64


@pytest.fixture(scope="module")
def cost():
    return LabelCost(base_label_probabilities(rgb_grid(10), SEED_LABELS), SAMPLES)


def draw(coefficients, terms, seeds, rng, reds=REDS, vibrants=VIBRANTS):
    """(red, vibrant, passed) per run: every cell of the grid × ``seeds`` runs, pass/fail drawn from the surface."""
    red, vibrant = (np.repeat(a.ravel(), seeds) for a in np.meshgrid(reds, vibrants, indexing="ij"))
    eta = design(np.log10(red), np.log10(vibrant), terms) @ np.asarray(coefficients)
    return red, vibrant, rng.random(len(red)) < 1 / (1 + np.exp(-eta))


def centred(a, b, c=0.0, x0=-3.5, y0=-3.4):
    """Coefficients and terms of logit p = logit 0.8 + a(x − x0) + b(y − y0) + c(x − x0)(y − y0): through 0.8 at
    red 10^x0, vibrant 10^y0, with slopes a in x and b in y there."""
    coefficients = [LOGIT_TARGET - a * x0 - b * y0 + c * x0 * y0, a - c * y0, b - c * x0]
    return (coefficients, ["x", "y"]) if c == 0 else ([*coefficients, c], ["x", "y", "x:y"])


#: A surface rising in both coverages, crossing 0.8 inside the default map (near red 3e-4, vibrant 4e-4).
LINEAR = centred(2.5, 3.0)
#: The same with an interaction: each label's slope falls as the other label's coverage rises.
INTERACTING = centred(2.5, 3.0, -1.5)


# --- the model ------------------------------------------------------------------------------------------------


def test_design_and_fit_match_statsmodels_formula_glm():
    """``terms`` is a right-hand side statsmodels' formula reads, and our design and fit are its numbers."""
    import statsmodels.formula.api as smf
    from statsmodels.genmod.families import Binomial

    red, vibrant, passed = draw(*INTERACTING, seeds=20, rng=np.random.default_rng(3))
    terms = ["x", "y", "x:y", "I(x**2)"]
    data = pd.DataFrame({"x": np.log10(red), "y": np.log10(vibrant), "passed": passed.astype(float)})
    reference = smf.glm("passed ~ x + y + x:y + I(x**2)", data=data, family=Binomial()).fit()
    b, deviance, converged = fit_logit(design(data["x"], data["y"], terms), data["passed"].to_numpy())
    assert converged
    np.testing.assert_allclose(b, reference.params.to_numpy(), rtol=1e-6)
    assert deviance == pytest.approx(reference.deviance, rel=1e-9)


def test_forward_selection_keeps_only_the_terms_the_data_ask_for():
    rng = np.random.default_rng(0)
    red, vibrant, passed = draw(*LINEAR, seeds=40, rng=rng)
    terms, steps, _ = select_terms(np.log10(red), np.log10(vibrant), passed.astype(float))
    assert terms == ["x", "y"] and steps[0].added is None and set(steps[0].tried) == {"x:y", "I(x**2)", "I(y**2)"}
    red, vibrant, passed = draw(*INTERACTING, seeds=40, rng=rng)
    terms, steps, _ = select_terms(np.log10(red), np.log10(vibrant), passed.astype(float))
    assert terms[:3] == ["x", "y", "x:y"] and steps[0].tried["x:y"] < 0.05
    again, _, _ = select_terms(np.log10(red), np.log10(vibrant), passed.astype(float))
    assert again == terms  # deterministic


# --- cost, contour, cheapest point ----------------------------------------------------------------------------


def test_cost_is_the_any_label_coverage_of_the_cells_multipliers(cost):
    base = base_label_probabilities(rgb_grid(10), SEED_LABELS)
    for red, vibrant in ((0.0003, 0.001), (0.001, 0.0001), (0.01, 0.001)):  # the last: red labels saturate
        expected = solve_cell(red, vibrant, base)["expected_coverage"] * SAMPLES
        assert cost(red, vibrant)[0] == pytest.approx(expected, rel=1e-9)
    assert solve_cell(0.01, 0.001, base)["saturated"]


def test_cheapest_point_of_a_linear_surface_is_where_the_costs_gradient_meets_the_contours(cost):
    """With cost ≈ (r + v)·samples, the cheapest point of b0 + bx·x + by·y = logit 0.8 has v/r = by/bx."""
    coefficients, terms = LINEAR
    box = Box((np.log10(REDS[0]), np.log10(REDS[-1])), (np.log10(VIBRANTS[0]), np.log10(VIBRANTS[-1])))
    found = cheapest_point(coefficients, terms, box, cost)
    assert found.status == "contour" and not found.on_edge
    b0, bx, by = coefficients
    assert b0 + bx * found.x + by * found.y == pytest.approx(LOGIT_TARGET, abs=1e-6)
    assert 10**found.y / 10**found.x == pytest.approx(by / bx, rel=0.02)
    points = contour(coefficients, terms, box)
    assert (cost(10 ** points[:, 0], 10 ** points[:, 1]) >= found.labels - 1e-9).all()
    assert cheapest_point([b0 + 20, bx, by], terms, box, cost).status == "below"
    assert cheapest_point([b0 - 20, bx, by], terms, box, cost).status == "unreached"


@pytest.mark.parametrize("truth", [LINEAR, INTERACTING], ids=["linear", "interaction"])
def test_fit_recovers_a_known_surfaces_cheapest_point_and_its_interval_covers_it(truth, cost):
    coefficients, terms = truth
    box = Box((np.log10(REDS[0]), np.log10(REDS[-1])), (np.log10(VIBRANTS[0]), np.log10(VIBRANTS[-1])))
    true = cheapest_point(coefficients, terms, box, cost)
    red, vibrant, passed = draw(coefficients, terms, seeds=60, rng=np.random.default_rng(11))
    fit = fit_surface("effective", red, vibrant, passed, cost, replicates=100)
    assert fit.terms[: len(terms)] == terms and fit.reason is None
    assert np.log10(fit.cheapest_red) == pytest.approx(true.x, abs=0.15)
    assert np.log10(fit.cheapest_vibrant) == pytest.approx(true.y, abs=0.15)
    assert fit.cheapest_labels == pytest.approx(true.labels, rel=0.15)
    assert fit.cheapest_labels_low < true.labels < fit.cheapest_labels_high
    assert fit.cheapest_labels_low < fit.cheapest_labels < fit.cheapest_labels_high
    assert fit.gof_p > 0.05 and fit.replicates["contour"] == 100
    for link in ("probit", "cloglog"):  # the other links' cheapest points, and a note wherever one lies outside
        inside = fit.cheapest_labels_low <= fit.links[link] <= fit.cheapest_labels_high
        assert fit.links[link] == pytest.approx(true.labels, rel=0.2)
        assert inside != any(f"under the {link} link" in note for note in fit.notes)
    assert fit.cheapest_labels_low <= fit.links["probit"] <= fit.cheapest_labels_high  # probit ≈ logit


def test_goodness_of_fit_rejects_about_5_percent_of_maps_drawn_from_the_fitted_model():
    """Calibration: 200 maps of 5 seeds per cell drawn from a known surface, each fitted with its terms and checked
    by the parametric bootstrap (100 replicates): the test rejects at 5 % between 2 % and 10 % of them."""
    coefficients, terms = LINEAR
    rng = np.random.default_rng(25)
    red, vibrant, _ = draw(coefficients, terms, seeds=5, rng=rng)
    x, y = np.log10(red), np.log10(vibrant)
    X = design(x, y, terms)
    cell_x, cell_y, cell = cells_of(x, y)
    cell_X = design(cell_x, cell_y, terms)
    p = 1 / (1 + np.exp(-(X @ coefficients)))
    rejected = 0
    for _ in range(200):
        passed = (rng.random(len(p)) < p).astype(float)
        b, _, _ = fit_logit(X, passed)
        drawn = (rng.random((100, len(p))) < 1 / (1 + np.exp(-(X @ b)))).astype(float)
        rejected += goodness_of_fit(X, passed, cell, cell_X, b, drawn)[1] < 0.05
    assert 0.02 <= rejected / 200 <= 0.10, rejected


def test_goodness_of_fit_rejects_a_map_the_surface_cannot_describe(cost):
    """A checkerboard of passing and failing cells: no smooth surface fits it."""
    red, vibrant = (np.repeat(a.ravel(), 20) for a in np.meshgrid(REDS, VIBRANTS, indexing="ij"))
    i, j = np.searchsorted(REDS, red), np.searchsorted(VIBRANTS, vibrant)
    rate = np.where((i + j) % 2 == 0, 0.9, 0.3) + 0.05 * j
    passed = np.random.default_rng(5).random(len(red)) < rate
    fit = fit_surface("effective", red, vibrant, passed, cost, replicates=100)
    assert fit.gof_p < 0.05 and fit.gof_p_asymptotic < 0.05


# --- degenerate maps ------------------------------------------------------------------------------------------


def test_degenerate_maps_give_a_reason_not_a_number(cost):
    red, vibrant, _ = draw(*LINEAR, seeds=3, rng=np.random.default_rng(0))
    cases = {
        "every run passes": np.ones(len(red), bool),
        "no run passes": np.zeros(len(red), bool),
        "perfect separation": np.log10(red) + np.log10(vibrant) > -7.0,
    }
    for words, passed in cases.items():
        fit = fit_surface("m1", red, vibrant, passed, cost, replicates=10)
        assert words in fit.reason and fit.cheapest_labels is None
        row = fit.row()
        assert row["criterion"] == "m1" and row["cheapest_red"] is None and row["runs"] == len(red)
    one_cell = fit_surface("m1", [0.0, 0.001, 0.001], [0.0, 0.003, 0.003], [False, True, False], cost)
    assert "1 cell(s) with both labels" in one_cell.reason and one_cell.runs == 2


def test_a_contour_below_the_map_is_said_not_extrapolated(cost):
    coefficients, terms = centred(1.0, 1.0)
    red, vibrant, passed = draw(
        [coefficients[0] + 2.5, *coefficients[1:]], terms, seeds=10, rng=np.random.default_rng(2)
    )
    fit = fit_surface("effective", red, vibrant, passed, cost, replicates=20)
    assert fit.cheapest_labels is None and "contour lies below the tested coverages" in fit.reason
    assert fit.terms and fit.gof_p is not None  # the surface itself is still fitted and checked


# --- budget_fit.csv: an independent fit of its terms passes 0.8 at its cheapest point -------------------------


def budget_runs(seeds=12, rng=None) -> pd.DataFrame:
    """A budget_runs.csv-like table: the full map (0 included), every criterion's flag drawn from its own surface."""
    rng = rng or np.random.default_rng(7)
    reds, vibrants = (0.0, *REDS), (0.0, *VIBRANTS)
    red, vibrant = (np.repeat(a.ravel(), seeds) for a in np.meshgrid(reds, vibrants, indexing="ij"))
    x, y = np.log10(np.maximum(red, 1e-9)), np.log10(np.maximum(vibrant, 1e-9))
    logistic = lambda eta: rng.random(len(red)) < 1 / (1 + np.exp(-eta))  # noqa: E731
    flags = {
        "pass_m1": logistic(LOGIT_TARGET + 3.0 * (x + 4.2)),  # red binds
        "pass_m2": logistic(LOGIT_TARGET + 3.0 * (y + 3.5)),  # vibrant binds
        "pass_m3": logistic(LOGIT_TARGET + 2.0 * (x + 4.0) + 2.0 * (y + 3.3) - 1.0 * (x + 4.0) * (y + 3.3)),
        "pass_m4": np.ones(len(red), bool),  # always passes: no contour
    }
    flags["structured"] = flags["pass_m1"] & flags["pass_m2"] & flags["pass_m3"] & flags["pass_m4"]
    flags["effective"] = flags["structured"]
    return pd.DataFrame({"red_coverage": red, "vibrant_coverage": vibrant, "seed": np.tile(range(seeds), 25), **flags})


def test_budget_fit_terms_refitted_with_statsmodels_pass_0p8_at_the_cheapest_point(cost):
    """The Done-when check of issue 25: fit ``terms`` on the run table with statsmodels, independently of our code,
    and read the pass probability at (cheapest_red, cheapest_vibrant)."""
    import statsmodels.formula.api as smf
    from statsmodels.genmod.families import Binomial

    runs = budget_runs()
    table = budget_fit_table(fit_surfaces(runs, cost, replicates=50))
    assert list(table.columns) == BUDGET_FIT_COLUMNS
    assert list(table["criterion"]) == ["effective", "structured", "m1", "m2", "m3", "m4"]
    both = runs[(runs["red_coverage"] > 0) & (runs["vibrant_coverage"] > 0)]
    data = pd.DataFrame({"x": np.log10(both["red_coverage"]), "y": np.log10(both["vibrant_coverage"])})
    checked = 0
    for row in table.to_dict("records"):
        if pd.isna(row["cheapest_red"]):
            continue
        data["passed"] = both[{"effective": "effective", "structured": "structured"}.get(row["criterion"], "pass_" + row["criterion"])].astype(float).to_numpy()  # fmt: skip
        model = smf.glm(f"passed ~ {row['terms']}", data=data, family=Binomial()).fit()
        at = pd.DataFrame({"x": [np.log10(row["cheapest_red"])], "y": [np.log10(row["cheapest_vibrant"])]})
        assert float(model.predict(at).iloc[0]) == pytest.approx(0.8, abs=0.05), row
        assert row["cheapest_labels_low"] < row["cheapest_labels"] < row["cheapest_labels_high"]
        assert row["runs"] == len(both)
        checked += 1
    assert checked >= 3
    m4 = table.set_index("criterion").loc["m4"]
    assert pd.isna(m4["terms"]) and pd.isna(m4["cheapest_labels"])  # every run passes: no contour


def test_heat_maps_draw_each_surfaces_contour_and_cheapest_point(cost):
    from ex_coverage.science.budget import summarise_cells

    runs = budget_runs(seeds=6).assign(
        labelled_red=0, labelled_vibrant=0, labelled_any=0, counted_samples=1000, multiplier_red=1.0,
        multiplier_vibrant=1.0,
    )  # fmt: skip
    runs["expected_coverage"] = runs["red_coverage"] + runs["vibrant_coverage"]
    summary = summarise_cells(runs, samples_per_run=SAMPLES)
    fits = {f.criterion: f for f in fit_surfaces(runs, cost, replicates=20)}
    figure = plot_budget_map(summary, 0.8, None, surfaces=fits)
    panels = {ax.get_title().split("\n")[0]: ax for ax in figure.axes if ax.get_visible() and ax.get_title()}
    stars = [line for line in panels["M1 anchor alignment"].lines if line.get_marker() == "*"]
    assert len(stars) == 1
    assert stars[0].get_xdata()[0] == pytest.approx(np.log10(fits["m1"].cheapest_vibrant))
    assert panels["M4 reconstruction"].get_title().endswith("(no 0.8 contour in the map)")
    assert "fitted 0.8 contour" in figure.get_suptitle()
