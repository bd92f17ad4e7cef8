"""Nodes of the reporting pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ex_coverage.science.metrics import Thresholds, critical_coverage, passes, summarise_levels
from ex_coverage.science.plots import (
    plot_colour_patches,
    plot_error_profile,
    plot_latent_overview,
    plot_latent_projections,
    plot_metric_panels,
    plot_pass_rate,
)
from ex_coverage.science.records import check_fresh, current_fingerprints
from ex_coverage.science.schedule import Schedule

from .estimate_nodes import effective_fit
from .report_estimate import answer_section, estimate_sections, grid_window_text

RUN_COLUMNS = [
    "coverage", "seed", "multiplier", "realised_coverage", "anchor_cos", "offplane_mean", "offplane_max",
    "winding", "monotone_fraction", "sextant_max_dev_deg", "mse_median", "mse_max", "effective",
]  # fmt: skip
METRIC_COLUMNS = RUN_COLUMNS[4:12]


def build_run_table(
    thresholds: dict[str, Any],
    training: dict[str, Any],
    labels: dict[str, Any],
    grids: dict[str, Any],
    schedule: Schedule,
    *run_scores: pd.DataFrame,
    refinement_runs: tuple[tuple[float, int], ...] = (),
) -> pd.DataFrame:
    """One row per (coverage, seed): solved multiplier, realised coverage, M1–M4 values and pass flags, and
    whether the run was added by refinement (``refinement_runs``, bound from the grid).

    Refuses runs whose recorded configuration fingerprint differs from the current configuration's.
    """
    limits = Thresholds.from_params(thresholds)
    runs = pd.concat(run_scores, ignore_index=True)
    check_fresh(runs.to_dict("records"), current_fingerprints(training, labels, grids, schedule.digest, len(schedule)))
    flags = pd.DataFrame([passes(row, limits) for row in runs.to_dict("records")], index=runs.index)
    runs = pd.concat([runs, flags], axis=1).sort_values(["coverage", "seed"], ignore_index=True)
    added = set(refinement_runs)
    runs["refinement"] = [(c, s) in added for c, s in zip(runs["coverage"], runs["seed"])]
    extra = [c for c in runs.columns if c not in RUN_COLUMNS]
    return runs[RUN_COLUMNS + extra]


def summarise_sweep(coverage_runs: pd.DataFrame) -> pd.DataFrame:
    """Per level: pass rate with Wilson 95 % bounds, the median and IQR of every metric, and whether the
    level belongs to the configured grid (``grid_level``; False for a level only refinement added)."""
    summary = summarise_levels(coverage_runs, METRIC_COLUMNS)
    refined = coverage_runs.groupby("coverage")["refinement"].all() if "refinement" in coverage_runs else None
    summary["grid_level"] = True if refined is None else ~summary["coverage"].map(refined).astype(bool)
    return summary


def find_critical_coverage(
    coverage_summary: pd.DataFrame, reporting: dict[str, Any], schedule: Schedule, training: dict[str, Any]
) -> dict[str, Any]:
    """The grid's working window and c* (SPEC §9), c* also as the expected number of labelled samples in a run.
    Only the configured grid's levels count (refinement levels enter the continuous estimate)."""
    samples = len(schedule) * int(training["batch_size"])
    grid = coverage_summary[coverage_summary["grid_level"]] if "grid_level" in coverage_summary else coverage_summary
    answer = critical_coverage(grid["coverage"], grid["pass_rate"], reporting["min_pass_rate"], samples)
    return {**answer.to_dict(), "min_pass_rate": reporting["min_pass_rate"], "samples_per_run": samples}


def plot_level_figures(
    latents: pd.DataFrame, error_profile: pd.DataFrame, hsv_grid_coarse: pd.DataFrame, run_record: dict[str, Any]
) -> tuple[Figure, Figure, Figure]:
    """The seed notebook's three figures for one run: colours, error profile, latent projections."""
    label = f"coverage {run_record['coverage']:g}, seed {run_record['seed']}"
    return (
        plot_colour_patches(latents, hsv_grid_coarse, f"Reconstructed (outer) vs true (inner) colours · {label}"),
        plot_error_profile(error_profile, f"Reconstruction error · {label}"),
        plot_latent_projections(latents, f"Latents · {label}"),
    )


def plot_sweep_metrics(
    coverage_runs: pd.DataFrame, coverage_summary: pd.DataFrame, thresholds: dict[str, Any]
) -> Figure:
    """One panel per metric against coverage."""
    return plot_metric_panels(coverage_runs, coverage_summary, Thresholds.from_params(thresholds))


def plot_sweep_pass_rate(
    coverage_summary: pd.DataFrame, critical: dict[str, Any], ed80_fits: dict[str, Any] | None = None
) -> Figure:
    """Pass rate per level with its Wilson interval and c*; the fitted curve, its band and the crossings."""
    fit = effective_fit(ed80_fits) if ed80_fits is not None else None
    return plot_pass_rate(coverage_summary, critical["min_pass_rate"], critical["coverage"], fit)


def plot_sweep_latents(*latents_and_records: Any, seed: int) -> Figure:
    """The latent projections of every level side by side; inputs alternate latents and run record."""
    by_level = {
        record["coverage"]: latents for latents, record in zip(latents_and_records[0::2], latents_and_records[1::2])
    }
    return plot_latent_overview(by_level, seed)


def _format_table(summary: pd.DataFrame) -> str:
    header = "| coverage | realised | effective / runs | pass rate [95 % CI] | anchor cos | off-plane mean | monotone | sextant dev ° | median MSE | max MSE |"
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    for row in summary.to_dict("records"):
        lines.append(
            f"| {row['coverage']:g} | {row['realised_coverage']:.5f} | {row['effective_runs']} / {row['runs']} | "
            f"{row['pass_rate']:.2f} [{row['pass_rate_low']:.2f}, {row['pass_rate_high']:.2f}] | "
            f"{row['anchor_cos_median']:.3f} | {row['offplane_mean_median']:.3f} | {row['monotone_fraction_median']:.3f} | "
            f"{row['sextant_max_dev_deg_median']:.1f} | {row['mse_median_median']:.2e} | {row['mse_max_median']:.2e} |"
        )
    return "\n".join(lines)


def write_report(
    coverage_summary: pd.DataFrame,
    critical: dict[str, Any],
    thresholds: dict[str, Any],
    coverage_runs: pd.DataFrame,
    ed80_fits: dict[str, Any] | None = None,
    threshold_sensitivity: pd.DataFrame | None = None,
) -> str:
    """report.md: the working window (ED80 and upper edge), c* with its bracket, the estimates per criterion,
    threshold sensitivity, the thresholds, the summary table, figures and a conclusion."""
    limits = Thresholds.from_params(thresholds)
    seeds_per_level = coverage_runs.groupby("coverage")["seed"].nunique()
    design = (
        f"{len(coverage_summary)} coverage levels × {seeds_per_level.max()} seeds"
        if seeds_per_level.min() == seeds_per_level.max()
        else f"{len(coverage_summary)} coverage levels ({len(coverage_runs)} runs)"
    )
    c_star, below = critical["coverage"], critical["last_failing"]
    if c_star is None:
        answer = (
            f"**No tested coverage qualifies**: even the highest level ({below:g}) has a pass rate below "
            f"{critical['min_pass_rate']:g}. The required coverage lies above the tested range."
        )
    else:
        bracket = (
            f"between {below:g} (the highest failing level) and {c_star:g}"
            if below is not None
            else f"at or below {c_star:g}, the lowest level tested"
        )
        answer = (
            f"**c\\* = {c_star:g}** ({c_star * 100:.3g} % of drawn samples labelled), i.e. about "
            f"**{critical['expected_labels']:.0f} labelled samples** over a run of {critical['samples_per_run']} drawn samples. "
            f"The threshold lies {bracket}." + grid_window_text(critical)
        )
    rates = ", ".join(
        f"{r['coverage']:g}: {r['effective_runs']}/{r['runs']}" for r in coverage_summary.to_dict("records")
    )
    effective_any = coverage_summary[coverage_summary["pass_rate"] > 0]
    first_success = f"{effective_any['coverage'].min():g}" if len(effective_any) else "none"
    conclusion = (
        f"Across {design}, a run counts as effective when its latent space "
        f"anchors red, keeps the hue ring in the (z0, z1) plane, orders it as a colour wheel and still reconstructs colours "
        f"(M1–M4). Effective runs per level: {rates}. The lowest level with any effective run is {first_success}. "
        + (
            f"From c = {c_star:g} "
            + (
                "up to the top of the grid"
                if critical.get("upper_beyond_grid", True)
                else f"to {critical['upper']:g} (the grid's working window)"
            )
            + f" at least {critical['min_pass_rate']:.0%} of seeds are effective, so selective "
            f"regularizers need roughly {c_star * 100:.2g} % of samples labelled — about {critical['expected_labels']:.0f} "
            f"labelled samples per run — for a well-structured latent space. Compared with the seed notebook's "
            f"≈ 0.15 % coverage, this says the seed configuration was "
            + ("already sufficient." if c_star <= 0.0015 else "below what is reliably needed.")
            if c_star is not None
            else "No tested coverage gives reliably effective runs; more labels (or a different schedule) are needed."
        )
    )
    if ed80_fits is not None:
        answer = answer_section(ed80_fits, critical, coverage_runs) + "\n\n" + answer
    extra = estimate_sections(ed80_fits, threshold_sensitivity, coverage_runs) if ed80_fits is not None else ""
    return f"""# Label coverage needed for effective weak supervision

*Question (SPEC §1): what proportion of training data must be labelled for selective regularizers to produce a
well-structured latent space?*

## Answer

{answer}

c\\* is the lowest level of the grid's working window, the longest run of consecutive levels whose pass rate is
≥ {critical["min_pass_rate"]:g} (SPEC §9).
{extra}
## Thresholds

| metric | pass when |
|---|---|
| M1 anchor alignment | cos ≥ {limits.anchor_cos_min:g} |
| M2 planarity | mean off-plane energy ≤ {limits.offplane_mean_max:g}, max ≤ {limits.offplane_max_max:g} |
| M3 wheel order | \\|winding\\| = {limits.winding}, monotone fraction ≥ {limits.monotone_fraction_min:g}, sextant deviation ≤ {limits.sextant_max_dev_deg:g}° |
| M4 reconstruction | median MSE ≤ {limits.mse_median_max:g}, max ≤ {limits.mse_max_max:g} (240×48×48 HSV grid) |

## Per-level summary (medians over seeds)

{_format_table(coverage_summary)}

## Figures

![Pass rate](coverage_pass_rate.png)

![Metrics](coverage_metrics.png)

![Latents across levels](coverage_latents.png)

Per-level figures (colours, error profile, latents) are in `levels/`.

## Conclusion

{conclusion}
"""
