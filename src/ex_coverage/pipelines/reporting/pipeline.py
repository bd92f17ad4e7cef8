"""The reporting pipeline: per-level figures in each level's namespace, then the sweep-wide answer."""

from __future__ import annotations

from itertools import chain

from kedro.pipeline import Node, Pipeline

from ex_coverage.sweep import SweepGrid, bind

from .estimate_nodes import estimate_ed80, threshold_sensitivity
from .nodes import (
    build_run_table,
    combine_named_colour_deltas,
    find_critical_coverage,
    plot_level_figures,
    plot_level_suppression,
    plot_named_colours,
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
            ),
            Node(
                plot_level_suppression,
                [f"suppression_seed_{seed}", f"run_record_seed_{seed}"],
                "suppression_figure",
                name="plot_level_suppression",
            ),
        ]
    )


def create_pipeline(grid: SweepGrid) -> Pipeline:
    namespaces = list(grid.namespaces)
    figure_seed = grid.seeds[0]
    overview = [ns for ns, c in grid.namespaces.items() if c in grid.coverages]  # the configured grid's levels
    per_level = sum(
        (
            Pipeline(level_report_pipeline(grid.seeds_at(c)[0]), namespace=ns, inputs={"hsv_grid_coarse"})
            for ns, c in grid.namespaces.items()
        ),
        Pipeline([]),
    )
    sweep_wide = Pipeline(
        [
            Node(
                bind(build_run_table, refinement_runs=grid.refinement_runs),
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
                combine_named_colour_deltas,
                [f"{ns}.named_colour_deltas" for ns in namespaces],
                "named_colour_deltas",
                name="combine_named_colour_deltas",
            ),
            Node(
                plot_named_colours,
                ["named_colour_deltas", "critical_coverage"],
                "named_colour_deltas_figure",
                name="plot_named_colours",
            ),
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
                ["coverage_summary", "critical_coverage", "ed80_fits"],
                "coverage_pass_rate_figure",
                name="plot_sweep_pass_rate",
            ),
            Node(
                bind(plot_sweep_latents, seed=figure_seed),
                [
                    *chain.from_iterable(
                        (f"{ns}.latents_seed_{figure_seed}", f"{ns}.run_record_seed_{figure_seed}") for ns in overview
                    )
                ],
                "coverage_latents_figure",
                name="plot_sweep_latents",
            ),
            Node(estimate_ed80, "coverage_runs", ["ed80", "ed80_fits"], name="estimate_ed80"),
            Node(
                threshold_sensitivity,
                ["coverage_runs", "params:reporting", "dopesheet", "params:training"],
                "threshold_sensitivity",
                name="threshold_sensitivity",
            ),
            Node(
                write_report,
                [
                    "coverage_summary",
                    "critical_coverage",
                    "params:reporting.thresholds",
                    "coverage_runs",
                    "named_colour_deltas",
                    "ed80_fits",
                    "threshold_sensitivity",
                ],
                "report",
                name="write_report",
            ),
        ]
    )
    return per_level + sweep_wide
