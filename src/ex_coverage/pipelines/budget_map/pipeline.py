"""The budget map: a training template per (red coverage, vibrant coverage) cell, then the map-wide tables,
heat maps and report."""

from __future__ import annotations

from itertools import chain

from kedro.pipeline import Node, Pipeline

from ex_coverage.pipelines.levels import CELLS, in_group, level_dataset
from ex_coverage.pipelines.training.pipeline import SHARED_INPUTS, SHARED_PARAMETERS, train_and_score_pipeline
from ex_coverage.science.budget import BudgetGrid
from ex_coverage.sweep import bind

from .nodes import (
    analyse_budget_map,
    build_budget_runs,
    fit_budget_surfaces,
    plot_budget_heat_maps,
    solve_cell_multipliers,
    summarise_budget_map,
    write_budget_report,
)


def cell_pipeline(red_coverage: float, vibrant_coverage: float, seeds) -> Pipeline:
    """Template: solve the cell's two label multipliers, then train and score every seed as a sweep level does."""
    solve = Node(
        bind(solve_cell_multipliers, red_coverage=red_coverage, vibrant_coverage=vibrant_coverage),
        "training_grid",
        "label_multiplier",
        name="solve_label_multipliers",
    )
    return Pipeline([solve]) + train_and_score_pipeline(seeds)


def create_pipeline(grid: BudgetGrid) -> Pipeline:
    """One namespaced copy of the cell template per cell, gathered into the run table in the ``cells`` group
    (see ``levels.py``), then the map built from it."""
    cells = sum(
        (
            Pipeline(
                cell_pipeline(red, vibrant, grid.seeds),
                namespace=namespace,
                inputs=SHARED_INPUTS,
                parameters=SHARED_PARAMETERS,
            )
            for namespace, (red, vibrant) in grid.cells.items()
        ),
        Pipeline([]),
    )
    gather = Node(
        build_budget_runs,
        [
            "params:reporting.thresholds",
            "params:training",
            "params:labels",
            "params:grids",
            "schedule",
            *chain.from_iterable(
                (level_dataset(CELLS, ns, "label_multiplier"), level_dataset(CELLS, ns, "run_scores"))
                for ns in grid.cells
            ),
        ],
        "budget_runs",
        name="build_budget_runs",
        namespace=CELLS,
    )
    map_wide = Pipeline(
        [
            Node(
                summarise_budget_map,
                ["budget_runs", "schedule", "params:training"],
                "budget_map",
                name="summarise_budget_map",
            ),
            Node(
                fit_budget_surfaces,
                ["budget_runs", "training_grid", "dopesheet", "params:training"],
                ["budget_fit", "budget_surfaces"],
                name="fit_budget_surfaces",
            ),
            Node(analyse_budget_map, ["budget_map", "params:reporting"], "budget_binding", name="analyse_budget_map"),
            Node(
                plot_budget_heat_maps,
                ["budget_map", "budget_binding", "budget_surfaces"],
                "budget_map_figure",
                name="plot_budget_map",
            ),
            Node(
                write_budget_report,
                ["budget_map", "budget_binding", "budget_surfaces"],
                "budget_map_report",
                name="write_budget_report",
            ),
        ]
    )
    return in_group(CELLS, cells, shared=SHARED_INPUTS) + Pipeline([gather]) + map_wide
