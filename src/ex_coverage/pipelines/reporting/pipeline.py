"""The reporting pipeline: per-level figures in each level's namespace, then the sweep-wide answer."""

from __future__ import annotations

from itertools import chain

from kedro.pipeline import Node, Pipeline

from ex_coverage.sweep import SweepGrid, bind

from .nodes import (
    build_run_table,
    find_critical_coverage,
    plot_level_figures,
    plot_sweep_latents,
    plot_sweep_metrics,
    plot_sweep_pass_rate,
    summarise_sweep,
    write_report,
)


def level_report_pipeline(seed: int) -> Pipeline:
    """Template: the seed notebook's figures for one run of a level."""
    return Pipeline(
        [
            Node(
                plot_level_figures,
                [f"latents_seed_{seed}", f"error_profile_seed_{seed}", "hsv_grid_coarse", f"run_record_seed_{seed}"],
                ["colours_figure", "error_figure", "latents_figure"],
                name="plot_level_figures",
            )
        ]
    )


def create_pipeline(grid: SweepGrid) -> Pipeline:
    namespaces = list(grid.namespaces)
    figure_seed = grid.seeds[0]
    per_level = sum(
        (Pipeline(level_report_pipeline(figure_seed), namespace=ns, inputs={"hsv_grid_coarse"}) for ns in namespaces),
        Pipeline([]),
    )
    sweep_wide = Pipeline(
        [
            Node(
                build_run_table,
                [
                    "params:reporting.thresholds",
                    "params:training",
                    "params:labels",
                    "params:grids",
                    "dopesheet",
                    *(f"{ns}.run_scores" for ns in namespaces),
                    *(f"{ns}.run_record_seed_{s}" for ns in namespaces for s in grid.seeds),
                ],
                "coverage_runs",
                name="build_run_table",
            ),
            Node(summarise_sweep, "coverage_runs", "coverage_summary", name="summarise_sweep"),
            Node(
                find_critical_coverage,
                ["coverage_summary", "params:reporting", "dopesheet", "params:training"],
                "critical_coverage",
                name="find_critical_coverage",
            ),
            Node(
                plot_sweep_metrics,
                ["coverage_runs", "coverage_summary", "params:reporting.thresholds"],
                "coverage_metrics_figure",
                name="plot_sweep_metrics",
            ),
            Node(
                plot_sweep_pass_rate,
                ["coverage_summary", "critical_coverage"],
                "coverage_pass_rate_figure",
                name="plot_sweep_pass_rate",
            ),
            Node(
                bind(plot_sweep_latents, seed=figure_seed),
                [
                    *chain.from_iterable(
                        (f"{ns}.latents_seed_{figure_seed}", f"{ns}.run_record_seed_{figure_seed}") for ns in namespaces
                    )
                ],
                "coverage_latents_figure",
                name="plot_sweep_latents",
            ),
            Node(
                write_report,
                ["coverage_summary", "critical_coverage", "params:reporting.thresholds", "coverage_runs"],
                "report",
                name="write_report",
            ),
        ]
    )
    return per_level + sweep_wide
