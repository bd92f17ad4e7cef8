"""Coverage levels (and budget cells) as nested Kedro namespaces: one group holds them all.

Each coverage level is a namespace ``levels.<level>`` (e.g. ``levels.coverage_0p01``) holding two templates,
training (``pipelines/training``) and the level's own reporting (``pipelines/reporting``); the group ``levels``
also holds what gathers the levels (the run table, the named-colour table, the latent overview, the index of
level pages). Its datasets are named after their namespace (``levels.coverage_0p01.model_seed_3``), and only
the gathered results leave the group, under plain names. So kedro-viz's first view shows one ``levels`` box
between data engineering and reporting; expanding it shows the levels, and a level shows its runs. A budget
cell is the same under ``cells`` (``cells.budget_r0p001_v0p0005``).

The catalog's factories ``{group}.{level}.<name>`` file a level's datasets under ``data/…/<level>/``.
"""

from __future__ import annotations

from collections.abc import Iterable

from kedro.pipeline import Node, Pipeline

#: The group of the sweep's coverage levels, and the budget map's group of cells.
LEVELS = "levels"
CELLS = "cells"


def level_dataset(group: str, level: str, name: str) -> str:
    """The catalog name of ``level``'s dataset ``name``, e.g. ``levels.coverage_0p01.run_scores``."""
    return f"{group}.{level}.{name}"


def level_of(node: Node) -> str | None:
    """The coverage level (or budget cell) a node belongs to, e.g. ``coverage_0p01``; None for any other node."""
    parts = (node.namespace or "").split(".")
    return parts[1] if len(parts) > 1 and parts[0] in (LEVELS, CELLS) else None


def in_group(group: str, levels: Pipeline, shared: Iterable[str] = ()) -> Pipeline:
    """``levels`` (each already in its own namespace) in namespace ``group``: their datasets gain the group's
    prefix, except the ``shared`` inputs (data engineering's results) and the parameters.

    What gathers the levels is a node of namespace ``group`` reading :func:`level_dataset` names.
    """
    inputs = levels.inputs()
    return Pipeline(
        levels,
        namespace=group,
        inputs={name for name in shared if name in inputs},
        parameters={name for name in inputs if name.startswith("params:")},
    )
