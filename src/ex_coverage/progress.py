"""A running count of finished coverage levels with an estimate of the time left."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("ex_coverage.progress")

TRAINING_NODE = "train_seeds"


class LevelProgress:
    """Counts finished training nodes (one per coverage level) and logs one line per level."""

    def __init__(self, total_levels: int, clock=time.perf_counter) -> None:
        self.total = total_levels
        self.done = 0
        self._clock = clock
        self._start = clock()

    def estimate_left(self) -> float:
        """Seconds left at the average pace so far (levels finish at a steady rate)."""
        elapsed = self._clock() - self._start
        return elapsed / self.done * (self.total - self.done) if self.done else float("nan")

    def level_finished(self, level: str) -> str:
        self.done += 1
        elapsed = self._clock() - self._start
        message = f"Trained {level}: {self.done}/{self.total} coverage levels, {elapsed:.0f} s elapsed, ~{self.estimate_left():.0f} s left"
        log.info(message)
        return message
