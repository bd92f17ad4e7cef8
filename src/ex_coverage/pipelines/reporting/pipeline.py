"""The reporting pipeline: per-level figures in each level's namespace, then the sweep-wide answer."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from ex_coverage.pipelines.levels import boundary_name, crossing
from ex_coverage.sweep import SweepGrid, bind

from .estimate_nodes import estimate_ed80, threshold_sensitivity
from .nodes import (
    build_run_table,
    combine_named_colour_deltas,
    find_critical_coverage,
    plot_level_figures,
    plot_level_suppression,
    plot_named_colours,
    plot_seed_overview,
    plot_sweep_latents,
    plot_sweep_metrics,
    plot_sweep_pass_rate,
    select_overview_latents,
    summarise_sweep,
    write_level_report,
    write_report,
)

#: The figures of every level (catalog ``{level}.{kind}_figure``), in the order its page shows them.
LEVEL_FIGURES = ("colours", "error", "latents", "seeds", "suppression")
#: Further per-level tables (datasets inside the level) that its page shows; a per-level result
#: listed here is read inside the level and so stays inside its box in kedro-viz.
LEVEL_TABLES: tuple[str, ...] = ()


def level_report_pipeline(namespace: str, coverage: float, seeds, figure_seed: int) -> Pipeline:
    """Template: a level's figures, its page, and the bundle the sweep's latent overview needs.

    It reads every per-seed output of the level's training, so that they all stay inside the
    level's namespace; ``run_scores`` comes in, ``overview_latents`` and ``report`` go out.
    """
    seeds = tuple(seeds)
    per_seed = [f"{name}_seed_{s}" for name in ("history", "latents", "error_profile", "suppression") for s in seeds]
    return Pipeline(
        [
            Node(
                plot_level_figures,
                [
                    f"latents_seed_{figure_seed}",
                    f"error_profile_seed_{figure_seed}",
                    "hsv_grid_coarse",
                    f"run_record_seed_{figure_seed}",
                ],
                ["colours_figure", "error_figure", "latents_figure"],
                name="plot_level_figures",
            ),
            Node(
                plot_level_suppression,
                [f"suppression_seed_{figure_seed}", f"run_record_seed_{figure_seed}"],
                "suppression_figure",
                name="plot_level_suppression",
            ),
            Node(
                bind(plot_seed_overview, seeds=seeds, coverage=coverage),
                per_seed,
                "seeds_figure",
                name="plot_seed_overview",
            ),
            Node(
                select_overview_latents,
                [f"latents_seed_{figure_seed}", f"run_record_seed_{figure_seed}"],
                "overview_latents",
                name="select_overview_latents",
            ),
            Node(
                bind(
                    write_level_report,
                    level=namespace,
                    coverage=coverage,
                    table_names=LEVEL_TABLES,
                    figure_kinds=LEVEL_FIGURES,
                ),
                ["run_scores", *LEVEL_TABLES, *(f"{kind}_figure" for kind in LEVEL_FIGURES)],
                "report",
                name="write_level_report",
            ),
        ]
    )


def create_pipeline(grid: SweepGrid) -> Pipeline:
    namespaces = list(grid.namespaces)
    overview = [ns for ns, c in grid.namespaces.items() if c in grid.coverages]  # the configured grid's levels
    per_level = sum(
        (
            Pipeline(
                level_report_pipeline(namespace, coverage, grid.seeds_at(coverage), grid.seeds_at(coverage)[0]),
                namespace=namespace,
                inputs={"hsv_grid_coarse": "hsv_grid_coarse", **crossing(namespace, ["run_scores"])},
                outputs=crossing(namespace, ["overview_latents", "report"]),
            )
            for namespace, coverage in grid.namespaces.items()
        ),
        Pipeline([]),
    )
    sweep_wide = Pipeline(
        [
            Node(
                bind(build_run_table, refinement_runs=grid.refinement_runs, refinement_edges=grid.refinement_edges),
                [
                    "params:reporting.thresholds",
                    "params:training",
                    "params:labels",
                    "params:grids",
                    "schedule",
                    *(boundary_name(ns, "run_scores") for ns in namespaces),
                ],
                "coverage_runs",
                name="build_run_table",
            ),
            Node(summarise_sweep, "coverage_runs", "coverage_summary", name="summarise_sweep"),
            Node(
                combine_named_colour_deltas,
                [boundary_name(ns, "run_scores") for ns in namespaces],
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
                ["coverage_summary", "params:reporting", "schedule", "params:training"],
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
                bind(plot_sweep_latents, seed=grid.seeds[0]),
                [boundary_name(ns, "overview_latents") for ns in overview],
                "coverage_latents_figure",
                name="plot_sweep_latents",
            ),
            Node(estimate_ed80, "coverage_runs", ["ed80", "ed80_fits"], name="estimate_ed80"),
            Node(
                threshold_sensitivity,
                ["coverage_runs", "params:reporting", "schedule", "params:training"],
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
