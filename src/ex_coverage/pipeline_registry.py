"""Project pipelines, built for the sweep grid in the active configuration."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from ex_coverage.pipelines import data_engineering, reporting, training
from ex_coverage.sweep import active_grid


def register_pipelines() -> dict[str, Pipeline]:
    """``data_engineering``, ``training`` (one namespace per coverage level), ``reporting``, and ``sweep`` = all three."""
    grid = active_grid()
    pipelines = {
        "data_engineering": data_engineering.create_pipeline(),
        "training": training.create_pipeline(grid),
        "reporting": reporting.create_pipeline(grid),
    }
    pipelines["sweep"] = pipelines["data_engineering"] + pipelines["training"] + pipelines["reporting"]
    pipelines["__default__"] = pipelines["sweep"]
    return pipelines
