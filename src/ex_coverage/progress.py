"""Progress of a sweep: runs trained (step by step), levels scored, reporting nodes done, time elapsed and left.

The runner's main process keeps a :class:`SweepProgress`: it hears every finished node, and — through a
queue that worker processes write to (:func:`connect`, :func:`report_steps`) — how far each ensemble's
training is, every 5 % of its steps. A clock thread shows the state: a rich progress bar when standard
output is a terminal, else a log line at least every few seconds (a pipe, a log file, CI), so a long run is
never silent.
"""

from __future__ import annotations

import logging
import math
import queue as queues
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("ex_coverage.progress")

#: Name of the per-level training node (inside each coverage namespace).
TRAINING_NODE = "train_seeds"
#: Each training node writes one ``model_seed_<s>`` output per seed it trains: a run. A run's results are
#: ``<what>_seed_<s>``.
RUN_OUTPUT = "model_seed_"
SEED = "_seed_"
#: Seconds of one core per unit of work (:func:`work_of`) of the nodes after training, when none has been timed yet
#: in this run: fitted to the default sweep (180 units in 50 core-seconds after training) and the ``large`` one
#: (2120 units in 410), 2 cores.
PRIOR_UNIT_S = 0.22
#: After training, the other nodes' own pace replaces :data:`PRIOR_UNIT_S` once this many have finished (the first
#: few say little: two workers finish them in bursts).
PACE_AFTER = 10
#: Lines (without a terminal) come at least this often, and at most every eighth of the time elapsed.
LINE_EVERY_S = 2.0


def is_training_node(name: str) -> bool:
    return name.endswith(f".{TRAINING_NODE}")


def runs_of(node: Any) -> int:
    """The runs a node trains: one ``model_seed_<s>`` output each (a level's training node, or an ensemble's)."""
    return sum(output.rsplit(".", 1)[-1].startswith(RUN_OUTPUT) for output in node.outputs)


def _trains(node: Any) -> bool:
    return runs_of(node) > 0


def work_of(node: Any) -> int:
    """A node's share of the work besides training: one unit per run whose results it reads (scoring a level's
    seeds, its seed overview), at least one (a figure of one seed, a fit, a table)."""
    seeds = {name.rsplit(SEED, 1)[-1] for name in node.inputs if SEED in name.rsplit(".", 1)[-1]}
    return max(1, len(seeds))


#: The queue a worker process reports training steps to (set in the worker by :func:`connect`).
_channel: Any = None


def connect(channel: Any) -> None:
    """In a worker process (a pool's initializer): send :func:`report_steps` to ``channel``."""
    global _channel
    _channel = channel


def report_steps(node: str, runs: int, steps_done: int, steps: int) -> None:
    """Called by training every few steps in a worker: node ``node``'s ``runs`` runs have done ``steps_done`` of
    ``steps``."""
    if _channel is not None:
        _channel.put((node, runs, steps_done, steps))


class SweepProgress:
    """What a run has done of its nodes: runs trained (fractions of runs while an ensemble trains), scoring and
    reporting nodes finished; and the time left.

    ``nodes`` are the nodes the run executes (after the runner's rewrite), ``workers`` the processes running them.
    Use as a context manager around the run; feed it :meth:`steps` and :meth:`node_finished`.
    """

    def __init__(
        self,
        nodes: Iterable[Any],
        workers: int = 1,
        bar: bool | None = None,
        clock: Callable[[], float] = time.perf_counter,
        line_every: float = LINE_EVERY_S,
    ) -> None:
        nodes = list(nodes)
        self.line_every = line_every
        self.total_runs = sum(runs_of(node) for node in nodes)
        self.total_other = sum(not _trains(node) for node in nodes)
        self.total_work = sum(work_of(node) for node in nodes if not _trains(node))
        self.workers = max(1, workers)
        self.runs_finished = 0
        self.other_done = 0
        self.work_done = 0
        self._in_flight: dict[str, tuple[int, float]] = {}  # training node → (runs, fraction of its steps done)
        self._finished: set[str] = set()
        self._clock = clock
        self._start = clock()
        self._training_end: float | None = None if self.total_runs else self._start
        self._other_at_training_end = 0
        self._work_at_training_end = 0
        self._lock = threading.Lock()
        self._bar_wanted = sys.stdout.isatty() if bar is None else bar
        self._bar: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_line = self._start
        self._shown: tuple[float, int] | None = None

    # -- what happened ------------------------------------------------------------------------------------------
    def steps(self, node: str, runs: int, steps_done: int, steps: int) -> None:
        """Training node ``node`` (``runs`` runs) has done ``steps_done`` of its ``steps`` (a report that arrives
        after the node finished is ignored)."""
        with self._lock:
            if node not in self._finished:
                self._in_flight[node] = (runs, steps_done / steps)

    def node_finished(self, node: Any) -> None:
        """Count a finished node: a training node's runs, or one other node (data engineering, scoring, reporting)."""
        with self._lock:
            if _trains(node):
                self._finished.add(node.name)
                self._in_flight.pop(node.name, None)
                self.runs_finished += runs_of(node)
                if self.runs_finished >= self.total_runs:
                    self._training_end = self._clock()
                    self._other_at_training_end = self.other_done
                    self._work_at_training_end = self.work_done
            else:
                self.other_done += 1
                self.work_done += work_of(node)

    # -- what it means ------------------------------------------------------------------------------------------
    @property
    def runs_trained(self) -> float:
        """Runs trained, counting an ensemble in training by the fraction of its steps done."""
        return self.runs_finished + sum(runs * done for runs, done in self._in_flight.values())

    def estimate_left(self, now: float | None = None) -> float:
        """Seconds left: training at its pace so far, then the other nodes' work (:func:`work_of`) at its pace since
        training ended (before then, and until :data:`PACE_AFTER` nodes have finished, :data:`PRIOR_UNIT_S` a unit,
        shared by the workers). NaN until training has made some progress."""
        now = self._clock() if now is None else now
        work_left = self.total_work - self.work_done
        prior = work_left * PRIOR_UNIT_S / self.workers
        if self._training_end is None:
            trained = self.runs_trained
            if trained <= 0:
                return math.nan
            return (now - self._start) * (self.total_runs - trained) / trained + prior
        if self.other_done - self._other_at_training_end < PACE_AFTER:
            return prior
        return work_left * (now - self._training_end) / (self.work_done - self._work_at_training_end)

    def line(self, now: float | None = None) -> str:
        """``Training 34.2/60 runs · other nodes 12/97 · 14 s elapsed, ~11 s left`` (other nodes: data engineering,
        scoring, reporting)."""
        now = self._clock() if now is None else now
        with self._lock:
            left = self.estimate_left(now)
            parts = []
            if self.total_runs:
                parts.append(f"Training {self.runs_trained:.1f}/{self.total_runs} runs".replace(".0/", "/"))
            parts.append(f"other nodes {self.other_done}/{self.total_other}")
        estimate = "" if math.isnan(left) else f", ~{left:.0f} s left"
        return " · ".join(parts) + f" · {now - self._start:.0f} s elapsed{estimate}"

    # -- showing it ---------------------------------------------------------------------------------------------
    def __enter__(self) -> SweepProgress:
        if self._bar_wanted:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"), TimeElapsedColumn()
            )
            self._task = self._bar.add_task("[bold]Sweep[/]", total=1.0, detail="")
            self._bar.start()
        self._thread = threading.Thread(target=self._tick, name="sweep-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._show(final=True)
        if self._bar is not None:
            self._bar.stop()

    def _tick(self) -> None:
        while not self._stop.wait(0.25):
            now = self._clock()
            if self._bar is not None or now - self._last_line >= max(self.line_every, (now - self._start) / 8):
                self._show(now)

    def _show(self, now: float | None = None, final: bool = False) -> None:
        now = self._clock() if now is None else now
        text = self.line(now)
        if self._bar is not None:
            total = self.total_runs + self.total_other
            done = (self.runs_trained + self.other_done) / total if total else 1.0
            self._bar.update(self._task, completed=done, detail=text.split(" · ", 1)[-1] if final else text)
        elif not final or self._shown != (self.runs_trained, self.other_done):
            log.info(text)  # the last line only when it says something new
        self._shown = (self.runs_trained, self.other_done)
        self._last_line = now


def listen(channel: Any, progress: SweepProgress) -> threading.Thread:
    """A thread that feeds ``progress`` the steps workers send on ``channel`` until it receives None."""

    def drain() -> None:
        while True:
            try:
                message = channel.get(timeout=1.0)
            except queues.Empty:
                continue
            if message is None:
                return
            progress.steps(*message)

    thread = threading.Thread(target=drain, name="sweep-progress-channel", daemon=True)
    thread.start()
    return thread
