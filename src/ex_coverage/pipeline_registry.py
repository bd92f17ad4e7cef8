"""Project pipelines, built for the sweep grid and the budget map's grid of the configuration environment."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from ex_coverage.budget_grid import budget_grid_from
from ex_coverage.pipelines import budget_map, data_engineering, reporting, training
from ex_coverage.sweep import grid_from, load_configuration


def register_pipelines() -> dict[str, Pipeline]:
    """``data_engineering``, ``training`` (one namespace per coverage level), ``reporting``, ``sweep`` = all three,
    and ``budget_map`` (data_engineering, one namespace per budget cell, the map).

    The grids are read from the configuration of ``KEDRO_ENV`` (``kedro run --env`` sets it; default ``local``),
    with the levels ``kedro refine`` added there (:func:`ex_coverage.sweep.grid_from`).
    """
    parameters, catalog = load_configuration()
    grid = grid_from(parameters, catalog)
    pipelines = {
        "data_engineering": data_engineering.create_pipeline(),
        "training": training.create_pipeline(grid),
        "reporting": reporting.create_pipeline(grid),
    }
    pipelines["sweep"] = pipelines["data_engineering"] + pipelines["training"] + pipelines["reporting"]
    pipelines["budget_map"] = pipelines["data_engineering"] + budget_map.create_pipeline(budget_grid_from(parameters))
    pipelines["__default__"] = pipelines["sweep"]
    return pipelines
