"""Project hooks: build pipelines for the session's grid, and check every input before training starts."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

from ex_coverage.budget_grid import active_budget_grid, check_budget_reachable, refuse_stale_cells
from ex_coverage.sweep import active_grid, check_reachable, use_parameters

log = logging.getLogger(__name__)


class SweepHooks:
    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Point the pipeline registry at this session's parameters (config environment and ``--params``)."""
        if use_parameters(context.config_loader["parameters"]):
            from kedro.framework.project import pipelines

            pipelines.configure(pipelines._pipelines_module)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Fail before anything trains: grid, reachable coverages, schedule and thresholds are all checked."""
        from ex_coverage.pipelines.data_engineering.nodes import make_training_grid
        from ex_coverage.pipelines.training.nodes import base_probabilities
        from ex_coverage.science.metrics import Thresholds

        parameters = catalog.load("parameters")
        grid, budget = active_grid(), active_budget_grid()
        base = base_probabilities(make_training_grid(parameters["grids"], parameters["labels"]))
        check_reachable(grid, base)
        check_budget_reachable(budget, base)
        schedule = catalog.load("dopesheet")
        Thresholds.from_params(parameters["reporting"]["thresholds"])
        namespaces = {node.namespace for node in pipeline.nodes}
        cells = namespaces & set(budget.cells)
        if run_params.get("only_missing_outputs"):
            if namespaces & set(grid.namespaces):
                self._refuse_stale_results(grid, parameters, schedule, catalog)
            refuse_stale_cells(budget, cells, parameters, schedule, catalog)
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

    @staticmethod
    def _refuse_stale_results(grid: Any, parameters: dict[str, Any], schedule: Any, catalog: Any) -> None:
        """--only-missing-outputs keeps existing results: refuse if any was made by another configuration."""
        from ex_coverage.science.records import check_fresh, current_fingerprints

        records = []
        for namespace, coverage in grid.namespaces.items():
            for seed in grid.seeds_at(coverage):
                name = f"{namespace}.run_record_seed_{seed}"
                if catalog.exists(name):
                    records.append(catalog.load(name))
        current = current_fingerprints(
            parameters["training"], parameters["labels"], parameters["grids"], schedule.digest, len(schedule)
        )
        check_fresh(records, current)
