"""The reporting pipeline: per-level figures and pages in each level's namespace, what gathers the levels (in
the ``levels`` group, see ``levels.py``), then the sweep-wide answer (the ``reporting`` group)."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from ex_coverage.pipelines.levels import LEVELS, in_group, level_dataset
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
    write_level_index,
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
    level's namespace; the level's ``run_scores``, ``overview_latents`` and ``report`` are gathered in ``levels``.
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


#: What the report links besides its tables (and so reads: it is written after them): its figures, the level pages' index.
REPORT_LINKS = (
    "coverage_pass_rate_figure",
    "coverage_metrics_figure",
    "coverage_latents_figure",
    "named_colour_deltas_figure",
    "level_index",
)


def create_pipeline(grid: SweepGrid) -> Pipeline:
    """The levels' reporting in the ``levels`` group, then the ``reporting`` group (datasets keep plain names)."""
    sweep_wide = Pipeline(sweep_wide_pipeline(), namespace="reporting", prefix_datasets_with_namespace=False)
    return levels_pipeline(grid) + sweep_wide


def levels_pipeline(grid: SweepGrid) -> Pipeline:
    """Each level's figures and page (in its namespace), then, in the ``levels`` group itself, the tables,
    overview and index that gather them: what leaves the group (``coverage_runs``, ``named_colour_deltas``,
    ``coverage_latents_figure``, ``level_index``)."""
    namespaces = list(grid.namespaces)
    overview = [ns for ns, c in grid.namespaces.items() if c in grid.coverages]  # the configured grid's levels
    per_level = sum(
        (
            Pipeline(
                level_report_pipeline(namespace, coverage, grid.seeds_at(coverage), grid.seeds_at(coverage)[0]),
                namespace=namespace,
                inputs={"hsv_grid_coarse"},
            )
            for namespace, coverage in grid.namespaces.items()
        ),
        Pipeline([]),
    )
    gather = Pipeline(
        [
            Node(
                bind(build_run_table, refinement_runs=grid.refinement_runs, refinement_edges=grid.refinement_edges),
                [
                    "params:reporting.thresholds",
                    "params:training",
                    "params:labels",
                    "params:grids",
                    "schedule",
                    *(level_dataset(LEVELS, ns, "run_scores") for ns in namespaces),
                ],
                "coverage_runs",
                name="build_run_table",
                namespace=LEVELS,
            ),
            Node(
                combine_named_colour_deltas,
                [level_dataset(LEVELS, ns, "run_scores") for ns in namespaces],
                "named_colour_deltas",
                name="combine_named_colour_deltas",
                namespace=LEVELS,
            ),
            Node(
                bind(plot_sweep_latents, seed=grid.seeds[0]),
                [level_dataset(LEVELS, ns, "overview_latents") for ns in overview],
                "coverage_latents_figure",
                name="plot_sweep_latents",
                namespace=LEVELS,
            ),
            Node(
                bind(write_level_index, levels=grid.namespaces),
                [level_dataset(LEVELS, ns, "report") for ns in namespaces],
                "level_index",
                name="write_level_index",
                namespace=LEVELS,
            ),
        ]
    )
    return in_group(LEVELS, per_level, shared={"hsv_grid_coarse"}) + gather


def sweep_wide_pipeline() -> Pipeline:
    """The answer from the gathered run table: summary, c*, ED80, sensitivity, figures and the report."""
    return Pipeline(
        [
            Node(summarise_sweep, "coverage_runs", "coverage_summary", name="summarise_sweep"),
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
                    *REPORT_LINKS,
                ],
                "report",
                name="write_report",
            ),
        ]
    )
