"""The per-level training template and its instantiation for every coverage level of the sweep."""

from __future__ import annotations

from itertools import chain

from kedro.pipeline import Node, Pipeline

from ex_coverage.pipelines.levels import LEVELS, in_group
from ex_coverage.progress import TRAINING_NODE
from ex_coverage.sweep import SweepGrid, bind

from .nodes import score_level, solve_label_multiplier, train_level

#: Global datasets and parameters the template reads; everything else lives in the level's namespace.
SHARED_INPUTS = {
    "training_grid",
    "validation_grid",
    "schedule",
    "hue_ring",
    "hsv_grid_fine",
    "hsv_grid_coarse",
    "rgb_grid_fine",
}
SHARED_PARAMETERS = {"params:training", "params:labels", "params:grids"}


def per_seed(name: str, seeds) -> dict[str, str]:
    return {f"{name}_seed_{s}": f"{name}_seed_{s}" for s in seeds}


def level_pipeline(coverage: float, seeds) -> Pipeline:
    """Template: solve the label multiplier, train all seeds, score them — namespace-free names."""
    solve = Node(
        bind(solve_label_multiplier, coverage=coverage),
        ["training_grid", "schedule", "params:training"],
        "label_multiplier",
        name="solve_label_multiplier",
    )
    return Pipeline([solve]) + train_and_score_pipeline(seeds)


def train_and_score_pipeline(seeds) -> Pipeline:
    """Template: train all seeds with the namespace's ``label_multiplier``, score them (also used by the budget map)."""
    training_outputs = per_seed("model", seeds) | per_seed("history", seeds) | per_seed("run_record", seeds)
    score_outputs = (
        per_seed("latents", seeds)
        | per_seed("error_profile", seeds)
        | per_seed("suppression", seeds)
        | {"run_scores": "run_scores"}
    )
    return Pipeline(
        [
            Node(
                bind(train_level, seeds=tuple(seeds)),
                [
                    "training_grid",
                    "validation_grid",
                    "schedule",
                    "label_multiplier",
                    "params:training",
                    "params:labels",
                    "params:grids",
                ],
                training_outputs,
                name=TRAINING_NODE,
            ),
            Node(
                score_level,
                [
                    "hue_ring",
                    "hsv_grid_fine",
                    "hsv_grid_coarse",
                    "rgb_grid_fine",
                    *chain.from_iterable((f"run_record_seed_{s}", f"model_seed_{s}") for s in seeds),
                ],
                score_outputs,
                name="score_seeds",
            ),
        ]
    )


def create_pipeline(grid: SweepGrid) -> Pipeline:
    """One namespaced copy of the template per coverage level (grid and refinement levels alike), all in the
    ``levels`` group (see ``levels.py``): ``levels.<level>.run_scores`` and the rest stay there."""
    levels = sum(
        (
            Pipeline(
                level_pipeline(coverage, grid.seeds_at(coverage)),
                namespace=namespace,
                inputs=SHARED_INPUTS,
                parameters=SHARED_PARAMETERS,
            )
            for namespace, coverage in grid.namespaces.items()
        ),
        Pipeline([]),
    )
    return in_group(LEVELS, levels, shared=SHARED_INPUTS)
