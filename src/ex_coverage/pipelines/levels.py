"""What crosses a coverage level's namespace boundary.

Each coverage level is one Kedro namespace holding two templates: training (``pipelines/training``)
and the level's own reporting (``pipelines/reporting``). Everything per seed — models, histories,
run records, latents, error profiles, the level's figures — is made *and used* inside the
namespace, so kedro-viz draws it inside the level's collapsible box. Only the datasets named here
leave it, each under an undotted name ``<level>_<what>`` (a dotted name read outside its namespace
makes Kedro warn):

- ``run_scores``: one row per seed, read by the sweep-wide run table;
- ``overview_latents``: the figure seed's latents of the fine RGB cube, for the sweep's latent overview;
- ``report``: the level's page (``levels/<level>.md``), which links the level's figures.

A new per-level result stays inside by being read by a node of the level (e.g. the level page); add
it here only if sweep-wide reporting needs it.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Names (inside a level's templates) of the datasets that cross the level's boundary.
LEVEL_OUTPUTS = ("run_scores", "overview_latents", "report")


def boundary_name(namespace: str, name: str) -> str:
    """The top-level name of a level's dataset that crosses its boundary, e.g. ``coverage_0p01_run_scores``."""
    return f"{namespace}_{name}"


def crossing(namespace: str, names: Iterable[str]) -> dict[str, str]:
    """Mapping for ``Pipeline(..., namespace=namespace, inputs=/outputs=...)`` of the given boundary datasets."""
    return {name: boundary_name(namespace, name) for name in names}
