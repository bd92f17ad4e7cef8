"""The budget map's grid (red-only coverages × vibrant-only coverages × seeds, SPEC §9b), read from configuration.

``budget_map`` in ``conf/<env>/parameters_budget_map.yml``; validated like the sweep grid, each error
naming the file, key and entry. Every cell is one Kedro namespace, ``budget_r<red>_v<vibrant>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ex_coverage.pipelines.levels import CELLS, level_dataset
from ex_coverage.science.budget import BudgetGrid, check_cells_fresh, current_cell_fingerprints
from ex_coverage.science.config import reject_unknown_keys
from ex_coverage.science.labels import CoverageError, solve_label_multipliers
from ex_coverage.sweep import SweepConfigError, parse_coverages, parse_seeds

BUDGET_FILE = "conf/<env>/parameters_budget_map.yml"
KEYS = ("red_coverages", "vibrant_coverages", "seeds")


def parse_budget_grid(params: Mapping[str, Any], source: str = BUDGET_FILE) -> BudgetGrid:
    """Validate ``{"red_coverages": [...], "vibrant_coverages": [...], "seeds": [...]}``; coverages sorted."""
    if not isinstance(params, Mapping):
        raise SweepConfigError(f"{source}: 'budget_map' must be a mapping with keys {', '.join(KEYS)}")
    reject_unknown_keys(params, "budget_map", KEYS, source, SweepConfigError)
    coverages = {}
    for key in KEYS[:2]:
        coverages[key] = parse_coverages(params.get(key), f"budget_map.{key}", source)
        if coverages[key][0] != 0:
            raise SweepConfigError(
                f"{source}: budget_map.{key} must include 0, the control without that label "
                "(the map tells whether a label is needed at all from it)"
            )
    return BudgetGrid(
        coverages["red_coverages"],
        coverages["vibrant_coverages"],
        parse_seeds(params.get("seeds"), "budget_map.seeds", source),
    )


def check_budget_reachable(grid: BudgetGrid, base_probabilities: Mapping[str, Any], source: str = BUDGET_FILE) -> None:
    """Fail unless every red-only and vibrant-only coverage can be produced by that label's multiplier."""
    for label, key, coverages in (
        ("red", "red_coverages", grid.red_coverages),
        ("vibrant", "vibrant_coverages", grid.vibrant_coverages),
    ):
        for c in coverages:
            try:
                solve_label_multipliers({label: c}, base_probabilities)
            except CoverageError as error:
                raise SweepConfigError(f"{source}: budget_map.{key} entry {c!r}: {error}") from None


def budget_grid_from(parameters: Mapping[str, Any]) -> BudgetGrid:
    """The budget map's grid of ``parameters`` (``budget_map``)."""
    if "budget_map" not in parameters:
        raise SweepConfigError(
            f"{BUDGET_FILE}: no 'budget_map' key (expected budget_map.red_coverages, .vibrant_coverages and .seeds)"
        )
    return parse_budget_grid(parameters["budget_map"])


def refuse_stale_cells(
    grid: BudgetGrid, cells: Iterable[str], parameters: Mapping[str, Any], schedule: Any, catalog: Any
) -> None:
    """--only-missing-outputs keeps existing budget-map results: refuse if any of ``cells`` was made by another
    configuration."""
    import pandas as pd

    rows = []
    for namespace in sorted(cells):
        red, vibrant = grid.cells[namespace]
        for seed in grid.seeds:
            name = level_dataset(CELLS, namespace, f"run_record_seed_{seed}")
            if catalog.exists(name):
                record = catalog.load(name)
                rows.append(
                    {
                        "red_coverage": red,
                        "vibrant_coverage": vibrant,
                        **{k: record[k] for k in ("coverage", "seed", "fingerprint")},
                    }
                )
    if rows:
        current = current_cell_fingerprints(
            parameters["training"], parameters["labels"], parameters["grids"], schedule.digest, len(schedule)
        )
        check_cells_fresh(pd.DataFrame(rows), current)
