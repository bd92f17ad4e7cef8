"""The keyframed training schedule, or "dopesheet" (SPEC §5).

``parse_schedule`` turns the CSV's rows (all cells as strings) into a :class:`Schedule`: one value
per training step for every property column. Any problem raises :class:`ScheduleError` naming the
file, the row (as numbered in the file, header = row 1) and the column.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ex_coverage.science.errors import ExCoverageError

RESERVED_COLUMNS = ("STEP", "PHASE", "ACTION")
SPACES = ("linear", "log")
INTERPOLATORS = ("minjerk", "linear", "step-end", "step")

_INTEGER = re.compile(r"^\d+$")
_OFFSET = re.compile(r"^([+-])(\d+)$")
_FRACTION = re.compile(r"^([+-])(\d*\.\d*)$")


class ScheduleError(ExCoverageError, ValueError):
    """The schedule file is malformed; the message names the file, row and column."""


def minjerk(tau: NDArray) -> NDArray:
    """Minimum-jerk easing ``10τ³ − 15τ⁴ + 6τ⁵``."""
    return tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)


EASINGS = {
    "minjerk": minjerk,
    "linear": lambda tau: tau,
    "step-end": lambda tau: np.where(tau >= 1.0, 1.0, 0.0),
    "step": lambda tau: np.where(tau >= 1.0, 1.0, 0.0),
}


@dataclass(frozen=True)
class Schedule:
    """Per-step values of every property, plus the phase name at each step."""

    values: Mapping[str, NDArray[np.float64]]
    phases: Sequence[str] = field(default_factory=list)
    digest: str = ""  # SHA-256 of the file it was read from, for run records

    def __len__(self) -> int:
        return len(next(iter(self.values.values()))) if self.values else len(self.phases)

    def get(self, name: str, default: float) -> NDArray[np.float64]:
        """The property's per-step values, or a constant ``default`` if the schedule lacks it."""
        if name in self.values:
            return self.values[name]
        return np.full(len(self), float(default))


def _where(source: str, row: int | None = None, column: str | None = None) -> str:
    parts = [source]
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)


def _resolve_steps(cells: list[str], source: str) -> list[int]:
    """Resolve anchors and relative steps in file order (SPEC §5)."""
    anchors: list[int | None] = []
    for cell in cells:
        anchors.append(int(cell) if _INTEGER.match(cell) else None)
    resolved = []
    for i, cell in enumerate(cells):
        where = _where(source, i + 2, "STEP")
        if anchors[i] is not None:
            resolved.append(anchors[i])
            continue
        previous = next((a for a in reversed(anchors[:i]) if a is not None), None)
        following = next((a for a in anchors[i + 1 :] if a is not None), None)
        if m := _OFFSET.match(cell):
            sign, amount = m.group(1), int(m.group(2))
            anchor = previous if sign == "+" else following
            if anchor is None:
                side = "before" if sign == "+" else "after"
                raise ScheduleError(f"{where}: relative step {cell!r} needs an anchor step {side} it")
            resolved.append(anchor + amount if sign == "+" else anchor - amount)
        elif m := _FRACTION.match(cell):
            sign, fraction = m.group(1), float(m.group(2))
            if not 0.0 < fraction < 1.0:
                raise ScheduleError(f"{where}: fractional step {cell!r} must lie strictly between 0 and 1")
            if previous is None or following is None:
                raise ScheduleError(f"{where}: fractional step {cell!r} needs anchor steps before and after it")
            span = following - previous
            offset = fraction * span if sign == "+" else span - fraction * span
            resolved.append(previous + math.floor(offset + 0.5))
        else:
            raise ScheduleError(f"{where}: cannot read step {cell!r} (expected N, +N, -N, +F or -F)")
        if resolved[-1] < 0:
            raise ScheduleError(f"{where}: step {cell!r} resolves to {resolved[-1]}, before step 0")
    return resolved


def _parse_header(column: str, source: str) -> tuple[str, str, str]:
    name, *rest = column.split(":")
    space = rest[0] if len(rest) > 0 and rest[0] else "linear"
    interpolator = rest[1] if len(rest) > 1 and rest[1] else "minjerk"
    if not name or len(rest) > 2:
        raise ScheduleError(f"{_where(source, 1, column)}: header must be name[:space[:interpolator]]")
    if space not in SPACES:
        raise ScheduleError(
            f"{_where(source, 1, column)}: unknown space {space!r} (expected one of {', '.join(SPACES)})"
        )
    if interpolator not in INTERPOLATORS:
        raise ScheduleError(
            f"{_where(source, 1, column)}: unknown interpolator {interpolator!r} "
            f"(expected one of {', '.join(INTERPOLATORS)})"
        )
    return name, space, interpolator


def interpolate(
    steps: NDArray, values: NDArray, length: int, easing: str = "minjerk", log_space: bool = False
) -> NDArray[np.float64]:
    """Per-step values from keyframes ``(steps[k], values[k])``, steps strictly increasing."""
    values = np.log(values) if log_space else np.asarray(values, dtype=np.float64)
    t = np.arange(length, dtype=np.float64)
    out = np.full(length, values[0])
    ease = EASINGS[easing]
    for (t0, v0), (t1, v1) in zip(zip(steps[:-1], values[:-1]), zip(steps[1:], values[1:])):
        inside = (t >= t0) & (t <= t1)
        tau = (t[inside] - t0) / (t1 - t0)
        out[inside] = v0 + (v1 - v0) * ease(tau)
    out[t >= steps[-1]] = values[-1]
    return np.exp(out) if log_space else out


def parse_schedule(frame: pd.DataFrame, source: str = "dopesheet") -> Schedule:
    """Build a :class:`Schedule` from a dopesheet table whose cells are strings ('' = empty)."""
    frame = frame.fillna("").astype(str)
    frame.columns = [str(c).strip() for c in frame.columns]
    if "STEP" not in frame.columns:
        raise ScheduleError(f"{source}: no STEP column (found: {', '.join(frame.columns) or 'none'})")
    if frame.empty:
        raise ScheduleError(f"{source}: the schedule has no rows")
    cells = [c.strip() for c in frame["STEP"]]
    steps = _resolve_steps(cells, source)
    order = sorted(range(len(steps)), key=lambda i: steps[i])
    for a, b in itertools.pairwise(order):
        if steps[a] == steps[b]:
            raise ScheduleError(
                f"{_where(source, b + 2, 'STEP')}: resolves to step {steps[b]}, the same as row {a + 2}"
            )
    length = steps[order[-1]] + 1

    values = {}
    for column in frame.columns:
        if column in RESERVED_COLUMNS:
            continue
        name, space, interpolator = _parse_header(column, source)
        keyframes = []
        for i in order:
            cell = frame[column].iloc[i].strip()
            if not cell:
                continue
            try:
                value = float(cell)
            except ValueError:
                raise ScheduleError(f"{_where(source, i + 2, column)}: {cell!r} is not a number") from None
            if not math.isfinite(value):
                raise ScheduleError(f"{_where(source, i + 2, column)}: {cell!r} is not a finite number")
            if space == "log" and value <= 0:
                raise ScheduleError(f"{_where(source, i + 2, column)}: {cell!r} must be positive in log space")
            keyframes.append((steps[i], value))
        if not keyframes:
            raise ScheduleError(f"{_where(source, None, column)}: the column has no values")
        if name in values:
            raise ScheduleError(f"{_where(source, 1, column)}: property {name!r} appears twice")
        ks, vs = (np.array(x, dtype=np.float64) for x in zip(*keyframes))
        values[name] = interpolate(ks, vs, length, interpolator, space == "log")

    phases = [""] * length
    if "PHASE" in frame.columns:
        current = ""
        marks = {steps[i]: frame["PHASE"].iloc[i].strip() for i in order if frame["PHASE"].iloc[i].strip()}
        for t in range(length):
            current = marks.get(t, current)
            phases[t] = current
    return Schedule(values=values, phases=phases)


#: How a dopesheet CSV is read: every cell as text, empty cells empty (the parser checks and converts them). The
#: catalog entry ``dopesheet`` (kedro-datasets' CSVDataset) reads it with these ``load_args``.
CSV_READ_ARGS = {"dtype": str, "keep_default_na": False}


def schedule_from_table(table: pd.DataFrame, source: str = "dopesheet") -> Schedule:
    """Parse a dopesheet table (cells as text) into a :class:`Schedule` whose ``digest`` is the SHA-256 of the table
    as CSV text: what run records carry to tell which schedule trained them."""
    digest = hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()
    return replace(parse_schedule(table, source=source), digest=digest)


def read_schedule_csv(path: str | Path) -> Schedule:
    """Read and parse a dopesheet CSV file (as the pipeline does: :data:`CSV_READ_ARGS`, :func:`schedule_from_table`)."""
    try:
        table = pd.read_csv(path, **CSV_READ_ARGS)
    except FileNotFoundError:
        raise ScheduleError(f"{path}: schedule file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ScheduleError(f"{path}: not a readable CSV file ({error})") from None
    return schedule_from_table(table, source=str(path))
