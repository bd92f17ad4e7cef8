"""A running count of finished coverage levels with an estimate of the time left."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

log = logging.getLogger("ex_coverage.progress")

#: Name of the per-level training node (inside each coverage namespace).
TRAINING_NODE = "train_seeds"


def is_training_node(name: str) -> bool:
    return name.endswith(f".{TRAINING_NODE}")


class LevelProgress:
    """Counts finished training nodes (one per coverage level) and logs one line per level."""

    @classmethod
    def for_nodes(cls, node_names: Iterable[str]) -> LevelProgress:
        """Progress over the training nodes among ``node_names`` (the nodes a run will execute)."""
        return cls(sum(is_training_node(name) for name in node_names))

    def __init__(self, total_levels: int, clock=time.perf_counter) -> None:
        self.total = total_levels
        self.done = 0
        self._clock = clock
        self._start = clock()

    def estimate_left(self) -> float:
        """Seconds left at the average pace so far (levels finish at a steady rate)."""
        elapsed = self._clock() - self._start
        return elapsed / self.done * (self.total - self.done) if self.done else float("nan")

    def node_finished(self, node_name: str) -> None:
        """Log a progress line if ``node_name`` is a level's training node; other nodes are ignored."""
        if is_training_node(node_name):
            self.level_finished(node_name.rsplit(".", 1)[0])

    def level_finished(self, level: str) -> str:
        self.done += 1
        elapsed = self._clock() - self._start
        message = f"Trained {level}: {self.done}/{self.total} coverage levels, {elapsed:.0f} s elapsed, ~{self.estimate_left():.0f} s left"
        log.info(message)
        return message
