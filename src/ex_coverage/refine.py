"""``kedro refine`` (SPEC §9a): rounds of new (coverage, seed) runs near the current ED80 until its interval is
narrow enough or the run budget is spent.

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
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ex_coverage import tracking
from ex_coverage.science.estimate import DoseResponse, fit_dose_response, refinement_points
from ex_coverage.science.records import level_namespace
from ex_coverage.sweep import SweepGrid, configured_grid, load_configuration, rebuild_pipelines, refinement_entry

log = logging.getLogger(__name__)


@dataclass
class RoundResult:
    """What one step of refinement left: the fit of ``effective`` over every run so far."""

    fit: DoseResponse
    runs: int
    seconds: float
    seeds_per_level: int


def recorded_levels(project_path: Path, env: str | None) -> list[dict[str, Any]]:
    """The levels refinement has added in ``env`` so far (each with its seeds and round)."""
    _, catalog = load_configuration(env, project_path)
    name = refinement_entry(env)
    return list((catalog.load(name) or {}).get("levels") or []) if catalog.exists(name) else []


def record_round(project_path: Path, env: str | None, levels: list[dict[str, Any]], round_number: int) -> None:
    """Add a round's levels to the refinement entry (saved atomically: a crash leaves the old or the new file) and
    have the pipelines built again with them."""
    recorded = recorded_levels(project_path, env)
    recorded += [{**level, "seeds": list(level["seeds"]), "round": round_number} for level in levels]
    _, catalog = load_configuration(env, project_path)
    catalog.save(refinement_entry(env), {"levels": recorded})
    rebuild_pipelines()


def plan_round(fit: DoseResponse, grid: SweepGrid, runs_left: int, seeds_per_level: int) -> list[dict[str, Any]]:
    """New levels (coverage, seeds) for the next round: at ED80 and its interval's edges, fresh seeds shared by
    the round's levels (so they compare paired), trimmed to ``runs_left``. A point that would share a namespace
    with an existing level is nudged up by 1 % until it does not."""
    points = refinement_points(fit, grid.levels)
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
    return [{"coverage": c, "seeds": seeds} for c in chosen]


def _describe(fit: DoseResponse) -> str:
    if fit.ed80 is None:
        return f"ED80 not estimable ({fit.reason})"
    low, high = fit.ed80.coverage_interval()
    width = "∞" if fit.ed80.width == float("inf") else f"{fit.ed80.width:.2f}"
    return (
        f"ED80 {fit.ed80.coverage:.3g} [{'unbounded' if low is None else f'{low:.3g}'}, "
        f"{'unbounded' if high is None else f'{high:.3g}'}] ({width} decades, {fit.model})"
    )


def _session(project_path: Path, env: str | None, params: dict[str, Any]):
    from kedro.framework.session import KedroSession

    return KedroSession.create(project_path=project_path, env=env, runtime_params=params or None)


def train_and_fit(project_path: Path, env: str | None, params: dict[str, Any], runner: Any) -> RoundResult:
    """Train every missing run of the current grid (refinement levels included), then fit ``effective``."""
    from ex_coverage.pipelines.levels import boundary_name
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
        *(catalog.load(boundary_name(ns, "run_scores")) for ns in grid.namespaces),
        refinement_runs=grid.refinement_runs,
    )
    fit = fit_dose_response(runs["coverage"], runs["effective"])
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
    """Rounds until the effective ED80 interval is narrower than ``width`` decades or ``budget`` runs are added;
    then the reporting pipeline. Returns the last fit."""
    started = time.perf_counter()
    result = train_and_fit(project_path, env, params, runner_factory())
    tracking.log_round(result.fit, result.runs)
    echo(f"refine: start — {result.runs} runs; {_describe(result.fit)} [{result.seconds:.0f} s]")
    added = 0
    round_number = max((int(level.get("round", 0)) for level in recorded_levels(project_path, env)), default=0)
    while True:
        fit = result.fit
        if fit.ed80 is not None and fit.ed80.width < width:
            echo(f"refine: done — the ED80 interval is narrower than {width:g} decades; {added} runs added")
            break
        if added >= budget:
            echo(f"refine: budget spent — {added} of {budget} runs added; the interval is still wider than {width:g}")
            break
        levels = plan_round(fit, configured_grid(env, project_path), budget - added, result.seeds_per_level)
        if not levels:
            echo(f"refine: stopped — more runs near the current data cannot locate ED80 ({fit.reason})")
            break
        round_number += 1
        record_round(project_path, env, levels, round_number)
        new_runs = sum(len(level["seeds"]) for level in levels)
        added += new_runs
        result = train_and_fit(project_path, env, params, runner_factory())
        tracking.log_round(result.fit, result.runs)
        where = ", ".join(f"{level['coverage']:g}" for level in levels)
        echo(
            f"refine: round {round_number} — +{new_runs} runs at {where} (seeds {levels[0]['seeds'][0]}–"
            f"{levels[0]['seeds'][-1]}; {added}/{budget} of budget); {_describe(result.fit)} [{result.seconds:.0f} s]"
        )
    with _session(project_path, env, params) as session:
        stale = report_nodes_to_run(session.load_context().catalog)
        session.run(pipeline_names=["reporting"], node_names=stale, runner=runner_factory())
    echo(f"refine: report regenerated; {time.perf_counter() - started:.0f} s in all")
    return result.fit


def report_nodes_to_run(catalog: Any) -> list[str]:
    """The reporting nodes a refinement makes stale: everything sweep-wide (the run table changed) and the pages
    and figures of levels without a page yet (the new ones). A level's own page and figures depend on its runs
    alone, so those of earlier levels stay as they are."""
    from kedro.framework.project import pipelines

    from ex_coverage.pipelines.levels import boundary_name

    return [
        node.name
        for node in pipelines["reporting"].nodes
        if node.namespace is None or not catalog.exists(boundary_name(node.namespace, "report"))
    ]
