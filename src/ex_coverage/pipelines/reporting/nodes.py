"""Nodes of the reporting pipeline."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ex_coverage.science.colour import named_colours
from ex_coverage.science.metrics import (
    CLASSIFICATIONS,
    METRIC_COLUMNS,
    NAMED_COLOUR_PREFIX,
    Thresholds,
    critical_coverage,
    named_colour_table,
    passes,
    summarise_levels,
)
from ex_coverage.science.plots import (
    plot_colour_patches,
    plot_error_profile,
    plot_latent_overview,
    plot_latent_projections,
    plot_level_seeds,
    plot_metric_panels,
    plot_named_colour_deltas,
    plot_pass_rate,
    plot_suppression,
)
from ex_coverage.science.records import check_fresh, current_fingerprints, level_namespace
from ex_coverage.science.schedule import Schedule

from .estimate_nodes import effective_fit
from .report_estimate import REPORT_NAMES, answer_section, estimate_sections, grid_window_text, window_paragraph

RUN_COLUMNS = ["coverage", "seed", "multiplier", "realised_coverage", *METRIC_COLUMNS, *CLASSIFICATIONS]
#: What each classification requires, for the report.
CLASSIFICATION_MEANING = {
    "structured": "passes M1–M4 (the latent space looks right)",
    "controllable": "passes M5 (suppressing the anchor removes red and only red-like colours)",  # shown as controllable (M5)
    "effective": "is both structured and controllable",
}


def build_run_table(
    thresholds: dict[str, Any],
    training: dict[str, Any],
    labels: dict[str, Any],
    grids: dict[str, Any],
    schedule: Schedule,
    *scores_and_records: pd.DataFrame | dict[str, Any],
    refinement_runs: tuple[tuple[float, int], ...] = (),
    refinement_edges: tuple[tuple[float, int, str, int], ...] = (),
) -> pd.DataFrame:
    """One row per (coverage, seed): solved multiplier, realised coverage, M1–M5 values, pass flags and classes,
    whether the run was added by refinement (``refinement_runs``, bound from the grid) and, where recorded, for
    which edge (``refinement_edge``: "ed80", "upper" or empty) in which round (``refinement_round``, 0 for the grid).

    ``scores_and_records`` are every level's ``run_scores`` tables and, optionally, run records. Refuses runs
    whose fingerprint differs from the current configuration's and, when records are given, score tables not
    made from them. (In the pipeline, per-seed records stay inside their level: the before-run hook checks
    the score tables a run reads against the records beside them.)
    """
    limits = Thresholds.from_params(thresholds)
    runs = pd.concat([t for t in scores_and_records if isinstance(t, pd.DataFrame)], ignore_index=True)
    records = [r for r in scores_and_records if isinstance(r, dict)]
    check_fresh(
        runs.to_dict("records"),
        current_fingerprints(training, labels, grids, schedule.digest, len(schedule)),
        records=records or None,
    )
    flags = pd.DataFrame([passes(row, limits) for row in runs.to_dict("records")], index=runs.index)
    runs = pd.concat([runs, flags], axis=1).sort_values(["coverage", "seed"], ignore_index=True)
    added = set(refinement_runs)
    runs["refinement"] = [(c, s) in added for c, s in zip(runs["coverage"], runs["seed"])]
    if refinement_edges:
        recorded = {(c, s): (e, r) for c, s, e, r in refinement_edges}
        keys = list(zip(runs["coverage"], runs["seed"]))
        runs["refinement_edge"] = [recorded.get(key, ("", 0))[0] for key in keys]
        runs["refinement_round"] = [recorded.get(key, ("", 0))[1] for key in keys]
    extra = [c for c in runs.columns if c not in RUN_COLUMNS and not c.startswith(NAMED_COLOUR_PREFIX)]
    return runs[RUN_COLUMNS + extra]


def summarise_sweep(coverage_runs: pd.DataFrame) -> pd.DataFrame:
    """Per level: pass rates of structured, controllable and effective with Wilson 95 % bounds, the median and
    IQR of every metric, and whether the level belongs to the configured grid (``grid_level``; False for a level
    only refinement added)."""
    summary = summarise_levels(coverage_runs, METRIC_COLUMNS)
    refined = coverage_runs.groupby("coverage")["refinement"].all() if "refinement" in coverage_runs else None
    summary["grid_level"] = True if refined is None else ~summary["coverage"].map(refined).astype(bool)
    return summary


def combine_named_colour_deltas(*run_scores: pd.DataFrame) -> pd.DataFrame:
    """The named-colour ΔMSE under suppression of every run as one long table (coverage, seed, colour order),
    unpacked from the levels' run tables, which carry it as flat columns."""
    return named_colour_table(pd.concat(run_scores, ignore_index=True))


def _rate_column(criterion: str) -> str:
    return "pass_rate" if criterion == "effective" else f"{criterion}_rate"


def find_critical_coverage(
    coverage_summary: pd.DataFrame, reporting: dict[str, Any], schedule: Schedule, training: dict[str, Any]
) -> dict[str, Any]:
    """The grid's working window and c* (SPEC §9) as a fraction and as the expected number of labelled samples in
    a run: for ``effective`` at the top level, and for each classification under ``by_criterion``. Only the
    configured grid's levels count (refinement levels enter the continuous estimate)."""
    samples = len(schedule) * int(training["batch_size"])
    grid = coverage_summary[coverage_summary["grid_level"]] if "grid_level" in coverage_summary else coverage_summary
    by_criterion = {
        criterion: critical_coverage(
            grid["coverage"],
            grid[_rate_column(criterion)],
            reporting["min_pass_rate"],
            samples,
        ).to_dict()
        for criterion in CLASSIFICATIONS
        if _rate_column(criterion) in grid
    }
    return {
        **by_criterion["effective"],
        "min_pass_rate": reporting["min_pass_rate"],
        "samples_per_run": samples,
        "by_criterion": by_criterion,
    }


def reference_level(critical: dict[str, Any], levels: Any) -> tuple[float, str]:
    """The level the M5 named-colour table is shown at, and why: c* of effective, else of controllable, else
    of structured, else the highest level."""
    for criterion in ("effective", "controllable", "structured"):
        coverage = critical.get("by_criterion", {}).get(criterion, {}).get("coverage")
        if coverage is not None:
            return coverage, f"c* of {criterion}"
    return float(max(levels)), "no c*: the highest level"


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


def plot_level_suppression(suppression: pd.DataFrame, run_record: dict[str, Any]) -> Figure:
    """M5 for one run of a level: error under suppression (and ablation) against similarity to red."""
    label = f"coverage {run_record['coverage']:g}, seed {run_record['seed']}"
    return plot_suppression(suppression, f"M5 intervention control · {label}")


def plot_named_colours(named_colour_deltas: pd.DataFrame, critical: dict[str, Any]) -> Figure:
    """The named-colour ΔMSE under suppression at the level of c* (see :func:`reference_level`), every seed."""
    coverage, why = reference_level(critical, named_colour_deltas["coverage"])
    names, rgb = named_colours()
    table = named_colour_deltas[named_colour_deltas["coverage"] == coverage]
    seeds = table["seed"].nunique()
    title = f"ΔMSE under suppression of the anchor · coverage {coverage:g}, {why} ({seeds} seeds; bar = median)"
    return plot_named_colour_deltas(table, names, rgb, title)


def plot_seed_overview(*frames: pd.DataFrame, seeds: tuple[int, ...], coverage: float) -> Figure:
    """Every seed of a level in one figure; ``frames`` are the histories, latents, error profiles and M5
    suppression tables, each group by seed."""
    n = len(seeds)
    histories, latents, profiles, suppression = (dict(zip(seeds, frames[i * n : (i + 1) * n])) for i in range(4))
    return plot_level_seeds(histories, latents, profiles, f"All seeds · coverage {coverage:g}", suppression)


def select_overview_latents(latents: pd.DataFrame, run_record: dict[str, Any]) -> pd.DataFrame:
    """The latents of the fine RGB cube for one run, with its coverage and seed: what the sweep's overview plots."""
    rgb = latents[latents["grid"] == "rgb_grid_fine"].reset_index(drop=True)
    return rgb.assign(coverage=run_record["coverage"], seed=run_record["seed"])


#: run_scores columns that describe the run rather than score it; the level page leaves them out.
_NOT_SCORES = {"coverage", "multiplier", "saturated_labels", "counted_samples", "fingerprint"}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _markdown_table(frame: pd.DataFrame) -> str:
    columns = list(frame.columns)
    return "\n".join(
        [
            "| " + " | ".join(map(str, columns)) + " |",
            "|---" * len(columns) + "|",
            *("| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)),
        ]
    )


def write_level_report(
    run_scores: pd.DataFrame,
    *tables_and_figures: Any,
    level: str,
    coverage: float,
    table_names: tuple[str, ...] = (),
    figure_kinds: tuple[str, ...],
) -> str:
    """The level's page (``levels/<level>.md``): each seed's scores, further tables, the level's figures.

    ``tables_and_figures`` are first the tables named in ``table_names`` (each shown under its name),
    then the level's figures (PNG, in ``figure_kinds`` order); the page links the figure files, which
    sit beside it, and is written after them.
    """
    tables, figures = tables_and_figures[: len(table_names)], tables_and_figures[len(table_names) :]
    if len(tables) != len(table_names) or len(figures) != len(figure_kinds):
        raise ValueError(f"{level}: expected {len(table_names)} tables and {len(figure_kinds)} figures")
    columns = [
        c for c in run_scores.columns if c not in _NOT_SCORES and not c.startswith(("labelled_", NAMED_COLOUR_PREFIX))
    ]
    sections = [("Scores per seed", run_scores.sort_values("seed")[columns])]
    sections += [(name.replace("_", " ").capitalize(), table) for name, table in zip(table_names, tables)]
    body = "\n\n".join(f"## {title}\n\n{_markdown_table(table)}" for title, table in sections)
    images = "\n\n".join(f"![{kind}]({level}_{kind}.png)" for kind in figure_kinds)
    return f"""# Coverage {coverage:g} (`{level}`)

{len(run_scores)} seed{"s" if len(run_scores) != 1 else ""}, label multiplier {run_scores["multiplier"].iloc[0]:.4g}. Pass flags and the answer are in `../report.md`.

{body}

## Figures

{images}
"""


def write_level_index(*pages: str, levels: dict[str, float]) -> str:
    """``levels/index.md``: a link to every level's page (``pages``, in the order of ``levels``, a mapping
    ``namespace -> coverage``), lowest coverage first, each with the line its page opens with."""
    if len(pages) != len(levels):
        raise ValueError(f"expected {len(levels)} level pages, got {len(pages)}")
    rows = [
        f"| {coverage:g} | [{level}]({level}.md) | {_opening_line(page)} |"
        for (level, coverage), page in sorted(zip(levels.items(), pages), key=lambda item: item[0][1])
    ]
    return "# Coverage levels\n\n| coverage | page | runs |\n|---|---|---|\n" + "\n".join(rows) + "\n"


def _opening_line(page: str) -> str:
    """The first sentence under a level page's title (:func:`write_level_report`): seeds and label multiplier."""
    paragraphs = [p for p in page.split("\n\n") if p.strip() and not p.startswith("#")]
    return paragraphs[0].split(". ")[0] if paragraphs else ""


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


def plot_sweep_latents(*overview_latents: pd.DataFrame, seed: int) -> Figure:
    """The latent projections of every level side by side, from each level's ``overview_latents``."""
    return plot_latent_overview({frame["coverage"].iloc[0]: frame for frame in overview_latents}, seed)


def _format_table(summary: pd.DataFrame) -> str:
    header = (
        "| coverage | realised | structured | controllable (M5) | effective / runs | pass rate [95 % CI] | anchor cos | "
        "off-plane mean | monotone | sextant dev ° | median MSE | max MSE | M5 r² | ablation r² |"
    )
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    for row in summary.to_dict("records"):
        lines.append(
            f"| {row['coverage']:g} | {row['realised_coverage']:.5f} | {row['structured_runs']} | "
            f"{row['controllable_runs']} | {row['effective_runs']} / {row['runs']} | "
            f"{row['pass_rate']:.2f} [{row['pass_rate_low']:.2f}, {row['pass_rate_high']:.2f}] | "
            f"{row['anchor_cos_median']:.3f} | {row['offplane_mean_median']:.3f} | {row['monotone_fraction_median']:.3f} | "
            f"{row['sextant_max_dev_deg_median']:.1f} | {row['mse_median_median']:.2e} | {row['mse_max_median']:.2e} | "
            f"{row['suppression_r2_median']:.3f} | {row['ablation_r2_median']:.3f} |"
        )
    return "\n".join(lines)


def _c_star_text(answer: dict[str, Any]) -> str:
    if answer["coverage"] is None:
        return f"none (even {answer['last_failing']:g} fails)"
    below = answer["last_failing"]
    bracket = f"above {below:g}" if below is not None else "the lowest level"
    return f"{answer['coverage']:g} ({bracket}; ≈ {answer['expected_labels']:.0f} labelled samples)"


def structure_and_control(critical: dict[str, Any], coverage_runs: pd.DataFrame) -> str:
    """c* of each classification as a table, and a sentence on how structure and control differ."""
    by = critical["by_criterion"]
    lines = ["| a run is … | when it … | c\\* |", "|---|---|---|"]
    for criterion in CLASSIFICATIONS:
        name = REPORT_NAMES.get(criterion, criterion)
        lines.append(f"| {name} | {CLASSIFICATION_MEANING[criterion]} | {_c_star_text(by[criterion])} |")
    structured, controllable = by["structured"]["coverage"], by["controllable"]["coverage"]
    if structured is None and controllable is None:
        order = "Neither structure nor control is reached reliably on the tested grid."
    elif controllable is None:
        order = f"Structure is reached reliably from c = {structured:g}, control at no tested level: control binds."
    elif structured is None:
        order = f"Control is reached reliably from c = {controllable:g}, structure at no tested level: structure binds."
    elif structured == controllable:
        order = f"Structure and control are reached reliably at the same level, c = {structured:g}."
    else:
        first, second = ("control", "structure") if controllable < structured else ("structure", "control")
        order = (
            f"Reliable {first} comes first (c = {min(structured, controllable):g}), {second} only at "
            f"c = {max(structured, controllable):g}: {second} is the binding criterion."
        )
    s, c = coverage_runs["structured"].astype(bool), coverage_runs["controllable"].astype(bool)
    disagree = (
        f" Run by run, {int((s & ~c).sum())} of {len(coverage_runs)} runs are structured but not controllable and "
        f"{int((c & ~s).sum())} controllable but not structured."
    )
    return "\n".join(lines) + "\n\n" + order + disagree


def _named_colour_table(named_colour_deltas: pd.DataFrame, coverage: float) -> str:
    table = named_colour_deltas[named_colour_deltas["coverage"] == coverage]
    stats = table.groupby("colour", sort=False)["delta"].agg(["median", "min", "max"])
    lines = ["| colour | median ΔMSE | min | max |", "|---|---|---|---|"]
    for name in named_colours()[0]:
        if name in stats.index:
            row = stats.loc[name]
            lines.append(f"| {name} | {row['median']:.2e} | {row['min']:.2e} | {row['max']:.2e} |")
    return "\n".join(lines)


def write_report(
    coverage_summary: pd.DataFrame,
    critical: dict[str, Any],
    thresholds: dict[str, Any],
    coverage_runs: pd.DataFrame,
    named_colour_deltas: pd.DataFrame,
    ed80_fits: dict[str, Any] | None = None,
    threshold_sensitivity: pd.DataFrame | None = None,
    *linked: Any,
) -> str:
    """report.md: the working window (ED80 and upper edge), c* with its bracket, the estimates per criterion,
    threshold sensitivity, the thresholds, the summary table, figures and a conclusion.

    ``linked`` are the files the page links (its figures, the index of level pages), passed only so that the
    page is written after them."""
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
        f"(M1–M4, structured), and suppressing the anchor direction damages red-like colours only (controllable (M5)). "
        f"Effective runs per level: {rates}. The lowest level with any effective run is {first_success}. "
        + (
            f"From c = {c_star:g} "
            + (
                "up to the top of the grid"
                if critical.get("upper_beyond_grid", True)
                else f"to {critical['upper']:g} (the grid's working window)"
            )
            + f" at least {critical['min_pass_rate']:.0%} of seeds are effective, so selective "
            f"regularizers need roughly {c_star * 100:.2g} % of samples labelled — about {critical['expected_labels']:.0f} "
            f"labelled samples per run — for a well-structured, controllable latent space. Compared with the seed notebook's "
            f"≈ 0.15 % coverage, this says the seed configuration was "
            + ("already sufficient." if c_star <= 0.0015 else "below what is reliably needed.")
            if c_star is not None
            else "No tested coverage gives reliably effective runs; more labels (or a different schedule) are needed."
        )
    )
    reference, why = reference_level(critical, coverage_summary["coverage"])
    suppression_figures = "\n\n".join(
        f"![M5 at coverage {c:g}](levels/{level_namespace(c)}_suppression.png)" for c in coverage_summary["coverage"]
    )
    if ed80_fits is not None:
        answer = answer_section(ed80_fits, critical, coverage_runs) + "\n\n" + answer
        conclusion = window_paragraph(ed80_fits, critical["samples_per_run"]) + "\n\n" + conclusion
    extra = estimate_sections(ed80_fits, threshold_sensitivity, coverage_runs) if ed80_fits is not None else ""
    return f"""# Label coverage needed for effective weak supervision

*Question (SPEC §1): what proportion of training data must be labelled for selective regularizers to produce a
well-structured latent space?*

## Answer

{answer}

c\\* is the lowest level of the grid's working window, the longest run of consecutive levels whose pass rate is
≥ {critical["min_pass_rate"]:g} (SPEC §9).
{extra}
## Structure and control

{structure_and_control(critical, coverage_runs)}

## Thresholds

| metric | pass when |
|---|---|
| M1 anchor alignment | cos ≥ {limits.anchor_cos_min:g} |
| M2 planarity | mean off-plane energy ≤ {limits.offplane_mean_max:g}, max ≤ {limits.offplane_max_max:g} |
| M3 wheel order | \\|winding\\| = {limits.winding}, monotone fraction ≥ {limits.monotone_fraction_min:g}, sextant deviation ≤ {limits.sextant_max_dev_deg:g}° |
| M4 reconstruction | median MSE ≤ {limits.mse_median_max:g}, max ≤ {limits.mse_max_max:g} (240×48×48 HSV grid) |
| M5 intervention control | r² of suppression error against similarity² to red ≥ {limits.suppression_r2_min:g} (8³ RGB cube) |

## Per-level summary (medians over seeds)

{_format_table(coverage_summary)}

## Figures

![Pass rate](coverage_pass_rate.png)

![Metrics](coverage_metrics.png)

![Latents across levels](coverage_latents.png)

Each level's page, with its figures (colours, error profile, latents, M5): [levels/index.md](levels/index.md).

## M5: suppressing the red direction

ΔMSE (suppressed − none) of named colours at coverage {reference:g} ({why}), over every seed. A controllable
concept shows large ΔMSE for red, smaller for its neighbours and ≈ 0 for green, cyan, blue and the greys.

{_named_colour_table(named_colour_deltas, reference)}

![Named-colour ΔMSE](named_colour_deltas.png)

Error under suppression against similarity to red, one seed per level:

{suppression_figures}

## Conclusion

{conclusion}
"""
