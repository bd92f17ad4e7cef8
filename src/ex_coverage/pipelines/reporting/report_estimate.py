"""report.md sections of the continuous answer: the working window, the estimates per criterion, threshold
sensitivity and the runs added by refinement (SPEC §9, §9a)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ex_coverage.science.estimate import NOT_MEASURED, Crossing, DoseResponse


def _number(value: Any) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"


def _interval(crossing: Crossing) -> str:
    low, high = crossing.coverage_interval()
    return f"[{'unbounded' if low is None else f'{low:.3g}'}, {'unbounded' if high is None else f'{high:.3g}'}]"


def _fit(data: dict[str, Any]) -> DoseResponse | None:
    return DoseResponse.from_dict(data) if "coefficients" in data else None


def answer_section(ed80_fits: dict[str, Any], critical: dict[str, Any], coverage_runs: pd.DataFrame) -> str:
    """The lead paragraph: the working window of ``effective`` (ED80 to the upper edge, with intervals)."""
    data = ed80_fits["effective"]
    fit = _fit(data)
    if fit is None or fit.ed80 is None:
        reason = data.get("reason") or "not estimable"
        return f"**Working window (fitted, effective)**: ED80 is not given — {reason}."
    samples = critical["samples_per_run"]
    text = (
        f"**Working window (fitted, effective)**: from **ED80 = {fit.ed80.coverage:.3g}** "
        f"(95 % profile-likelihood interval {_interval(fit.ed80)}; about {fit.ed80.coverage * samples:.0f} labelled "
        f"samples per run) "
    )
    if fit.upper is not None:
        text += (
            f"up to the **upper edge {fit.upper.coverage:.3g}** (95 % interval {_interval(fit.upper)}): above it "
            f"the downturn (curvature p = {fit.curvature_p:.2g}) brings the pass rate back under 0.8."
        )
    elif fit.model == "quadratic":
        text += "upwards; the downturn does not cross 0.8 below c = 1."
    else:
        curvature = "" if fit.curvature_p is None else f" (curvature p = {fit.curvature_p:.2g})"
        text += f"upwards; no significant downturn{curvature}, so no upper edge is estimated."
    text += f" Fit: {fit.model} logistic in log10 c over {fit.runs} runs with c > 0."
    if fit.notes:
        text += " " + "; ".join(n[0].upper() + n[1:] for n in fit.notes) + "."
    if "refinement" in coverage_runs and coverage_runs["refinement"].any():
        added = coverage_runs[coverage_runs["refinement"]]
        text += f" {len(added)} of these runs were added by refinement (`kedro refine`, see below)."
    return text


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


def _estimates_table(ed80_fits: dict[str, Any]) -> str:
    lines = [
        "| criterion | model | ED80 [95 % CI] | upper edge [95 % CI] | β1 (p) | curvature p | runs | statement |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, data in ed80_fits.items():
        fit = _fit(data)
        if fit is None:
            lines.append(f"| {name} | — | — | — | — | — | {data.get('runs') or '—'} | {data.get('reason')} |")
            continue
        ed80 = "—" if fit.ed80 is None else f"{fit.ed80.coverage:.3g} {_interval(fit.ed80)}"
        upper = "—" if fit.upper is None else f"{fit.upper.coverage:.3g} {_interval(fit.upper)}"
        slope = f"{_number(fit.slope)} ({_number(fit.slope_p)})"
        statement = "; ".join([*([fit.reason] if fit.reason else []), *fit.notes]) or "—"
        lines.append(
            f"| {name} | {fit.model} | {ed80} | {upper} | {slope} | {_number(fit.curvature_p)} | {fit.runs} | {statement} |"
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


def _refinement_text(coverage_runs: pd.DataFrame) -> str:
    if "refinement" not in coverage_runs or not coverage_runs["refinement"].any():
        return "No runs came from refinement: every run belongs to the configured grid."
    added = coverage_runs[coverage_runs["refinement"]]
    levels = "; ".join(
        f"{c:g}: seeds {', '.join(str(s) for s in group['seed'])}" for c, group in added.groupby("coverage")
    )
    return (
        f"{len(added)} runs came from refinement (`kedro refine`, recorded in `data/05_model_input/refinement/<env>.json`): "
        f"{levels}. They enter the fitted estimates; c\\* and the grid window use the configured grid only."
    )


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
binds is the one with the highest ED80 (and the lowest upper edge). `ed80.csv` holds the numbers.

{_estimates_table(ed80_fits)}
{sensitivity}
## Refinement

{_refinement_text(coverage_runs)}
"""
