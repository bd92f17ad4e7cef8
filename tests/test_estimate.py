"""The continuous answer (SPEC §9): dose–response fit, ED80 and upper edge, profile intervals, degenerate data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ex_coverage.science.estimate import (
    CHI2_95,
    ED80_COLUMNS,
    LOGIT_TARGET,
    OTHER_LINKS,
    _design,
    _fit_logit_batch,
    bootstrap_gof,
    crossings,
    ed80_row,
    edge_to_refine,
    expit,
    fit_criteria,
    fit_dose_response,
    pearson_gof,
    profile_deviance,
    refinement_points,
)


def _two_levels():
    """2/10 pass at c = 0.001 and 9/10 at c = 0.01: the linear fit passes through both empirical logits."""
    coverage = [1e-3] * 10 + [1e-2] * 10
    passed = [True] * 2 + [False] * 8 + [True] * 9 + [False]
    return coverage, passed


def test_ed80_of_a_case_solved_by_hand():
    fit = fit_dose_response(*_two_levels())
    # logit(0.2) = −ln 4 at x = −3, logit(0.9) = ln 9 at x = −2  →  β1 = ln 36, ED80: −3 + (ln 4 + ln 4)/ln 36
    assert fit.model == "linear" and fit.reason is None
    assert fit.slope == pytest.approx(math.log(36), rel=1e-6)
    assert fit.coefficients[0] == pytest.approx(-math.log(4) + 3 * math.log(36), rel=1e-6)
    assert fit.ed80.x == pytest.approx(-3 + math.log(16) / math.log(36), abs=1e-6)
    assert fit.ed80.coverage == pytest.approx(10 ** (-3 + math.log(16) / math.log(36)), rel=1e-5)
    assert fit.upper is None and fit.curvature_p is None  # two levels: no curvature test


def test_profile_interval_ends_where_the_likelihood_ratio_reaches_the_chi2_quantile():
    coverage, passed = _two_levels()
    fit = fit_dose_response(coverage, passed)
    x, y = np.log10(coverage), np.asarray(passed, dtype=float)
    minimum = profile_deviance(fit.ed80.x, x, y, 1, True)
    eta = fit.coefficients[0] + fit.coefficients[1] * x
    assert minimum == pytest.approx(float(2 * np.sum(np.logaddexp(0, eta) - y * eta)), abs=1e-6)
    assert fit.ed80.low < fit.ed80.x < fit.ed80.high
    for bound in (fit.ed80.low, fit.ed80.high):
        assert profile_deviance(bound, x, y, 1, True) - minimum == pytest.approx(CHI2_95, abs=1e-3)
    inside = (fit.ed80.low + fit.ed80.x) / 2
    assert profile_deviance(inside, x, y, 1, True) - minimum < CHI2_95


def test_crossings_of_known_coefficients():
    # linear: logit p = 2 + x  →  x = ln 4 − 2
    assert crossings([2.0, 1.0]) == (pytest.approx(math.log(4) - 2), None)
    assert crossings([2.0, -1.0]) == (None, pytest.approx(2 - math.log(4)))
    # quadratic with logit p − logit 0.8 = −(x + 3)(x + 1): rises through 0.8 at −3, falls at −1
    assert crossings([LOGIT_TARGET - 3, -4.0, -1.0]) == (pytest.approx(-3.0), pytest.approx(-1.0))
    assert crossings([LOGIT_TARGET - 5, 0.0, -1.0]) == (None, None)  # peak below 0.8
    # cubic with logit p − logit 0.8 = (x + 3)(x + 1)(x − 5): rises at −3, falls at −1 (and rises again at 5)
    assert crossings([LOGIT_TARGET - 15, -17.0, -1.0, 1.0]) == (pytest.approx(-3.0), pytest.approx(-1.0))
    # the same times −1 falls at −3 first: ED80 is the rising root −1, and no fall follows below 5
    assert crossings([LOGIT_TARGET + 15, 17.0, 1.0, -1.0]) == (pytest.approx(-1.0), pytest.approx(5.0))


def _rates(levels, rates, n=40):
    coverage, passed = [], []
    for c, r in zip(levels, rates):
        k = round(r * n)
        coverage += [c] * n
        passed += [True] * k + [False] * (n - k)
    return coverage, passed


def test_a_downturn_gives_the_quadratic_model_and_an_upper_edge():
    levels = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
    fit = fit_dose_response(*_rates(levels, [0.05, 0.3, 0.8, 0.95, 0.95, 0.7, 0.2]))
    assert fit.model == "quadratic" and fit.curvature_p < 0.05 and fit.coefficients[2] < 0
    assert 3e-4 < fit.ed80.coverage < 3e-3 and 1e-2 < fit.upper.coverage < 1e-1
    assert fit.ed80.low < fit.ed80.x < fit.ed80.high and fit.upper.low < fit.upper.x < fit.upper.high
    p = fit.probability(np.array([fit.ed80.x, fit.upper.x]))
    assert p == pytest.approx([0.8, 0.8])


@pytest.mark.parametrize(
    "coverage, passed, reason",
    [
        ([0.0, 0.0], [True, False], "no runs with coverage > 0"),
        ([1e-3, 1e-2] * 3, [True] * 6, "every run passes"),
        ([1e-3, 1e-2] * 3, [False] * 6, "no run passes"),
        ([1e-3] * 4 + [1e-2] * 4, [False] * 4 + [True] * 4, "perfect separation: every run below c = 0.01 fails"),
        (*_rates([1e-3, 1e-2, 1e-1], [0.9, 0.5, 0.2]), "no significant rise"),
        (*_rates([1e-4, 1e-3, 1e-2, 1e-1], [0.1, 0.6, 0.6, 0.1]), "never reaches 0.8"),
        ([1e-3] * 4, [True, False, True, False], "only one coverage level"),
    ],
)
def test_degenerate_data_give_a_reason_not_a_number(coverage, passed, reason):
    fit = fit_dose_response(coverage, passed)
    assert fit.ed80 is None and reason in fit.reason
    row = ed80_row("effective", fit)
    assert row["ed80"] is None and row["ci_low"] is None and row["upper"] is None


def test_separation_bracket_is_where_refinement_looks():
    fit = fit_dose_response([1e-3] * 4 + [1e-2] * 4, [False] * 4 + [True] * 4)
    assert fit.bracket == pytest.approx([1e-3, 1e-2])
    points = refinement_points(fit, [1e-3, 1e-2])
    assert len(points) == 3 and all(1e-3 < p < 1e-2 for p in points)


def test_refinement_points_sit_at_the_estimate_and_the_interval_edges():
    fit = fit_dose_response(*_two_levels())
    points = refinement_points(fit, [1e-3, 1e-2])
    expected = [10**fit.ed80.low, fit.ed80.coverage, 10**fit.ed80.high]
    assert points == pytest.approx(expected, rel=5e-3)
    assert refinement_points(fit_dose_response([1e-3, 1e-2] * 3, [False] * 6), [1e-3]) == []


def test_criteria_without_a_column_are_not_measured():
    coverage, passed = _two_levels()
    fits = fit_criteria(coverage, {"effective": passed, "pass_m1": passed})
    assert list(fits) == ["effective", "structured", "controllable", "m1", "m2", "m3", "m4", "m5"]
    assert fits["effective"].ed80 is not None and fits["m5"] is None
    assert list(ed80_row("m5", None)) == ED80_COLUMNS and ed80_row("m5", None)["criterion"] == "m5"


@pytest.mark.long
def test_profile_interval_covers_the_true_ed80_about_95_percent_of_the_time():
    """200 simulated sweeps (9 levels × 6 seeds) of a known logistic dose–response, ED80 = 0.001."""
    rng = np.random.default_rng(2026)
    levels = np.repeat(np.logspace(-4, -2, 9), 6)
    x, truth, slope = np.log10(levels), -3.0, 3.0
    probability = 1 / (1 + np.exp(-(LOGIT_TARGET + slope * (x - truth))))
    covered = estimated = 0
    for _ in range(200):
        fit = fit_dose_response(levels, rng.random(len(x)) < probability)
        if fit.ed80 is None:
            continue
        estimated += 1
        low = -np.inf if fit.ed80.low is None else fit.ed80.low
        high = np.inf if fit.ed80.high is None else fit.ed80.high
        covered += low <= truth <= high
    coverage = covered / estimated
    print(f"\nprofile-likelihood interval coverage: {coverage:.3f} over {estimated} estimable sweeps of 200")
    assert estimated >= 190
    assert 0.90 <= coverage <= 0.99


def _runs(anchor_cos_by_level: dict[float, list[float]]):
    import pandas as pd

    rows = []
    for c, values in anchor_cos_by_level.items():
        for seed, value in enumerate(values):
            rows.append(
                {"coverage": c, "seed": seed, "realised_coverage": c, "anchor_cos": value, "offplane_mean": 0.01,
                 "offplane_max": 0.02, "winding": 1.0, "monotone_fraction": 1.0, "sextant_max_dev_deg": 5.0,
                 "mse_median": 1e-5, "mse_max": 1e-4, "suppression_r2": 0.97, "ablation_r2": 0.5}
            )  # fmt: skip
    runs = pd.DataFrame(rows)
    runs["effective"] = runs["anchor_cos"] >= 0.95
    return runs


def test_threshold_sensitivity_moves_c_star_with_the_threshold():
    from ex_coverage.pipelines.reporting.estimate_nodes import threshold_sensitivity

    runs = _runs({1e-3: [0.91, 0.92, 0.93, 0.5, 0.99], 1e-2: [0.96, 0.97, 0.99, 0.99, 0.6], 1e-1: [0.99] * 5})
    reporting = {
        "min_pass_rate": 0.8,
        "thresholds": {"anchor_cos_min": 0.95},
        "sensitivity": {
            "anchor_cos_min": [0.90, 0.98],
            "suppression_r2_min": [0.85, 0.98],
            "m6_min": [0.1, 0.2],  # a threshold this version does not define
        },
    }
    table = threshold_sensitivity(runs, reporting, list(range(10)), {"batch_size": 2}).set_index(
        ["threshold", "setting"]
    )
    assert table.loc[("(none)", "baseline"), "c_star"] == 0.01
    assert table.loc[("anchor_cos_min", "looser"), "c_star"] == 0.001  # 4/5 pass at 0.001 with cos ≥ 0.90
    assert table.loc[("anchor_cos_min", "stricter"), "c_star"] == 0.1  # 2/5 at 0.01 with cos ≥ 0.98
    assert table.loc[("suppression_r2_min", "looser"), "c_star"] == 0.01  # every run has r² 0.97
    assert pd.isna(table.loc[("suppression_r2_min", "stricter"), "c_star"])  # ... which fails r² ≥ 0.98
    assert table.loc[("m6_min", "looser"), "note"] == "not measured"
    assert table.loc[("anchor_cos_min", "stricter"), "c_star_below"] == 0.01


#: The default sweep's ``effective`` fit on main (quadratic logistic in x = log10 c): ED80 0.00258, upper edge 0.0316.
SWEEP_FIT = np.array([-10.20335121, -12.20213736, -2.98427777])
DEFAULT_LEVELS = np.log10([0.0001, 0.0002, 0.0005, 0.001, 0.0015, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1])


def test_goodness_of_fit_rejects_about_5_percent_of_data_drawn_from_the_fitted_model():
    """200 default-grid sweeps (11 levels × 5 seeds) drawn from a quadratic logistic, each re-fitted and tested by
    the parametric bootstrap: the test's size must be near its nominal 5 %."""
    rng = np.random.default_rng(2026)
    design, trials = _design(DEFAULT_LEVELS, 2), np.full(len(DEFAULT_LEVELS), 5.0)
    data = rng.binomial(5, expit(design @ SWEEP_FIT), size=(200, len(DEFAULT_LEVELS))).astype(float)
    fitted = _fit_logit_batch(data, trials, design, SWEEP_FIT)
    p = np.array(
        [bootstrap_gof(k, trials, f, design, draws=199, seed=i)[1] for i, (k, f) in enumerate(zip(data, fitted))]
    )
    rejected = float(np.mean(p < 0.05))
    print(f"\ngoodness of fit: {rejected:.3f} of 200 data sets from the model rejected at 5 %")
    assert 0.02 <= rejected <= 0.10


def test_goodness_of_fit_rejects_a_window_fitted_with_a_straight_line():
    """A window (pass only in the middle) forced into the linear logit is a misfit; a line through a line is not."""
    levels = np.log10([1e-4, 1e-3, 1e-2, 1e-1])
    design, trials = _design(levels, 1), np.full(4, 20.0)
    window = np.array([0.0, 20.0, 20.0, 0.0])
    start = np.zeros(2)
    fitted = _fit_logit_batch(window[None], trials, design, start)[0]
    assert bootstrap_gof(window, trials, fitted, design, draws=199)[1] < 0.01
    assert pearson_gof(window, trials, fitted, 2)[1] < 0.01
    line = np.array([2.0, 8.0, 14.0, 19.0])
    fitted = _fit_logit_batch(line[None], trials, design, start)[0]
    assert bootstrap_gof(line, trials, fitted, design, draws=199)[1] > 0.2


def test_a_fit_carries_its_checks_and_other_links():
    levels = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
    fit = fit_dose_response(*_rates(levels, [0.05, 0.3, 0.8, 0.95, 0.95, 0.7, 0.2]))
    assert fit.gof_p is not None and 0 < fit.gof_p <= 1 and set(fit.links) == set(OTHER_LINKS)
    for values in fit.links.values():  # each link's curve crosses 0.8 near the logit's crossings
        assert values[0] == pytest.approx(fit.ed80.x, abs=0.15) and values[1] == pytest.approx(fit.upper.x, abs=0.15)
    row = ed80_row("effective", fit)
    assert row["ed80_probit"] == pytest.approx(10 ** fit.links["probit"][0])
    assert row["upper_cloglog"] == pytest.approx(10 ** fit.links["cloglog"][1])
    assert row["ed80_extrapolated"] is False and row["upper_extrapolated"] is False


def test_an_edge_beyond_the_tested_coverages_is_flagged():
    # the downturn's upper edge lies above the top level, 0.01
    fit = fit_dose_response(*_rates([1e-4, 3e-4, 1e-3, 3e-3, 1e-2], [0.05, 0.5, 0.95, 0.97, 0.85]))
    assert fit.model == "quadratic" and fit.upper is not None and fit.upper.coverage > 1e-2
    row = ed80_row("effective", fit)
    assert row["upper_extrapolated"] is True and row["ed80_extrapolated"] is False
    assert any("extrapolated" in note for note in fit.notes)


def test_refinement_goes_to_the_wider_interval():
    levels = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
    fit = fit_dose_response(*_rates(levels, [0.05, 0.3, 0.8, 0.95, 0.95, 0.7, 0.2]), checks=False)
    wider = "upper" if fit.upper.width > fit.ed80.width else "ed80"
    assert edge_to_refine(fit) == wider
    crossing = fit.upper if wider == "upper" else fit.ed80
    points = refinement_points(fit, levels)
    assert points == pytest.approx(sorted(10 ** np.array([crossing.low, crossing.x, crossing.high])), rel=5e-3)
    linear = fit_dose_response(*_two_levels(), checks=False)
    assert edge_to_refine(linear) == "ed80"  # no upper edge: ED80 alone


def _interval_coverage(beta, levels, seeds, datasets, seed):
    """Fraction of simulated sweeps whose ED80 and upper-edge intervals contain the truth, and how many gave each."""
    rng = np.random.default_rng(seed)
    coverage = np.repeat(10.0 ** np.asarray(levels), seeds)
    probability = expit(_design(np.log10(coverage), 2) @ beta)
    truth = dict(zip(("ed80", "upper"), crossings(beta)))
    hits = {"ed80": [], "upper": []}
    for _ in range(datasets):
        fit = fit_dose_response(coverage, rng.random(len(coverage)) < probability, checks=False)
        for edge, crossing in (("ed80", fit.ed80), ("upper", fit.upper)):
            if crossing is not None:
                low = -np.inf if crossing.low is None else crossing.low
                high = np.inf if crossing.high is None else crossing.high
                hits[edge].append(low <= truth[edge] <= high)
    return {edge: (float(np.mean(v)), len(v)) for edge, v in hits.items()}


def test_upper_edge_interval_covers_the_truth_about_95_percent_of_the_time():
    """60 sweeps (the default grid from 0.001 up, 10 seeds) drawn from the default sweep's fit (300 such sweeps:
    0.95). Binomial error of a coverage of 0.95 over 60 sweeps: ±0.028; the lower bound sits 3.5 such errors below
    (a broken interval, e.g. the likelihood-ratio cut-off lowered by 2.5, covers 0.71 and fails)."""
    result = _interval_coverage(SWEEP_FIT, DEFAULT_LEVELS[3:], 10, 60, 25)
    print(f"\ninterval coverage over 60 sweeps: {result}")
    coverage, estimated = result["upper"]
    assert estimated >= 57
    assert 0.85 <= coverage <= 1.0


def _steep_rise_slow_fall(x):
    """A window whose rise (8 per decade on the logit) is steeper than its fall (3 per decade)."""
    return expit(4 + 8 * (x + 2.6)) * expit(2.5 - 3 * (x + 1.8))


def test_a_steep_rise_and_slow_fall_gets_the_cubic_and_an_unbiased_upper_edge():
    """With many seeds the symmetric quadratic puts the upper edge too high; the cubic, chosen by its
    likelihood-ratio test, finds it (truth: ED80 0.00119, upper edge 0.0373)."""
    from scipy.optimize import brentq

    levels = np.log10([1e-4, 3e-4, 6e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 3e-2, 5e-2, 1e-1])
    fit = fit_dose_response(*_rates(10**levels, _steep_rise_slow_fall(levels), n=60))
    lower = brentq(lambda v: _steep_rise_slow_fall(v) - 0.8, -4, -2)
    upper = brentq(lambda v: _steep_rise_slow_fall(v) - 0.8, -2.2, 0)
    assert fit.model == "cubic" and fit.asymmetry_p < 0.05
    assert fit.ed80.low < lower < fit.ed80.high and fit.upper.low < upper < fit.upper.high
    assert fit.upper.x == pytest.approx(upper, abs=0.05)
    assert fit.probability(np.array([fit.ed80.x, fit.upper.x])) == pytest.approx([0.8, 0.8])
    import ex_coverage.science.estimate as estimate

    quadratic_only = estimate.MAX_DEGREE
    try:
        estimate.MAX_DEGREE = 2
        symmetric = fit_dose_response(*_rates(10**levels, _steep_rise_slow_fall(levels), n=60), checks=False)
    finally:
        estimate.MAX_DEGREE = quadratic_only
    assert symmetric.model == "quadratic" and symmetric.upper.x - upper > 0.1  # the bias the cubic mends
