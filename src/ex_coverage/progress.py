"""Progress of a sweep: coverage levels and runs done, time elapsed and left.

When standard output is a terminal it is a rich progress bar; otherwise (a pipe, a log file, CI)
one log line per finished level. Either way the runners drive it from the main process, calling
:meth:`LevelProgress.node_finished` for every node that completes.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("ex_coverage.progress")

#: Name of the per-level training node (inside each coverage namespace).
TRAINING_NODE = "train_seeds"
#: Each training node writes one ``model_seed_<s>`` output per seed it trains: a run.
_RUN_OUTPUT = "model_seed_"


def is_training_node(name: str) -> bool:
    return name.endswith(f".{TRAINING_NODE}")


def _runs_of(node: Any) -> int:
    return sum(output.rsplit(".", 1)[-1].startswith(_RUN_OUTPUT) for output in node.outputs)


class LevelProgress:
    """Counts finished training nodes (one per coverage level) and the runs they trained.

    Use as a context manager around the run: in a terminal it shows a rich progress bar for as long
    as the block lasts; elsewhere :meth:`level_finished` logs one line per level.
    """

    @classmethod
    def for_nodes(cls, nodes: Iterable[Any], bar: bool | None = None) -> LevelProgress:
        """Progress over the training nodes among ``nodes`` (the nodes a run will execute)."""
        runs = {node.name: _runs_of(node) for node in nodes if is_training_node(node.name)}
        return cls(len(runs), runs, bar=bar)

    def __init__(
        self,
        total_levels: int,
        runs_per_level: dict[str, int] | None = None,
        clock=time.perf_counter,
        bar: bool | None = None,
    ) -> None:
        self.total = total_levels
        self.done = 0
        self._runs = runs_per_level or {}
        self.total_runs = sum(self._runs.values())
        self.runs_done = 0
        self._clock = clock
        self._start = clock()
        self._bar_wanted = sys.stdout.isatty() if bar is None else bar
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> LevelProgress:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> None:
        """Show the progress bar (in a terminal); without one, progress is logged per level."""
        if self._bar_wanted and self.total and self._bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("[bold]Training[/] coverage levels"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("· runs {task.fields[runs]}"),
                TextColumn("· elapsed"),
                TimeElapsedColumn(),
                TextColumn("· left {task.fields[left]}"),
            )
            self._task = self._bar.add_task("levels", total=self.total, runs=self._runs_text(), left="…")
            self._bar.start()

    def close(self) -> None:
        """Take the progress bar down (it stays on screen at its final state)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _runs_text(self) -> str:
        return f"{self.runs_done}/{self.total_runs}"

    def estimate_left(self, elapsed: float | None = None) -> float:
        """Seconds left at the average pace so far (levels finish at a steady rate)."""
        elapsed = self._clock() - self._start if elapsed is None else elapsed
        return elapsed / self.done * (self.total - self.done) if self.done else float("nan")

    def node_finished(self, node_name: str) -> None:
        """Count ``node_name`` if it is a level's training node; other nodes are ignored."""
        if is_training_node(node_name):
            self.level_finished(node_name.rsplit(".", 1)[0], self._runs.get(node_name, 0))

    def level_finished(self, level: str, runs: int = 0) -> str:
        """Record a finished level (and its runs); returns the progress line."""
        self.done += 1
        self.runs_done += runs
        elapsed = self._clock() - self._start
        left = self.estimate_left(elapsed)
        message = (
            f"Level {self.done}/{self.total} · {self._runs_text()} runs · {elapsed:.0f} s elapsed, "
            f"~{left:.0f} s left · {level}"
        )
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, runs=self._runs_text(), left=f"~{left:.0f} s")
        else:
            log.info(message)
        return message
