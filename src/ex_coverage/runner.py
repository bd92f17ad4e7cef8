"""Runners for the sweep.

``SweepRunner`` is Kedro's ParallelRunner (one process per core) that also logs a line per finished
coverage level with levels done / total and the estimated time left. It is this project's default
for ``kedro run`` (see ``cli.py``).
"""

from __future__ import annotations

from typing import Any

from kedro.runner import ParallelRunner

from ex_coverage.progress import TRAINING_NODE, LevelProgress


class SweepRunner(ParallelRunner):
    """ParallelRunner with per-level progress; ``max_workers`` defaults to the number of cores."""

    def _run(self, pipeline: Any, catalog: Any, hook_manager: Any = None, run_id: str | None = None) -> None:
        levels = [n for n in pipeline.nodes if n.name.endswith(f".{TRAINING_NODE}")]
        self._progress = LevelProgress(len(levels)) if levels else None
        return super()._run(pipeline, catalog, hook_manager, run_id)

    # Kedro calls this in the main process after each node completes: the one place that sees them all.
    def _release_datasets(self, node: Any, catalog: Any, load_counts: Any, pipeline: Any) -> None:
        super()._release_datasets(node, catalog, load_counts, pipeline)
        if self._progress is not None and node.name.endswith(f".{TRAINING_NODE}"):
            self._progress.level_finished(node.namespace or node.name)
