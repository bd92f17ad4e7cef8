"""Nodes of the budget map: solve a cell's two multipliers, then tabulate, analyse, plot and report the map.

Training and scoring reuse the sweep's nodes (``pipelines.training``) unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ex_coverage.pipelines.training.nodes import base_probabilities
from ex_coverage.science.budget import (
    CRITERIA,
    binding_overview,
    bindings,
    cell_runs,
    cheapest_cell,
    check_cells_fresh,
    current_cell_fingerprints,
    flag_runs,
    solve_cell,
    summarise_cells,
)
from ex_coverage.science.budget_fit import (
    REPLICATES,
    LabelCost,
    SurfaceFit,
    budget_fit_table,
    criterion_name,
    fit_surfaces,
)
from ex_coverage.science.budget_plots import plot_budget_map
from ex_coverage.science.metrics import Thresholds
from ex_coverage.science.schedule import Schedule

log = logging.getLogger(__name__)


def solve_cell_multipliers(
    training_grid: pd.DataFrame, *, red_coverage: float, vibrant_coverage: float
) -> dict[str, Any]:
    """Each label's multiplier from its own coverage (the mean of its probability over the training grid)."""
    solution = solve_cell(red_coverage, vibrant_coverage, base_probabilities(training_grid))
    if solution["saturated"]:
        log.warning(
            "red coverage %g, vibrant coverage %g: %s labels are certain on their best colour; runs flagged",
            red_coverage,
            vibrant_coverage,
            " and ".join(solution["saturated_labels"]),
        )
    return solution


def build_budget_runs(
    thresholds: dict[str, Any],
    training: dict[str, Any],
    labels: dict[str, Any],
    grids: dict[str, Any],
    schedule: Schedule,
    *multipliers_and_scores: Any,
) -> pd.DataFrame:
    """One row per (cell, seed): the cell's coverages and multipliers, realised coverages, scores and pass flags.

    ``multipliers_and_scores`` alternates a cell's ``label_multiplier`` and its ``run_scores``. Refuses runs whose
    recorded configuration fingerprint differs from the current configuration's.
    """
    runs = pd.concat(
        [cell_runs(m, s) for m, s in zip(multipliers_and_scores[0::2], multipliers_and_scores[1::2])],
        ignore_index=True,
    )
    check_cells_fresh(runs, current_cell_fingerprints(training, labels, grids, schedule.digest, len(schedule)))
    return flag_runs(runs, Thresholds.from_params(thresholds))


def summarise_budget_map(budget_runs: pd.DataFrame, schedule: Schedule, training: dict[str, Any]) -> pd.DataFrame:
    """budget_map.csv: per cell the realised coverages, pass rates (Wilson 95 % bounds) and expected labels."""
    return summarise_cells(budget_runs, len(schedule) * int(training["batch_size"]))


def fit_budget_surfaces(
    budget_runs: pd.DataFrame, training_grid: pd.DataFrame, schedule: Schedule, training: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """budget_fit.csv (per criterion: the surface's terms, its cheapest 0.8 point with a 95 % cost interval,
    goodness of fit) and every surface in full (coefficients, covariance, selection, reasons) for the figure and
    the report."""
    cost = LabelCost(base_probabilities(training_grid), len(schedule) * int(training["batch_size"]))
    fits = fit_surfaces(budget_runs, cost)
    return budget_fit_table(fits), {"replicates": REPLICATES, "fits": [f.to_dict() for f in fits]}


def analyse_budget_map(budget_map: pd.DataFrame, reporting: dict[str, Any]) -> dict[str, Any]:
    """The cheapest cell reaching the required effective pass rate, and which label binds each criterion."""
    min_rate = float(reporting["min_pass_rate"])
    results = bindings(budget_map, min_rate)
    return {
        "min_pass_rate": min_rate,
        "cheapest": cheapest_cell(budget_map, "effective_rate", min_rate),
        "bindings": [b.to_dict() for b in results],
        "overview": binding_overview(results),
    }


def _surfaces(budget_surfaces: dict[str, Any]) -> dict[str, SurfaceFit]:
    return {fit["criterion"]: SurfaceFit.from_dict(fit) for fit in budget_surfaces["fits"]}


def plot_budget_heat_maps(
    budget_map: pd.DataFrame, budget_binding: dict[str, Any], budget_surfaces: dict[str, Any]
) -> Figure:
    """Heat maps of every criterion's pass rate over the two label budgets, the cheapest effective cell marked,
    each fitted surface's 0.8 contour with its 95 % band and its cheapest point."""
    return plot_budget_map(
        budget_map, budget_binding["min_pass_rate"], budget_binding["cheapest"], surfaces=_surfaces(budget_surfaces)
    )


def _rate(row: dict[str, Any], rate: str) -> str:
    return f"{row[rate]:.2f} [{row[f'{rate}_low']:.2f}, {row[f'{rate}_high']:.2f}]"


def _count(value: float | None, open_side: str) -> str:
    return open_side if value is None else f"{value:.0f}"


def _surface_answer(fit: SurfaceFit | None) -> str:
    """The fitted surface's answer for *effective*, in one paragraph."""
    if fit is None:
        return "The effective criterion was not measured, so there is no fitted surface for it."
    if fit.cheapest_labels is None:
        return f"**Fitted surface (effective): no cheapest point** — {fit.reason}."
    interval = f"[{_count(fit.cheapest_labels_low, 'open')}, {_count(fit.cheapest_labels_high, 'open')}]"
    verdict = "" if fit.gof_p is None or fit.gof_p >= 0.05 else " **The fit is rejected at 5 %: read it with care.**"
    return (
        f"**Fitted surface (effective): the cheapest labelling with a fitted pass probability of 0.8 is red-only "
        f"coverage {fit.cheapest_red:.3g} and vibrant-only coverage {fit.cheapest_vibrant:.3g}, about "
        f"{fit.cheapest_labels:.0f} {interval} labelled samples per run** (95 % parametric-bootstrap interval; "
        f"surface `{fit.formula}` over {fit.runs} runs in {fit.cells} cells; goodness of fit p = {fit.gof_p:.2f})."
        + verdict
        + "".join(f" Note: {n}." for n in fit.notes if "cheapest point lies on the map's edge" in n)
    )


def _surface_table(fits: dict[str, SurfaceFit]) -> str:
    """The fitted surfaces, one row per criterion, with the reason where a value is missing."""
    lines = [
        "| criterion | terms | cheapest red | cheapest vibrant | labelled samples per run [95 %] | probit, cloglog | "
        "gof p (χ² p) | runs | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for criterion in CRITERIA:
        fit = fits.get(criterion_name(criterion))
        if fit is None:
            continue
        gof = "" if fit.gof_p is None else f"{fit.gof_p:.2f}"
        if fit.gof_p_asymptotic is not None:
            gof += f" ({fit.gof_p_asymptotic:.2f})"
        if fit.gof_p is not None and fit.gof_p < 0.05:
            gof += " **rejected**"
        note = "; ".join([*([fit.reason] if fit.reason else []), *fit.notes])
        links = ", ".join(_count(fit.links.get(link), "none") for link in ("probit", "cloglog")) if fit.links else ""
        if fit.cheapest_labels is None:
            cheapest = "| | | | "
        else:
            cheapest = (
                f"| {fit.cheapest_red:.3g} | {fit.cheapest_vibrant:.3g} | {fit.cheapest_labels:.0f} "
                f"[{_count(fit.cheapest_labels_low, 'open')}, {_count(fit.cheapest_labels_high, 'open')}] | {links} "
            )
        lines.append(
            f"| {criterion.short} | {'`' + fit.formula + '`' if fit.terms else ''} {cheapest}| {gof} | {fit.runs} | "
            f"{note} |"
        )
    return "\n".join(lines)


def write_budget_report(
    budget_map: pd.DataFrame, budget_binding: dict[str, Any], budget_surfaces: dict[str, Any]
) -> str:
    """budget_map.md: the fitted surface's cheapest labelling, the cheapest cell, which label binds which
    criterion, the surfaces, the per-cell table."""
    min_rate, cheapest = budget_binding["min_pass_rate"], budget_binding["cheapest"]
    rates = [c for c in CRITERIA if c.rate in budget_map.columns]
    fits = _surfaces(budget_surfaces)
    if cheapest is None:
        answer = (
            f"No cell reaches an effective pass rate of {min_rate:g}. The labelling needed lies beyond the map's "
            "budgets (or needs another mix of the two labels)."
        )
    else:
        answer = (
            f"Cheapest *grid cell* reaching an effective pass rate of {min_rate:g}: red-only coverage "
            f"{cheapest['red_coverage']:g} and vibrant-only coverage {cheapest['vibrant_coverage']:g}, about "
            f"{cheapest['expected_labels']:.0f} labelled samples per run (pass rate {cheapest['rate']:.2f} over "
            f"{cheapest['runs']} seeds)."
        )
    header = (
        "| red | vibrant | realised red | realised vibrant | runs | "
        + " | ".join(c.short for c in rates)
        + " | expected labels |"
    )
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    for row in budget_map.to_dict("records"):
        lines.append(
            f"| {row['red_coverage']:g} | {row['vibrant_coverage']:g} | {row['realised_red']:.5f} | "
            f"{row['realised_vibrant']:.5f} | {row['runs']} | "
            + " | ".join(_rate(row, c.rate) for c in rates)
            + f" | {row['expected_labels']:.0f} |"
        )
    sentences = "\n".join(f"- {b['sentence']}" for b in budget_binding["bindings"])
    n_seeds = int(budget_map["runs"].max())
    return f"""# Label budget map: which label binds, and the cheapest labelling

*SPEC §9b: the red label drives the anchor regularizer, the vibrant label the planar one. Each cell of the map
gives each label its own coverage (the expected fraction of drawn samples carrying it) and trains
{n_seeds} seed(s); a criterion "reaches" a cell when its pass rate over seeds is ≥ {min_rate:g}.*

## Answer

{_surface_answer(fits.get("effective"))}

{answer}

## Which label binds which criterion

{budget_binding["overview"]}

{sentences}

A label *binds* a criterion when no cell without that label (its coverage 0) reaches the pass rate while
some cell does; the coverages quoted are the lowest tested ones at which the criterion reaches it.

## Fitted surfaces (SPEC §9b, §9c)

Per criterion, a binomial GLM (logit link) of each run's pass/fail on x = log10 red-only and y = log10
vibrant-only coverage, over the runs of the cells where both are > 0. The terms start as `x + y`; forward
selection then adds, one at a time, whichever of `x:y`, `I(x**2)`, `I(y**2)` lowers the deviance most, as long
as its likelihood-ratio test gives p < 0.05. `terms` is the model's right-hand side as
`statsmodels.formula.api.glm` reads it. The cheapest point is the point of the 0.8 contour, within the tested
coverages, with the fewest expected labelled samples per run (a sample carrying both labels counts once). Its
95 % interval is a parametric bootstrap: {budget_surfaces["replicates"]} data sets drawn from the fit at the
runs' coverages, each refitted with the same terms (so the interval leaves out the uncertainty of the term
selection; simulated, it covers the true cost about 80–90 % of the time, so read it as a rough interval),
percentiles of their cheapest points' costs; it is open on a side where too many bootstrap surfaces
pass already at the map's cheapest tested labelling or never reach 0.8 in the map. Beside it, the cheapest point's
cost under the probit and complementary log-log links (same terms); the note says where one lies outside the
logit's interval. Goodness of fit: Pearson's
χ² of observed against fitted passes over the cells, its p from the same bootstrap (the χ² distribution's p in
parentheses: with a few seeds per cell it is poorly calibrated). Empty cells say why in the note.

{_surface_table(fits)}

## Heat maps

The red line is each fitted surface's 0.8 contour, the hatched band (between the white dashed lines) its
pointwise 95 % band (where the fitted logit's Wald interval contains logit 0.8), the star its cheapest point;
the outlined cell is the cheapest grid cell reaching the rate for *effective*.

![Budget map](budget_map.png)

## Per cell (pass rate [Wilson 95 %])

{chr(10).join(lines)}
"""
