"""The short block a sweep ends with: the answer, how many runs passed, and where to look.

Printed by the ``after_pipeline_run`` hook (``hooks.py``) whenever a run wrote ``report``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

#: Per-run pass columns reported when present, the first being the one c* is computed from.
PASS_COLUMNS = ("effective", "structured", "controllable")


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _interval(low: float | None, high: float | None, scale: float = 1.0, fmt: str = ".3g") -> str:
    return "[" + ", ".join("unbounded" if v is None else f"{v * scale:{fmt}}" for v in (low, high)) + "]"


def _edge(row: Mapping[str, Any], prefix: str, samples: float | None) -> str:
    """One edge of the window: coverage [interval], % of samples, labelled samples per run, and its flags."""
    names = ("ed80", "ci_low", "ci_high") if prefix == "ed80" else ("upper", "upper_low", "upper_high")
    value, low, high = (_number(row.get(n)) for n in names)
    text = f"{value:.3g} {_interval(low, high)} ({value * 100:.3g} % of samples"
    if samples:
        text += f", ≈ {value * samples:.0f} {_interval(low, high, samples, '.0f')} labelled samples per run"
    text += ")"
    flags = []
    if row.get(f"{prefix}_extrapolated") is True or str(row.get(f"{prefix}_extrapolated")) == "True":
        flags.append("extrapolated: it or its interval lies outside the tested coverages")
    lo, hi = low if low is not None else -math.inf, high if high is not None else math.inf
    for link in ("probit", "cloglog"):
        other = _number(row.get(f"{prefix}_{link}"))
        if other is not None and not lo <= other <= hi:
            flags.append(f"the {link} link gives {other:.3g}, outside this interval")
    return text + "".join(f" [{flag}]" for flag in flags)


def window_line(ed80: pd.DataFrame | Mapping[str, Any] | None, samples_per_run: float | None = None) -> str | None:
    """The fitted working window of ``effective`` (SPEC §9): ED80 and the upper edge with 95 % intervals, as
    coverage, % of samples and labelled samples per run, flagged where extrapolated, where another link's estimate
    leaves the interval, or where the fit is rejected; without a downturn, ED80 alone and that no upper edge was
    found. ``ed80`` is ``ed80.csv`` (its ``effective`` row) or that row as a mapping. None without it."""
    if ed80 is None:
        return None
    if isinstance(ed80, pd.DataFrame):
        if "criterion" not in ed80.columns or not (ed80["criterion"] == "effective").any():
            return None
        row: Mapping[str, Any] = ed80[ed80["criterion"] == "effective"].iloc[0].to_dict()
    else:
        row = ed80
    if _number(row.get("ed80")) is None:
        return "Working window (fitted, effective): ED80 not estimable (see the report)"
    text = f"Working window (fitted, effective): from ED80 = {_edge(row, 'ed80', samples_per_run)}"
    if _number(row.get("upper")) is not None:
        text += f" to the upper edge {_edge(row, 'upper', samples_per_run)}"
    else:
        text += "; no upper edge found (no significant downturn below c = 1)"
    gof = _number(row.get("gof_p"))
    if gof is not None:
        text += f"; {row.get('model')} logistic fit, goodness of fit p = {gof:.2g}"
        if gof < 0.05:
            text += " (rejected at 5 %: read the window with care)"
    return text + ". Intervals: 95 % profile likelihood."


def answer_line(critical: Mapping[str, Any]) -> str:
    """c* with its bracket and the labelled samples it means, or that no level qualifies."""
    c_star, below = critical.get("coverage"), critical.get("last_failing")
    if c_star is None:
        top = f" (highest level {below:g})" if below is not None else ""
        return f"Answer:  no tested coverage reaches a pass rate of {critical.get('min_pass_rate', 0.8):g}{top}"
    bracket = f", above {below:g}" if below is not None else ", the lowest level tested"
    labels = critical.get("expected_labels")
    count = f" ≈ {labels:.0f} labelled samples per run" if labels is not None else ""
    return f"Answer:  c* = {c_star:g}{bracket}{count}"


def ed80_line(ed80: pd.DataFrame | None, criterion: str = "effective") -> str | None:
    """ED80 of ``criterion`` with its 95 % interval (from ``ed80.csv``), or None without that table."""
    if ed80 is None or "criterion" not in ed80.columns:
        return None
    rows = ed80[ed80["criterion"] == criterion]
    if rows.empty:
        return None
    row = rows.iloc[0]
    value = _number(row.get("ed80"))
    model = f" ({row['model']} fit)" if isinstance(row.get("model"), str) and row.get("model") else ""
    if value is None:
        return f"ED80:    not estimable for {criterion}{model}"
    low, high = _number(row.get("ci_low")), _number(row.get("ci_high"))
    interval = "[" + ", ".join(f"{x:.3g}" if x is not None else "unbounded" for x in (low, high)) + "]"
    return f"ED80:    {value:.3g} {interval} 95 % CI, {criterion}{model}"


def runs_line(runs: pd.DataFrame) -> str:
    """How many runs passed, by every pass column the run table has."""
    present = [c for c in PASS_COLUMNS if c in runs.columns]
    if not present:
        return f"Runs:    {len(runs)}"
    first, *others = present
    extra = "".join(f", {c} {int(runs[c].astype(bool).sum())}" for c in others)
    return f"Runs:    {int(runs[first].astype(bool).sum())} of {len(runs)} {first}{extra}"


def sweep_summary(
    critical: Mapping[str, Any],
    runs: pd.DataFrame,
    report: str | Path,
    figures: Sequence[str | Path],
    level_pages: str | Path | None = None,
    ed80: pd.DataFrame | None = None,
) -> str:
    """The closing block: the fitted window when estimated (SPEC §9), c*, runs passed, report and figure paths."""
    lines = ["", "── Sweep summary " + "─" * 40]
    window = window_line(ed80, _number(critical.get("samples_per_run")))
    if window:
        lines.append(window)
    lines.append(answer_line(critical))
    lines.append(runs_line(runs))
    lines.append(f"Report:  {report}")
    if figures:
        folder = Path(figures[0]).parent
        lines.append(f"Figures: {folder}/ {', '.join(Path(f).name for f in figures)}")
    if level_pages:
        lines.append(f"Levels:  {level_pages} (a page and figures per coverage level)")
    return "\n".join(lines)
