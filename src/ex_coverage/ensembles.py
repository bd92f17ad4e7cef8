"""Several coverage levels trained as one ensemble: a rewrite of the pipeline a runner is handed.

Training costs mostly per step, not per run, so the levels' training nodes are fastest trained together.
The DAG a user inspects keeps one training node per level (in the level's namespace); a runner that wants
ensembles calls :func:`train_levels_together` on the pipeline it is about to run — after Kedro has
filtered it (``--only-missing-outputs``: a finished level is never retrained) — and runs the result with
Kedro's own scheduling. The models are the same, bit for bit, as training each level alone.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from itertools import chain
from typing import Any

from kedro.pipeline import Node, Pipeline

from ex_coverage.pipelines.levels import level_of
from ex_coverage.progress import is_training_node, runs_of

#: Name of the nodes that train several levels together (numbered: ``train_together_1`` …).
ENSEMBLE_NODE = "train_together"


def trains_together(node: Node) -> bool:
    """Whether ``node`` is a level's training node (:func:`~ex_coverage.pipelines.training.nodes.train_level`)."""
    from ex_coverage.pipelines.training.nodes import train_level

    return is_training_node(node.name) and getattr(node.func, "function", None) is train_level


def plan_training_batches(nodes: Iterable[Node], workers: int, max_runs: int) -> list[tuple[Node, ...]]:
    """The training nodes among ``nodes`` in batches, each to be trained as one ensemble by one worker.

    One batch per worker (every core trains), more where a batch would exceed ``max_runs`` runs (a level
    larger than that is a batch of its own); runs are spread evenly, largest level first. Only nodes reading
    the same shared datasets share a batch. Deterministic.
    """
    groups: dict[tuple[str, ...], list[Node]] = {}
    for node in sorted((n for n in nodes if trains_together(n)), key=lambda n: n.name):
        shared = tuple(name for name in node.inputs if not name.startswith(f"{node.namespace}."))
        groups.setdefault(shared, []).append(node)
    batches: list[tuple[Node, ...]] = []
    for group in groups.values():
        count = min(len(group), max(workers, math.ceil(sum(map(runs_of, group)) / max_runs)))
        while True:
            bins: list[list[Node]] = [[] for _ in range(count)]
            for node in sorted(group, key=runs_of, reverse=True):
                min(bins, key=lambda b: sum(map(runs_of, b))).append(node)
            if count == len(group) or all(len(b) == 1 or sum(map(runs_of, b)) <= max_runs for b in bins):
                break
            count += 1
        batches += [tuple(sorted(b, key=lambda n: n.name)) for b in bins]
    return batches


class TrainTogether:
    """The function of an ensemble node: the training nodes ``nodes`` as one ensemble.

    Called with the loaded values of :attr:`inputs` (every input of the nodes, each once); returns every
    output of the nodes by dataset name, exactly as running each node alone would give it.
    """

    def __init__(
        self, nodes: Sequence[Node], name: str, on_steps: Callable[[str, int, int, int], None] | None = None
    ) -> None:
        self.nodes = tuple(nodes)
        self.name = name
        self.inputs = list(dict.fromkeys(chain.from_iterable(node.inputs for node in self.nodes)))
        self.on_steps = on_steps
        self.__name__ = ENSEMBLE_NODE
        self.__qualname__ = f"{type(self).__qualname__}.__call__"
        self.__doc__ = f"Train {', '.join(level_of(node) or node.name for node in self.nodes)} as one ensemble."

    def __call__(self, *values: Any) -> dict[str, Any]:
        import inspect

        from ex_coverage.pipelines.training.nodes import train_level, train_levels

        loaded = dict(zip(self.inputs, values))
        signature = inspect.signature(train_level)
        calls = [
            signature.bind(*(loaded[name] for name in node.inputs), **node.func.kwargs).arguments for node in self.nodes
        ]
        shared = {k: v for k, v in calls[0].items() if k not in ("label_multiplier", "seeds")}
        levels = [(call["label_multiplier"], call["seeds"]) for call in calls]
        on_steps = None if self.on_steps is None else partial(self.on_steps, self.name)
        results = train_levels(**shared, levels=levels, on_steps=on_steps)
        # The training template names each output dataset after its key (``model_seed_3`` → ``<level>.model_seed_3``).
        return {
            name: result[name.rsplit(".", 1)[-1]] for node, result in zip(self.nodes, results) for name in node.outputs
        }


def train_levels_together(
    pipeline: Pipeline, workers: int, max_runs: int, on_steps: Callable[[str, int, int, int], None] | None = None
) -> Pipeline:
    """``pipeline`` with its levels' training nodes replaced by ensemble nodes (:func:`plan_training_batches`),
    each reading the union of its levels' inputs and writing all of their outputs; every other node as it was.
    ``on_steps(node name, runs, steps_done, steps)`` is told how training goes (see :mod:`ex_coverage.progress`)."""
    batches = plan_training_batches(pipeline.nodes, workers, max_runs)
    if not batches:
        return pipeline
    replaced = set(chain.from_iterable(batches))
    with warnings.catch_warnings():
        # An ensemble trains several levels, so it belongs to none of their namespaces: Kedro says it reads and writes
        # dotted names from outside a namespace and "interrupts" the levels' namespaces. True, and harmless in the
        # pipeline a runner runs (kedro-viz never sees it).
        warnings.filterwarnings("ignore", message=r"Namespace '.*' is interrupted by nodes")
        warnings.filterwarnings("ignore", message=r"One or more dataset names contain '\.' characters")
        ensembles = []
        for number, batch in enumerate(batches, start=1):
            function = TrainTogether(batch, f"{ENSEMBLE_NODE}_{number}", on_steps)
            outputs = {name: name for node in batch for name in node.outputs}
            ensembles.append(Node(function, function.inputs, outputs, name=function.name))
        return Pipeline([node for node in pipeline.nodes if node not in replaced] + ensembles)
