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
    """The closing block: answer, ED80 when estimated, runs passed, report and figure paths."""
    lines = ["", "── Sweep summary " + "─" * 40, answer_line(critical)]
    estimate = ed80_line(ed80)
    if estimate:
        lines.append(estimate)
    lines.append(runs_line(runs))
    lines.append(f"Report:  {report}")
    if figures:
        folder = Path(figures[0]).parent
        lines.append(f"Figures: {folder}/ {', '.join(Path(f).name for f in figures)}")
    if level_pages:
        lines.append(f"Levels:  {level_pages}/ (a page and figures per coverage level)")
    return "\n".join(lines)
