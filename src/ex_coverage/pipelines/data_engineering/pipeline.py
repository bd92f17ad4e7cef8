"""The data_engineering pipeline: the parsed schedule and every colour grid the sweep trains on or evaluates on."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    make_hsv_grid,
    make_hue_ring,
    make_rgb_evaluation_grid,
    make_training_grid,
    make_validation_grid,
    resolve_schedule,
)


def create_pipeline(**kwargs) -> Pipeline:
    """The ``data_engineering`` group (one box in kedro-viz); its datasets keep their plain names."""
    nodes = Pipeline(
        [
            Node(resolve_schedule, "dopesheet", "schedule", name="resolve_schedule"),
            Node(make_training_grid, ["params:grids", "params:labels"], "training_grid", name="make_training_grid"),
            Node(
                make_validation_grid, ["params:grids", "params:labels"], "validation_grid", name="make_validation_grid"
            ),
            Node(make_hue_ring, "params:grids", "hue_ring", name="make_hue_ring"),
            Node(make_hsv_grid, "params:grids.hsv_fine", "hsv_grid_fine", name="make_hsv_grid_fine"),
            Node(make_hsv_grid, "params:grids.hsv_coarse", "hsv_grid_coarse", name="make_hsv_grid_coarse"),
            Node(make_rgb_evaluation_grid, "params:grids", "rgb_grid_fine", name="make_rgb_grid_fine"),
        ]
    )
    return Pipeline(nodes, namespace="data_engineering", prefix_datasets_with_namespace=False)
