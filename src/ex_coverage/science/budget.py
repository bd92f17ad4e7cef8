"""The label budget map (SPEC §9b): red-only × vibrant-only coverage, which label binds which criterion.

One cell of the map fixes each label's *own* coverage — the mean over the training grid of that
label's probability — through its own multiplier (``p_red = m_red·0.07·redness¹⁰``,
``p_vibrant = m_vibrant·0.02·vibrancy¹⁰⁰``). This module holds the grid's cells, the solve of a
cell's two multipliers, the per-run table and per-cell summary, the cheapest cell and the
binding analysis, all as plain functions of tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from numpy.typing import NDArray

from ex_coverage.science import metrics
from ex_coverage.science.errors import StaleResultsError
from ex_coverage.science.labels import coverage_at, solve_label_multipliers
from ex_coverage.science.metrics import Thresholds, passes, wilson_interval
from ex_coverage.science.records import coverage_token, current_fingerprints

#: The two labels the map varies, in (row, column) order of its heat maps' axes (red up, vibrant across).
LABELS = ("red", "vibrant")


@dataclass(frozen=True)
class Criterion:
    """A per-run pass flag of the run table, the name of its pass-rate column, and how to say it."""

    column: str
    rate: str
    title: str
    short: str


#: How the map names each pass flag of :data:`ex_coverage.science.metrics.CRITERIA`: (title, short name).
WORDS = {
    "effective": ("effective (structured and controllable)", "effective"),
    "structured": ("structured (M1–M4)", "structured"),
    "controllable": ("controllable (M5)", "controllable"),
    "pass_m1": ("M1 anchor alignment", "M1"),
    "pass_m2": ("M2 planarity of the hue ring", "M2"),
    "pass_m3": ("M3 colour-wheel order", "M3"),
    "pass_m4": ("M4 reconstruction", "M4"),
    "pass_m5": ("M5 intervention control", "M5"),
}


def _criterion(column: str) -> Criterion:
    title, short = WORDS.get(column, (column, column))
    return Criterion(column, f"{column.removeprefix('pass_')}_rate", title, short)


#: Every criterion of the run table (the one list, :data:`ex_coverage.science.metrics.CRITERIA`), in the order of
#: the summary's columns: effective, the other classifications, then M1, M2, … A criterion whose flag is missing
#: from a run table is left out of that table's summary.
CRITERIA = tuple(
    _criterion(c) for c in sorted(metrics.CRITERIA, key=lambda c: (c != "effective", c not in metrics.CLASSIFICATIONS))
)

#: The summary's leading columns; each present criterion's rate follows, then ``expected_labels``.
CELL_COLUMNS = ["red_coverage", "vibrant_coverage", "realised_red", "realised_vibrant", "runs"]


def present_criteria(columns: Iterable[str], criteria: Sequence[Criterion] = CRITERIA) -> list[Criterion]:
    """The criteria whose pass flag is one of ``columns``, in ``criteria`` order."""
    available = set(columns)
    return [c for c in criteria if c.column in available]


def cell_namespace(red_coverage: float, vibrant_coverage: float) -> str:
    """``budget_r0p001_v0p0005``: the Kedro namespace (and results folder) of one cell."""
    return f"budget_r{coverage_token(red_coverage)}_v{coverage_token(vibrant_coverage)}"


@dataclass(frozen=True)
class BudgetGrid:
    """Red-only and vibrant-only coverages (ascending, each including 0) and the seeds of every cell."""

    red_coverages: tuple[float, ...]
    vibrant_coverages: tuple[float, ...]
    seeds: tuple[int, ...]

    @property
    def cells(self) -> dict[str, tuple[float, float]]:
        """``namespace -> (red coverage, vibrant coverage)``, red-major."""
        return {cell_namespace(r, v): (r, v) for r in self.red_coverages for v in self.vibrant_coverages}


def solve_cell(red_coverage: float, vibrant_coverage: float, base: Mapping[str, NDArray]) -> dict[str, Any]:
    """Both multipliers of a cell, each from that label's own coverage, as the training node reads them.

    ``target_coverage`` and ``expected_coverage`` are the any-label coverage the two multipliers give
    together (a colour can carry both labels, so it is at most the sum of the two).
    """
    solutions = solve_label_multipliers({"red": red_coverage, "vibrant": vibrant_coverage}, base)
    multipliers = {name: s.multiplier for name, s in solutions.items()}
    combined = coverage_at(base, multipliers)
    return {
        "target_coverage": combined,
        "expected_coverage": combined,
        "multiplier": None,
        "multipliers": multipliers,
        "label_coverages": {name: s.target_coverage for name, s in solutions.items()},
        "expected_label_coverages": {name: s.expected_coverage for name, s in solutions.items()},
        "saturated": any(s.saturated for s in solutions.values()),
        "saturated_labels": sorted(name for name, s in solutions.items() if s.saturated),
    }


def cell_runs(label_multiplier: Mapping[str, Any], run_scores: pd.DataFrame) -> pd.DataFrame:
    """One cell's scored runs with the cell's coordinates, multipliers and realised per-label coverage."""
    runs = run_scores.copy()
    counted = runs["counted_samples"].where(runs["counted_samples"] > 0)
    front = {
        "red_coverage": label_multiplier["label_coverages"]["red"],
        "vibrant_coverage": label_multiplier["label_coverages"]["vibrant"],
        "multiplier_red": label_multiplier["multipliers"]["red"],
        "multiplier_vibrant": label_multiplier["multipliers"]["vibrant"],
        "expected_coverage": label_multiplier["expected_coverage"],
    }
    for position, (name, value) in enumerate(front.items()):
        runs.insert(position, name, value)
    for label in LABELS:
        runs[f"realised_{label}"] = (runs[f"labelled_{label}"] / counted).fillna(0.0)
    return runs.drop(columns=["multiplier"], errors="ignore")


def current_cell_fingerprints(
    training: Mapping[str, Any],
    labels: Mapping[str, Any],
    grids: Mapping[str, Any],
    schedule_digest: str,
    schedule_length: int,
) -> Callable[[Mapping[str, float], float, int], str]:
    """``(label coverages, any-label coverage, seed) -> fingerprint`` of a budget-map run under the current
    configuration."""
    current = current_fingerprints(training, labels, grids, schedule_digest, schedule_length)
    return lambda label_coverages, coverage, seed: current(coverage, seed, label_coverages)


def check_cells_fresh(runs: pd.DataFrame, current: Callable[[Mapping[str, float], float, int], str]) -> None:
    """Raise :class:`StaleResultsError` listing every run whose fingerprint is not ``current(label coverages,
    coverage, seed)`` under today's configuration."""
    stale = [
        (row["red_coverage"], row["vibrant_coverage"], row["seed"])
        for row in runs.to_dict("records")
        if row["fingerprint"]
        != current({"red": row["red_coverage"], "vibrant": row["vibrant_coverage"]}, row["coverage"], row["seed"])
    ]
    if stale:
        raise StaleResultsError(
            f"{len(stale)} of {len(runs)} budget-map runs were trained with a different configuration than the "
            "current one (parameters, schedule or project version changed): "
            + ", ".join(f"red {r:g} vibrant {v:g} seed {s}" for r, v, s in stale)
            + f" (cells {', '.join(sorted({cell_namespace(r, v) for r, v, _ in stale}))}). "
            "Refresh them with `kedro run --pipeline budget_map` (without --only-missing-outputs)."
        )


def flag_runs(runs: pd.DataFrame, thresholds: Thresholds) -> pd.DataFrame:
    """The run table with every pass flag of :func:`ex_coverage.science.metrics.passes`, sorted by cell and seed."""
    flags = pd.DataFrame([passes(row, thresholds) for row in runs.to_dict("records")], index=runs.index)
    runs = pd.concat([runs.drop(columns=[c for c in flags.columns if c in runs.columns]), flags], axis=1)
    return runs.sort_values(["red_coverage", "vibrant_coverage", "seed"], ignore_index=True)


def summarise_cells(runs: pd.DataFrame, samples_per_run: int, criteria: Sequence[Criterion] = CRITERIA) -> pd.DataFrame:
    """One row per cell: realised per-label coverage (labels counted over all its runs / samples counted), runs,
    the pass rate of every present criterion with Wilson 95 % bounds, and the expected labelled samples per run
    (the cell's expected any-label coverage × ``samples_per_run``)."""
    present = present_criteria(runs.columns, criteria)
    rows = []
    for (red, vibrant), group in runs.groupby(["red_coverage", "vibrant_coverage"], sort=True):
        counted = group["counted_samples"].sum()
        row: dict[str, Any] = {
            "red_coverage": red,
            "vibrant_coverage": vibrant,
            **{f"realised_{label}": group[f"labelled_{label}"].sum() / counted if counted else 0.0 for label in LABELS},
            "runs": len(group),
        }
        bounds: dict[str, float] = {}
        for criterion in present:
            passed = int(group[criterion.column].astype(bool).sum())
            row[criterion.rate] = passed / len(group)
            bounds[f"{criterion.rate}_low"], bounds[f"{criterion.rate}_high"] = wilson_interval(passed, len(group))
        expected = float(group["expected_coverage"].iloc[0])
        row["expected_labels"] = expected * samples_per_run
        row.update(bounds)
        row.update(
            expected_coverage=expected,
            realised_coverage=group["labelled_any"].sum() / counted if counted else 0.0,
            multiplier_red=float(group["multiplier_red"].iloc[0]),
            multiplier_vibrant=float(group["multiplier_vibrant"].iloc[0]),
        )
        rows.append(row)
    return pd.DataFrame(rows)


def cheapest_cell(summary: pd.DataFrame, rate: str, min_rate: float) -> dict[str, Any] | None:
    """The cell with the fewest expected labelled samples whose ``rate`` reaches ``min_rate`` (ties: the higher
    rate, then fewer red labels); None if no cell does."""
    passing = summary[summary[rate] >= min_rate]
    if passing.empty:
        return None
    best = passing.sort_values(["expected_labels", rate, "red_coverage"], ascending=[True, False, True]).iloc[0]
    return {
        "red_coverage": float(best["red_coverage"]),
        "vibrant_coverage": float(best["vibrant_coverage"]),
        "rate": float(best[rate]),
        "runs": int(best["runs"]),
        "expected_labels": float(best["expected_labels"]),
    }


@dataclass(frozen=True)
class Binding:
    """Which label a criterion needs, read off the map: a label is *needed* when no cell without it (its
    coverage 0) reaches the required pass rate while some cell does."""

    criterion: str
    title: str
    verdict: str  # "red", "vibrant", "both", "either", "neither" (passes without labels) or "unreached"
    min_red: float | None  # the lowest red coverage of any cell that reaches the rate
    min_vibrant: float | None
    red_alone: float | None  # the lowest red coverage that reaches it with vibrant coverage 0
    vibrant_alone: float | None
    red_everywhere: float | None  # the lowest red coverage from which it reaches the rate in every cell, at any vibrant
    vibrant_everywhere: float | None
    cheapest: dict[str, Any] | None
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _lowest(values: pd.Series) -> float | None:
    return float(values.min()) if len(values) else None


def _reached_from(summary: pd.DataFrame, reached: pd.Series, axis: str) -> float | None:
    """The lowest coverage on ``axis`` from which every cell at it or above reaches the rate; None if not even the top."""
    lowest = None
    for coverage in sorted(summary[axis].unique(), reverse=True):
        if not reached[summary[axis] == coverage].all():
            break
        lowest = float(coverage)
    return lowest


def binding(summary: pd.DataFrame, criterion: Criterion, min_rate: float) -> Binding:
    """Which label binds ``criterion`` on this map, with the coverages that show it, in one plain sentence.

    Needs the coverage-0 row and column (the grid includes 0 for each label).
    """
    passing = summary[summary[criterion.rate] >= min_rate]
    red_zero, vibrant_zero = passing["red_coverage"] == 0, passing["vibrant_coverage"] == 0
    min_red, min_vibrant = _lowest(passing["red_coverage"]), _lowest(passing["vibrant_coverage"])
    red_alone = _lowest(passing.loc[vibrant_zero, "red_coverage"])
    vibrant_alone = _lowest(passing.loc[red_zero, "vibrant_coverage"])
    reached = summary[criterion.rate] >= min_rate
    red_everywhere = _reached_from(summary, reached, "red_coverage")
    vibrant_everywhere = _reached_from(summary, reached, "vibrant_coverage")
    cheapest = cheapest_cell(summary, criterion.rate, min_rate)
    name, rate = criterion.title, f"a pass rate of {min_rate:g}"
    if passing.empty:
        verdict = "unreached"
        best = summary.loc[summary[criterion.rate].idxmax()]
        sentence = (
            f"{name}: no cell reaches {rate} (best {best[criterion.rate]:.2f} at red {best['red_coverage']:g}, "
            f"vibrant {best['vibrant_coverage']:g}), so the map cannot say which label binds it."
        )
    elif (red_zero & vibrant_zero).any():
        verdict = "neither"
        sentence = f"{name}: reaches {rate} with no labels at all, so neither label binds it."
    elif not red_zero.any() and not vibrant_zero.any():
        verdict = "both"
        sentence = (
            f"{name}: **both labels bind**. It needs red labels (from a red-only coverage of {min_red:g}) and "
            f"vibrant labels (from a vibrant-only coverage of {min_vibrant:g}); neither label alone reaches {rate}."
        )
    elif not red_zero.any():
        verdict = "red"
        sentence = (
            f"{name}: **red labels bind**. No cell without red labels reaches {rate}; it does from a red-only "
            f"coverage of {min_red:g}, and vibrant labels are not needed (red alone reaches it from {red_alone:g})"
            + (
                f"; from red {red_everywhere:g} on it reaches it at every vibrant coverage."
                if red_everywhere is not None
                else "."
            )
        )
    elif not vibrant_zero.any():
        verdict = "vibrant"
        sentence = (
            f"{name}: **vibrant labels bind**. No cell without vibrant labels reaches {rate}; it does from a "
            f"vibrant-only coverage of {min_vibrant:g}, and red labels are not needed (vibrant alone reaches it "
            f"from {vibrant_alone:g})"
            + (
                f"; from vibrant {vibrant_everywhere:g} on it reaches it at every red coverage."
                if vibrant_everywhere is not None
                else "."
            )
        )
    else:
        verdict = "either"
        sentence = (
            f"{name}: needs some labels but **either label suffices**: red alone reaches {rate} from "
            f"{red_alone:g}, vibrant alone from {vibrant_alone:g}."
        )
    return Binding(
        criterion.column,
        name,
        verdict,
        min_red,
        min_vibrant,
        red_alone,
        vibrant_alone,
        red_everywhere,
        vibrant_everywhere,
        cheapest,
        sentence,
    )


def bindings(summary: pd.DataFrame, min_rate: float, criteria: Sequence[Criterion] = CRITERIA) -> list[Binding]:
    """:func:`binding` for every criterion the summary has a rate for."""
    return [binding(summary, c, min_rate) for c in criteria if c.rate in summary.columns]


def binding_overview(results: Sequence[Binding]) -> str:
    """The bindings grouped by verdict, in one paragraph: which label binds which criterion."""
    groups = {
        "red": "Red labels alone bind",
        "vibrant": "Vibrant labels alone bind",
        "both": "Both labels bind",
        "either": "Either label is enough for",
        "neither": "No labels are needed for",
        "unreached": "No cell of the map reaches the required rate for",
    }
    parts = []
    for verdict, words in groups.items():
        titles = [b.title for b in results if b.verdict == verdict]
        if titles:
            parts.append(f"{words}: {', '.join(titles)}.")
    return " ".join(parts)
