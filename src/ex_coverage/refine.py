"""``kedro refine`` (SPEC §9a): rounds of new (coverage, seed) runs near the working window's edges until both
intervals (ED80's and, with a downturn, the upper edge's) are narrow enough or the run budget is spent.

Each round goes, whole, to the edge whose interval is wider (:func:`ex_coverage.science.estimate.edge_to_refine`):
runs at its estimate and at its interval's ends.

Each round is recorded *before* it trains, with the data: the catalog entry ``refinement_levels_<env>``
(``data/05_model_input/refinement/<env>.json``), which the sweep grid reads (:func:`ex_coverage.sweep.grid_from`):
the new levels are ordinary sweep levels (own namespace, catalog entries from the dataset factories, resumable
with ``--only-missing-outputs``, shown by kedro-viz), and ``kedro run --pipeline reporting`` alone reproduces the
refined report. Configuration (``conf/``) is never written. An interrupted round loses nothing: its levels are
already recorded, its finished runs persisted, and the next ``kedro refine`` (or ``kedro run
--only-missing-outputs``) trains what is missing. Deleting the entry's file returns to the configured grid.

All rounds run in one process, one :class:`KedroSession` per round (a session runs once), so a round does not
pay Python and Kedro start-up again.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ex_coverage import tracking
from ex_coverage.science.estimate import DoseResponse, edge_to_refine, fit_dose_response, refinement_points
from ex_coverage.science.records import level_namespace
from ex_coverage.sweep import (
    SweepGrid,
    configured_grid,
    load_configuration,
    rebuild_pipelines,
    recorded_refinement,
    refinement_entry,
)

log = logging.getLogger(__name__)


@dataclass
class RoundResult:
    """What one step of refinement left: the fit of ``effective`` over every run so far, and (after a round)
    which edge the round's runs went to."""

    fit: DoseResponse
    runs: int
    seconds: float
    seeds_per_level: int
    edge: str | None = None  # "ed80" or "upper": where the round's runs went (None: the state before any round)
    added: int = 0  # runs the round added

    @property
    def ed80(self) -> float | None:
        return None if self.fit.ed80 is None else self.fit.ed80.coverage

    @property
    def ed80_width(self) -> float:
        """ED80's interval width in decades (inf when not estimable or unbounded)."""
        return math.inf if self.fit.ed80 is None else self.fit.ed80.width

    @property
    def upper_width(self) -> float | None:
        """The upper edge's interval width in decades; None without a downturn (no upper edge)."""
        return None if self.fit.upper is None else self.fit.upper.width


def narrow_enough(fit: DoseResponse, width: float) -> bool:
    """Both intervals narrower than ``width`` decades (ED80's alone where the fit has no upper edge)."""
    return fit.ed80 is not None and fit.ed80.width < width and (fit.upper is None or fit.upper.width < width)


def recorded_levels(catalog: Any, env: str | None) -> list[dict[str, Any]]:
    """The levels refinement has added in ``env`` so far (each with its seeds and round)."""
    return list((recorded_refinement(catalog, env) or {}).get("levels") or [])


def record_round(project_path: Path, env: str | None, levels: list[dict[str, Any]], round_number: int) -> None:
    """Add a round's levels to the refinement entry (saved atomically: a crash leaves the old or the new file) and
    have the pipelines built again with them."""
    _, catalog = load_configuration(env, project_path)
    recorded = recorded_levels(catalog, env)
    recorded += [{**level, "seeds": list(level["seeds"]), "round": round_number} for level in levels]
    catalog.save(refinement_entry(env), {"levels": recorded})
    rebuild_pipelines()


def plan_round(fit: DoseResponse, grid: SweepGrid, runs_left: int, seeds_per_level: int) -> list[dict[str, Any]]:
    """New levels (coverage, seeds, edge) for the next round: at the wider edge's estimate and its interval's ends
    (:func:`edge_to_refine`), fresh seeds shared by the round's levels (so they compare paired), trimmed to
    ``runs_left``. A point that would share a namespace with an existing level is nudged up by 1 % until it does
    not."""
    edge = edge_to_refine(fit)
    points = refinement_points(fit, grid.levels, edge=edge)
    if not points or runs_left <= 0:
        return []
    taken = set(grid.namespaces)
    top = max(grid.levels)
    chosen = []
    for c in points:
        c = min(c, top)
        while level_namespace(c) in taken:
            c = float(f"{c * 1.01:.4g}")
        taken.add(level_namespace(c))
        chosen.append(c)
    per_level = max(1, min(seeds_per_level, runs_left // len(chosen)))
    chosen = chosen[: max(1, runs_left // per_level)]
    first = max([*grid.seeds, *(s for _, seeds in grid.refinement for s in seeds)]) + 1
    seeds = list(range(first, first + per_level))
    return [{"coverage": c, "seeds": seeds, "edge": edge} for c in chosen]


def _crossing_text(name: str, crossing: Any) -> str:
    low, high = crossing.coverage_interval()
    width = "∞" if crossing.width == float("inf") else f"{crossing.width:.2f}"
    return (
        f"{name} {crossing.coverage:.3g} [{'unbounded' if low is None else f'{low:.3g}'}, "
        f"{'unbounded' if high is None else f'{high:.3g}'}] ({width} decades)"
    )


def _describe(fit: DoseResponse) -> str:
    if fit.ed80 is None:
        return f"ED80 not estimable ({fit.reason})"
    upper = _crossing_text("upper edge", fit.upper) if fit.upper is not None else "no upper edge"
    return f"{_crossing_text('ED80', fit.ed80)}, {upper} ({fit.model})"


def _session(project_path: Path, env: str | None, params: dict[str, Any]):
    from kedro.framework.session import KedroSession

    return KedroSession.create(project_path=project_path, env=env, runtime_params=params or None)


def train_and_fit(project_path: Path, env: str | None, params: dict[str, Any], runner: Any) -> RoundResult:
    """Train every missing run of the current grid (refinement levels included), then fit ``effective``."""
    from ex_coverage.pipelines.levels import LEVELS, level_dataset
    from ex_coverage.pipelines.reporting.nodes import build_run_table

    start = time.perf_counter()
    with _session(project_path, env, params) as session:
        session.run(pipeline_names=["data_engineering", "training"], runner=runner, only_missing_outputs=True)
        context = session.load_context()
    catalog = context.catalog
    grid = configured_grid(env, project_path)
    parameters = context.params
    runs = build_run_table(
        parameters["reporting"]["thresholds"],
        parameters["training"],
        parameters["labels"],
        parameters["grids"],
        catalog.load("schedule"),
        *(catalog.load(level_dataset(LEVELS, ns, "run_scores")) for ns in grid.namespaces),
        refinement_runs=grid.refinement_runs,
    )
    fit = fit_dose_response(runs["coverage"], runs["effective"], checks=False)
    seeds_per_level = int((parameters.get("refine") or {}).get("seeds_per_level", 4))
    return RoundResult(fit, len(runs), time.perf_counter() - start, seeds_per_level)


def refine(
    project_path: Path,
    env: str | None,
    params: dict[str, Any],
    width: float,
    budget: int,
    runner_factory: Callable[[], Any],
    echo: Callable[[str], None] = print,
) -> DoseResponse:
    """Rounds until both intervals (effective) are narrower than ``width`` decades — ED80's alone without a
    downturn — or ``budget`` runs are added; then the reporting pipeline. Returns the last fit."""
    started = time.perf_counter()
    result = train_and_fit(project_path, env, params, runner_factory())
    tracking.log_round(result.fit, result.runs)
    echo(f"refine: start — {result.runs} runs; {_describe(result.fit)} [{result.seconds:.0f} s]")
    added = 0
    recorded = recorded_levels(load_configuration(env, project_path)[1], env)
    round_number = max((int(level.get("round", 0)) for level in recorded), default=0)
    by_edge = {"ed80": 0, "upper": 0}
    while True:
        fit = result.fit
        if narrow_enough(fit, width):
            both = "both intervals are" if fit.upper is not None else "the ED80 interval is (no upper edge)"
            echo(f"refine: done — {both} narrower than {width:g} decades; {added} runs added{_split(by_edge)}")
            break
        if added >= budget:
            widths = f"ED80 {result.ed80_width:.2f}" + (
                f", upper edge {result.upper_width:.2f}" if result.upper_width is not None else ""
            )
            echo(
                f"refine: budget spent — {added} of {budget} runs added{_split(by_edge)}; "
                f"an interval is still wider than {width:g} decades ({widths} decades)"
            )
            break
        levels = plan_round(fit, configured_grid(env, project_path), budget - added, result.seeds_per_level)
        if not levels:
            echo(f"refine: stopped — more runs near the current data cannot locate ED80 ({fit.reason})")
            break
        round_number += 1
        record_round(project_path, env, levels, round_number)
        new_runs = sum(len(level["seeds"]) for level in levels)
        edge = levels[0]["edge"]
        added += new_runs
        by_edge[edge] += new_runs
        result = train_and_fit(project_path, env, params, runner_factory())
        result.edge, result.added = edge, new_runs
        tracking.log_round(result.fit, result.runs)
        where = ", ".join(f"{level['coverage']:g}" for level in levels)
        echo(
            f"refine: round {round_number} — +{new_runs} runs for {_EDGE_NAMES[edge]} at {where} (seeds "
            f"{levels[0]['seeds'][0]}–{levels[0]['seeds'][-1]}; {added}/{budget} of budget); {_describe(result.fit)} "
            f"[{result.seconds:.0f} s]"
        )
    with _session(project_path, env, params) as session:
        stale = report_nodes_to_run(session.load_context().catalog)
        session.run(pipeline_names=["reporting"], node_names=stale, runner=runner_factory())
    echo(f"refine: report regenerated; {time.perf_counter() - started:.0f} s in all")
    return result.fit


_EDGE_NAMES = {"ed80": "ED80", "upper": "the upper edge"}


def _split(by_edge: dict[str, int]) -> str:
    return f" ({by_edge['ed80']} for ED80, {by_edge['upper']} for the upper edge)" if by_edge["upper"] else ""


def report_nodes_to_run(catalog: Any) -> list[str]:
    """The reporting nodes a refinement makes stale: everything sweep-wide (the run table changed) and the pages
    and figures of levels without a page yet (the new ones). A level's own page and figures depend on its runs
    alone, so those of earlier levels stay as they are."""
    from kedro.framework.project import pipelines

    from ex_coverage.pipelines.levels import LEVELS, level_dataset, level_of

    return [
        node.name
        for node in pipelines["reporting"].nodes
        if (level := level_of(node)) is None or not catalog.exists(level_dataset(LEVELS, level, "report"))
    ]
