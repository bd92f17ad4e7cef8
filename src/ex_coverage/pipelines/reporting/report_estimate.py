"""report.md sections of the continuous answer: the working window, the estimates per criterion, threshold
sensitivity and the runs added by refinement (SPEC §9, §9a)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ex_coverage.science.estimate import NOT_MEASURED, OTHER_LINKS, Crossing, DoseResponse, ed80_row, fit_dose_response
from ex_coverage.summary import window_line

#: How the report names a criterion: M5 *is* ``controllable`` (SPEC §8), so the two appear once; CSV rows keep
#: their names.
REPORT_NAMES = {"controllable": "controllable (M5)"}
#: Criteria the report leaves out because another row is the same criterion.
SAME_AS = {"m5": "controllable"}


def _number(value: Any) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"


def _interval(crossing: Crossing) -> str:
    low, high = crossing.coverage_interval()
    return f"[{'unbounded' if low is None else f'{low:.3g}'}, {'unbounded' if high is None else f'{high:.3g}'}]"


def _fit(data: dict[str, Any]) -> DoseResponse | None:
    return DoseResponse.from_dict(data) if "coefficients" in data else None


def window_paragraph(ed80_fits: dict[str, Any], samples_per_run: float) -> str:
    """The fitted working window of ``effective`` as a sentence (the same words as the console's closing summary
    and the notebook, :func:`ex_coverage.summary.window_line`), or why ED80 is not given."""
    data = ed80_fits["effective"]
    fit = _fit(data)
    if fit is None or fit.ed80 is None:
        return f"**Working window (fitted, effective)**: ED80 is not given — {data.get('reason') or 'not estimable'}."
    line = window_line(ed80_row("effective", fit), samples_per_run) or ""
    return line.replace("Working window (fitted, effective):", "**Working window (fitted, effective)**:", 1)


def answer_section(ed80_fits: dict[str, Any], critical: dict[str, Any], coverage_runs: pd.DataFrame) -> str:
    """The lead paragraph: the working window of ``effective`` (ED80 to the upper edge, with intervals), then how
    it was fitted and checked."""
    text = window_paragraph(ed80_fits, critical["samples_per_run"])
    fit = _fit(ed80_fits["effective"])
    if fit is None or fit.ed80 is None:
        return text
    if fit.upper is not None:
        text += f" Above the upper edge the downturn (curvature p = {fit.curvature_p:.2g}) brings the pass rate back under 0.8."
    elif fit.model == "quadratic":
        text += " The downturn does not cross 0.8 below c = 1."
    elif fit.curvature_p is not None:
        text += f" No significant downturn (curvature p = {fit.curvature_p:.2g}), so no upper edge is estimated."
    text += f" Fit: {fit.model} logistic in log10 c over {fit.runs} runs with c > 0; {_links_text(fit)}."
    if fit.notes:
        text += " " + "; ".join(n[0].upper() + n[1:] for n in fit.notes) + "."
    if "refinement" in coverage_runs and coverage_runs["refinement"].any():
        added = coverage_runs[coverage_runs["refinement"]]
        text += f" {len(added)} of these runs were added by refinement (`kedro refine`, see below)."
    return text


def _links_text(fit: DoseResponse) -> str:
    """The estimates under the other links, beside the logit's (SPEC §9c)."""
    parts = []
    for link in OTHER_LINKS:
        values = [fit.link_estimate(link, edge) for edge in ("ed80", "upper") if getattr(fit, edge) is not None]
        if values and all(v is not None for v in values):
            parts.append(f"{link} " + " – ".join(f"{v:.3g}" for v in values))
    return ("under other links: " + ", ".join(parts)) if parts else "no estimate under the other links"


def grid_window_text(critical: dict[str, Any]) -> str:
    """The grid's upper edge (SPEC §9)."""
    if critical.get("coverage") is None or "upper" not in critical:
        return ""
    if critical.get("upper_beyond_grid"):
        return f" The grid's working window reaches the top level ({critical['upper']:g}): its upper edge lies beyond the grid."
    return (
        f" The grid's working window ends at {critical['upper']:g} (the next level, {critical['first_failing_above']:g}, "
        "fails): the grid's upper edge."
    )


def _flags(fit: DoseResponse, edge: str) -> str:
    flags = ["extrapolated"] if fit.extrapolated(edge) else []
    flags += [f"{link} outside" for link in fit.links_disagree(edge)]
    return f" ⚠ {', '.join(flags)}" if flags else ""


def _estimates_table(ed80_fits: dict[str, Any]) -> str:
    lines = [
        "| criterion | model | ED80 [95 % CI] | upper edge [95 % CI] | probit / cloglog | goodness of fit p | "
        "β1 (p) | curvature p | runs | statement |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, data in ed80_fits.items():
        if name in SAME_AS and data == ed80_fits.get(SAME_AS[name]):
            continue
        label = REPORT_NAMES.get(name, name)
        fit = _fit(data)
        if fit is None:
            lines.append(f"| {label} | — | — | — | — | — | — | — | {data.get('runs') or '—'} | {data.get('reason')} |")
            continue
        ed80 = "—" if fit.ed80 is None else f"{fit.ed80.coverage:.3g} {_interval(fit.ed80)}{_flags(fit, 'ed80')}"
        upper = "—" if fit.upper is None else f"{fit.upper.coverage:.3g} {_interval(fit.upper)}{_flags(fit, 'upper')}"
        links = "; ".join(
            " / ".join(_number(fit.link_estimate(link, edge)) for link in OTHER_LINKS)
            for edge in ("ed80", "upper")
            if getattr(fit, edge) is not None
        )
        gof = _number(fit.gof_p) + (" ⚠ rejected" if fit.gof_p is not None and fit.gof_p < 0.05 else "")
        slope = f"{_number(fit.slope)} ({_number(fit.slope_p)})"
        statement = "; ".join([*([fit.reason] if fit.reason else []), *fit.notes]) or "—"
        lines.append(
            f"| {label} | {fit.model or '—'} | {ed80} | {upper} | {links or '—'} | {gof} | {slope} | "
            f"{_number(fit.curvature_p)} | {fit.runs} | {statement} |"
        )
    return "\n".join(lines)


def _sensitivity_table(table: pd.DataFrame) -> str:
    lines = [
        "| threshold | setting | value | c\\* (failing level below) | grid upper edge | ED80 [95 % CI] | fitted upper edge | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in table.to_dict("records"):
        if row["note"] == NOT_MEASURED:
            lines.append(f"| {row['threshold']} | {row['setting']} | {row['value']} | — | — | — | — | not measured |")
            continue
        c_star = "none" if pd.isna(row["c_star"]) else f"{row['c_star']:g} ({_number(row['c_star_below'])})"
        upper = "beyond the grid" if pd.isna(row["grid_upper"]) or row["c_star"] is None else f"{row['grid_upper']:g}"
        ed80 = (
            "—" if pd.isna(row["ed80"]) else f"{row['ed80']:.3g} [{_number(row['ci_low'])}, {_number(row['ci_high'])}]"
        )
        value = "—" if row["value"] is None or pd.isna(row["value"]) else f"{row['value']:g}"
        lines.append(
            f"| {row['threshold']} | {row['setting']} | {value} | {c_star} | {upper} | {ed80} | "
            f"{_number(row['upper'])} | {row['note'] if isinstance(row['note'], str) else ''} |"
        )
    return "\n".join(lines)


def refinement_rounds(coverage_runs: pd.DataFrame) -> pd.DataFrame:
    """Per refinement round (0 = the grid alone): runs so far, the edge the round's runs went to, and ED80 and the
    upper edge (effective) with their interval widths in decades, re-fitted on the runs up to that round."""
    rows = []
    rounds = coverage_runs["refinement_round"].fillna(0).astype(int) if "refinement_round" in coverage_runs else None
    last = int(rounds.max()) if rounds is not None else 0
    for number in range(last + 1):
        runs = coverage_runs[rounds <= number]
        fit = fit_dose_response(runs["coverage"], runs["effective"], checks=False)
        edges = coverage_runs.loc[rounds == number, "refinement_edge"] if number else pd.Series([], dtype=str)
        rows.append(
            {
                "round": number,
                "runs": len(runs),
                "edge": edges.iloc[0] if len(edges) else "",
                "ed80": None if fit.ed80 is None else fit.ed80.coverage,
                "ed80_width": None if fit.ed80 is None else fit.ed80.width,
                "upper": None if fit.upper is None else fit.upper.coverage,
                "upper_width": None if fit.upper is None else fit.upper.width,
            }
        )
    return pd.DataFrame(rows)


def _refinement_text(coverage_runs: pd.DataFrame) -> str:
    if "refinement" not in coverage_runs or not coverage_runs["refinement"].any():
        return "No runs came from refinement: every run belongs to the configured grid."
    added = coverage_runs[coverage_runs["refinement"]]
    levels = "; ".join(
        f"{c:g}: seeds {', '.join(str(s) for s in group['seed'])}" for c, group in added.groupby("coverage")
    )
    text = (
        f"{len(added)} runs came from refinement (`kedro refine`, recorded in `data/05_model_input/refinement/<env>.json`): "
        f"{levels}. They enter the fitted estimates; c\\* and the grid window use the configured grid only."
    )
    if "refinement_edge" in added:
        counts = added["refinement_edge"].value_counts()
        text += (
            f" Runs per edge: {int(counts.get('ed80', 0))} for ED80, {int(counts.get('upper', 0))} for the upper edge"
            + (f", {int(counts.get('', 0))} unrecorded" if counts.get("", 0) else "")
            + " (each round goes, whole, to the edge with the wider interval)."
        )
    if "refinement_round" in added:
        table = refinement_rounds(coverage_runs)
        lines = [
            "| round | runs | edge refined | ED80 | width (decades) | upper edge | width (decades) |",
            "|---" * 7 + "|",
        ]
        for row in table.to_dict("records"):
            edge = {"ed80": "ED80", "upper": "upper edge"}.get(row["edge"], "— (the grid)" if row["round"] == 0 else "")
            lines.append(
                f"| {row['round']} | {row['runs']} | {edge} | {_number(row['ed80'])} | {_number(row['ed80_width'])} | "
                f"{_number(row['upper'])} | {_number(row['upper_width'])} |"
            )
        text += (
            "\n\nEach interval's width per round (effective, re-fitted on the runs up to that round):\n\n"
            + "\n".join(lines)
        )
    return text


def estimate_sections(
    ed80_fits: dict[str, Any], threshold_sensitivity: pd.DataFrame | None, coverage_runs: pd.DataFrame
) -> str:
    """Markdown sections after the answer: estimates per criterion, threshold sensitivity, refinement."""
    sensitivity = (
        ""
        if threshold_sensitivity is None
        else f"""
## Threshold sensitivity (effective)

c\\* and ED80 with one threshold at a time moved to a looser and a stricter value (`reporting.sensitivity`).

{_sensitivity_table(threshold_sensitivity)}
"""
    )
    return f"""
## Dose–response estimates per criterion

Binomial GLM (logit) of pass/fail on log10 c over runs with c > 0; the quadratic term is kept only when a
likelihood-ratio test rejects β2 = 0 at 5 % with β2 < 0. Intervals are 95 % profile likelihood. Which criterion
binds is the one with the highest ED80 (and the lowest upper edge). `ed80.csv` holds the numbers (`m5` is the same
fit as `controllable`, shown once as `controllable (M5)`).

Checks (SPEC §9c): the goodness-of-fit p compares the deviance over levels with the saturated model's by a
parametric bootstrap (999 data sets drawn from the fitted curve and re-fitted: with 5 seeds a level the χ²
approximation is poor); probit / cloglog give ED80 (then the upper edge) of the same model under those links.
⚠ marks an estimate whose interval leaves the tested coverages (extrapolated), another link's estimate outside
the logit's interval, or a fit rejected at 5 %.

{_estimates_table(ed80_fits)}
{sensitivity}
## Refinement

{_refinement_text(coverage_runs)}
"""
