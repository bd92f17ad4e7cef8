"""Project hooks: build pipelines for the session's grid, and check every input before training starts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from ex_coverage.budget_grid import (
    budget_grid_from,
    check_budget_reachable,
    parse_budget_grid,
    refuse_stale_cells,
)
from ex_coverage.pipelines.levels import CELLS, LEVELS, level_dataset, level_of
from ex_coverage.sweep import SweepConfigError, check_reachable, config_env, grid_from, parse_grid

log = logging.getLogger(__name__)


class SweepHooks:
    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Check every parameter group the code reads."""
        parameters = context.config_loader["parameters"]
        # Kedro's loader returns a key set on it as it is: the context reads these parameters instead of reading
        # and merging the files again (tens of milliseconds per context; a refinement round makes two).
        context.config_loader["parameters"] = parameters
        check_parameters(parameters)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Fail before anything trains: grid, reachable coverages, schedule values and thresholds are all
        checked, and results this run would read are refused if stale."""
        from ex_coverage.pipelines.data_engineering.nodes import make_training_grid, resolve_schedule
        from ex_coverage.pipelines.training.nodes import base_probabilities
        from ex_coverage.science.architecture import REGULARIZER_LABELS
        from ex_coverage.science.config import check_label_names, check_schedule
        from ex_coverage.science.metrics import Thresholds
        from ex_coverage.science.schedule import ScheduleError

        parameters = catalog.load("parameters")
        if run_params.get("env") and run_params["env"] != config_env():
            raise SweepConfigError(
                f"this session's environment is {run_params['env']!r} but the pipelines are built for "
                f"{config_env()!r} (KEDRO_ENV): set KEDRO_ENV={run_params['env']} (`kedro run --env` does)"
            )
        grid, budget = grid_from(parameters, catalog, run_params.get("env")), budget_grid_from(parameters)
        base = base_probabilities(make_training_grid(parameters["grids"], parameters["labels"]))
        check_reachable(grid, base)
        check_budget_reachable(budget, base)
        source = dataset_path(catalog, "dopesheet")
        if not catalog.exists("dopesheet"):
            raise ScheduleError(f"{source}: schedule file not found")
        schedule = resolve_schedule(catalog.load("dopesheet"), source)  # data engineering's own node function
        check_schedule(schedule.values, list(REGULARIZER_LABELS), str(source))
        check_label_names(
            parameters["labels"], {name: list(labels or ()) for name, labels in REGULARIZER_LABELS.items()}
        )
        Thresholds.from_params(parameters["reporting"]["thresholds"])
        levels = {level_of(node) for node in pipeline.nodes}
        cells = levels & set(budget.cells)
        if not cells or levels & set(grid.namespaces):  # the budget map reads no sweep results
            self._refuse_stale_results(
                grid, parameters, schedule, catalog, pipeline.inputs(), bool(run_params.get("only_missing_outputs"))
            )
        if run_params.get("only_missing_outputs"):
            refuse_stale_cells(budget, cells, parameters, schedule, catalog)
            for cell in sorted(cells):
                red, vibrant = budget.cells[cell]
                for seed in budget.seeds:
                    place = {"label_coverages": {"red": red, "vibrant": vibrant}, "seed": seed}
                    check_bound_model(catalog, CELLS, cell, seed, place, catalog.exists, "budget_map")
        if cells:
            log.info(
                "Budget map: %d cells × %d seeds = %d runs of %d steps",
                len(cells),
                len(budget.seeds),
                len(cells) * len(budget.seeds),
                len(schedule),
            )
        else:
            log.info(
                "Sweep: %d coverage levels × %d seeds%s = %d runs of %d steps",
                len(grid.coverages),
                len(grid.seeds),
                f" + {len(grid.refinement_runs)} refinement runs" if grid.refinement else "",
                grid.n_runs,
                len(schedule),
            )

    @hook_impl
    def after_pipeline_run(self, pipeline: Any, catalog: Any) -> None:
        """End a run that wrote the report with the summary: the answer, runs passed, where to look."""
        if "report" not in pipeline.all_outputs():
            return
        import click

        click.echo(self._summary(pipeline, catalog))

    @staticmethod
    def _summary(pipeline: Any, catalog: Any) -> str:
        from ex_coverage.datasets import AtomicFigureDataset
        from ex_coverage.summary import sweep_summary

        def path(name: str) -> Path:
            return Path(dataset_path(catalog, name))

        outputs = sorted(pipeline.all_outputs())
        figures = [
            path(name)
            for name in outputs
            if "." not in name and isinstance(catalog.get(name, fallback_to_runtime_pattern=True), AtomicFigureDataset)
        ]
        report = path("report")
        return sweep_summary(
            catalog.load("critical_coverage"),
            catalog.load("coverage_runs"),
            report,
            figures,
            level_pages=path("level_index") if "level_index" in outputs else None,
            ed80=catalog.load("ed80") if catalog.exists("ed80") else None,
        )

    @staticmethod
    def _refuse_stale_results(
        grid: Any, parameters: dict[str, Any], schedule: Any, catalog: Any, inputs: set[str], only_missing: bool
    ) -> None:
        """Refuse results this run would read but not make (all existing ones with --only-missing-outputs)
        if any was made by another configuration, or a level's scores were made from other run records."""
        from ex_coverage.science.records import check_fresh, current_fingerprints

        current = current_fingerprints(
            parameters["training"], parameters["labels"], parameters["grids"], schedule.digest, len(schedule)
        )

        def existing(name: str) -> bool:
            return (only_missing or name in inputs) and catalog.exists(name)

        records, scores, beside = [], [], []
        for namespace, coverage in grid.namespaces.items():
            names = [level_dataset(LEVELS, namespace, f"run_record_seed_{s}") for s in grid.seeds_at(coverage)]
            records += [catalog.load(n) for n in names if existing(n)]
            if existing(run_scores := level_dataset(LEVELS, namespace, "run_scores")):
                scores += catalog.load(run_scores).to_dict("records")
                beside += [catalog.load(n) for n in names if catalog.exists(n)]
        check_fresh(records, current)
        check_fresh(scores, current, records=beside)
        for namespace, coverage in grid.namespaces.items():
            for seed in grid.seeds_at(coverage):
                place = {"coverage": coverage, "seed": seed}
                check_bound_model(catalog, LEVELS, namespace, seed, place, existing, "sweep")


def dataset_path(catalog: Any, name: str) -> str:
    """The file behind catalog entry ``name`` (pattern entries resolved), relative to this folder where inside it."""
    from ex_coverage.datasets import dataset_filepath

    filepath = dataset_filepath(catalog, name) or name
    path = Path(filepath)
    return str(path.relative_to(Path.cwd())) if path.is_absolute() and path.is_relative_to(Path.cwd()) else filepath


def check_bound_model(
    catalog: Any,
    group: str,
    level: str,
    seed: int,
    expected: dict[str, Any],
    existing: Callable[[str], bool],
    pipeline: str,
) -> None:
    """Refuse the model of ``level``'s run ``seed`` (in ``group``, see ``pipelines/levels.py``) if its run record's
    run did not make it, or if both belong to another place (a file copied by hand, a save interrupted between
    model and record)."""
    from ex_coverage.science.records import check_model_binding

    model, record = (
        level_dataset(group, level, f"model_seed_{seed}"),
        level_dataset(group, level, f"run_record_seed_{seed}"),
    )
    if existing(model) and catalog.exists(record):
        check_model_binding(
            catalog.load(model),
            catalog.load(record),
            f"{dataset_path(catalog, model)} ({level}, seed {seed})",
            f"kedro run --pipeline {pipeline} --only-missing-outputs",
            expected,
        )


def check_parameters(parameters: dict[str, Any]) -> None:
    """Every parameter group the code reads, each value against its domain (the sweep grid is parsed where used)."""
    from ex_coverage.science.config import check_grids, check_labels, check_refine, check_reporting, check_training
    from ex_coverage.science.metrics import Thresholds

    check_training(parameters.get("training"))
    check_labels(parameters.get("labels"))
    check_grids(parameters.get("grids"))
    check_reporting(parameters.get("reporting"), list(Thresholds.__dataclass_fields__))
    check_refine(parameters.get("refine"))
    if "sweep" in parameters:
        parse_grid(parameters["sweep"])
    if "budget_map" in parameters:
        parse_budget_grid(parameters["budget_map"])
