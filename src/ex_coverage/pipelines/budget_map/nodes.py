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


def plot_budget_heat_maps(budget_map: pd.DataFrame, budget_binding: dict[str, Any]) -> Figure:
    """Heat maps of every criterion's pass rate over the two label budgets, the cheapest effective cell marked."""
    return plot_budget_map(budget_map, budget_binding["min_pass_rate"], budget_binding["cheapest"])


def _rate(row: dict[str, Any], rate: str) -> str:
    return f"{row[rate]:.2f} [{row[f'{rate}_low']:.2f}, {row[f'{rate}_high']:.2f}]"


def write_budget_report(budget_map: pd.DataFrame, budget_binding: dict[str, Any]) -> str:
    """budget_map.md: the cheapest labelling, which label binds which criterion, the per-cell table."""
    min_rate, cheapest = budget_binding["min_pass_rate"], budget_binding["cheapest"]
    rates = [c for c in CRITERIA if c.rate in budget_map.columns]
    if cheapest is None:
        answer = (
            f"**No cell reaches an effective pass rate of {min_rate:g}.** The labelling needed lies beyond the map's "
            "budgets (or needs another mix of the two labels)."
        )
    else:
        answer = (
            f"**Cheapest labelling reaching an effective pass rate of {min_rate:g}: red-only coverage "
            f"{cheapest['red_coverage']:g} and vibrant-only coverage {cheapest['vibrant_coverage']:g}**, about "
            f"**{cheapest['expected_labels']:.0f} labelled samples per run** (pass rate {cheapest['rate']:.2f} over "
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

{answer}

## Which label binds which criterion

{budget_binding["overview"]}

{sentences}

A label *binds* a criterion when no cell without that label (its coverage 0) reaches the pass rate while
some cell does; the coverages quoted are the lowest tested ones at which the criterion reaches it.

## Heat maps

![Budget map](budget_map.png)

## Per cell (pass rate [Wilson 95 %])

{chr(10).join(lines)}
"""
