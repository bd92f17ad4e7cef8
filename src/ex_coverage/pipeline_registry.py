"""Project pipelines, built for the sweep grid and the budget map's grid in the active configuration."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from ex_coverage.budget_grid import active_budget_grid
from ex_coverage.pipelines import budget_map, data_engineering, reporting, training
from ex_coverage.sweep import active_grid


def register_pipelines() -> dict[str, Pipeline]:
    """``data_engineering``, ``training`` (one namespace per coverage level), ``reporting``, ``sweep`` = all three,
    and ``budget_map`` (data_engineering, one namespace per budget cell, the map)."""
    grid = active_grid()
    pipelines = {
        "data_engineering": data_engineering.create_pipeline(),
        "training": training.create_pipeline(grid),
        "reporting": reporting.create_pipeline(grid),
    }
    pipelines["sweep"] = pipelines["data_engineering"] + pipelines["training"] + pipelines["reporting"]
    pipelines["budget_map"] = pipelines["data_engineering"] + budget_map.create_pipeline(active_budget_grid())
    pipelines["__default__"] = pipelines["sweep"]
    return pipelines
