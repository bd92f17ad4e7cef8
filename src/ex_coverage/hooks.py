"""Project hooks: build pipelines for the session's grid, and check every input before training starts."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl

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
        grid = active_grid()
        check_reachable(grid, base_probabilities(make_training_grid(parameters["grids"], parameters["labels"])))
        schedule = catalog.load("dopesheet")
        Thresholds.from_params(parameters["reporting"]["thresholds"])
        if run_params.get("only_missing_outputs"):
            self._refuse_stale_results(grid, parameters, schedule, catalog)
        log.info(
            "Sweep: %d coverage levels × %d seeds = %d runs of %d steps",
            len(grid.coverages),
            len(grid.seeds),
            len(grid.coverages) * len(grid.seeds),
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
        from pathlib import Path

        import pandas as pd

        from ex_coverage.datasets import FigureDataset
        from ex_coverage.summary import sweep_summary

        def path(name: str) -> Path:
            filepath = Path(str(catalog.get(name, fallback_to_runtime_pattern=True)._describe()["filepath"]))
            return filepath.relative_to(Path.cwd()) if filepath.is_relative_to(Path.cwd()) else filepath

        outputs = sorted(pipeline.all_outputs())
        figures = [
            path(name)
            for name in outputs
            if "." not in name and isinstance(catalog.get(name, fallback_to_runtime_pattern=True), FigureDataset)
        ]
        levels = [name for name in outputs if name.endswith("_figure") and "." in name]
        report = path("report")
        ed80_file = report.parent / "ed80.csv"  # written by the ED80 estimate where that pipeline exists
        return sweep_summary(
            catalog.load("critical_coverage"),
            catalog.load("coverage_runs"),
            report,
            figures,
            level_pages=path(levels[0]).parent if levels else None,
            ed80=pd.read_csv(ed80_file) if ed80_file.exists() else None,
        )

    @staticmethod
    def _refuse_stale_results(grid: Any, parameters: dict[str, Any], schedule: Any, catalog: Any) -> None:
        """--only-missing-outputs keeps existing results: refuse if any was made by another configuration."""
        from ex_coverage.science.records import check_fresh, current_fingerprints

        records = []
        for namespace in grid.namespaces:
            for seed in grid.seeds:
                name = f"{namespace}.run_record_seed_{seed}"
                if catalog.exists(name):
                    records.append(catalog.load(name))
        current = current_fingerprints(
            parameters["training"], parameters["labels"], parameters["grids"], schedule.digest, len(schedule)
        )
        check_fresh(records, current)
