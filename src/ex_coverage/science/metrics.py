"""Scoring a trained model (SPEC §8) and turning scores into the answer (SPEC §9).

The latent metrics take unit latents as arrays so they can be tested on synthetic latent spaces;
:func:`score_latents` applies them all and :func:`passes` compares with the thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ex_coverage.science.architecture import ANCHOR
from ex_coverage.science.config import REPORTING_FILE, reject_unknown_keys

#: The metric values of one run, per criterion (SPEC §8): the one definition of their names and order.
#: Run tables, level summaries and figures take their metric columns from here. ``ablation_r2`` is M5's
#: diagnostic (no pass criterion).
METRICS: dict[str, tuple[str, ...]] = {
    "m1": ("anchor_cos",),
    "m2": ("offplane_mean", "offplane_max"),
    "m3": ("winding", "monotone_fraction", "sextant_max_dev_deg"),
    "m4": ("mse_median", "mse_max"),
    "m5": ("suppression_r2", "ablation_r2"),
}
#: Every metric column, in criterion order.
METRIC_COLUMNS: tuple[str, ...] = tuple(name for names in METRICS.values() for name in names)
#: Per-run pass/fail of each metric (SPEC §8).
METRIC_CRITERIA = tuple(f"pass_{criterion}" for criterion in METRICS)
#: Per-run classifications: ``structured`` (M1–M4), ``controllable`` (M5), ``effective`` (both).
CLASSIFICATIONS = ("structured", "controllable", "effective")
#: Every boolean column :func:`passes` gives, in order: the one list of criteria reporting iterates over.
CRITERIA = METRIC_CRITERIA + CLASSIFICATIONS


@dataclass(frozen=True)
class Thresholds:
    """Pass criteria of M1–M5 (SPEC §8); the defaults are the spec's."""

    anchor_cos_min: float = 0.95
    offplane_mean_max: float = 0.10
    offplane_max_max: float = 0.25
    winding: int = 1
    monotone_fraction_min: float = 0.99
    sextant_max_dev_deg: float = 30.0
    mse_median_max: float = 1e-4
    mse_max_max: float = 5e-3
    suppression_r2_min: float = 0.9

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Thresholds:
        reject_unknown_keys(params, "reporting.thresholds", list(cls.__dataclass_fields__), REPORTING_FILE)
        return cls(**params)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def wrap_angle(angle: NDArray | float) -> NDArray | float:
    """Wrap radians to (−π, π]."""
    return np.pi - np.mod(np.pi - np.asarray(angle), 2 * np.pi)


def anchor_alignment(z_red: NDArray) -> float:
    """M1: cosine between the latent of pure red and the anchor (1, 0, 0, 0)."""
    z = np.asarray(z_red, dtype=np.float64).ravel()
    a = np.asarray(ANCHOR)
    return float(z @ a / (np.linalg.norm(z) * np.linalg.norm(a) + 1e-12))


def offplane_energy(z_ring: NDArray) -> NDArray[np.float64]:
    """M2: per-hue energy outside latent dims 0 and 1, ``z2² + z3²``."""
    z = np.asarray(z_ring, dtype=np.float64)
    return (z[:, 2:] ** 2).sum(axis=1)


def wheel_order(z_ring: NDArray) -> dict[str, float]:
    """M3: winding number, monotone fraction and worst sextant deviation of the hue ring's angle in dims (0, 1).

    The ring's hues are evenly spaced starting at red, so sextant j sits at index ``j · n / 6``.
    """
    z = np.asarray(z_ring, dtype=np.float64)
    phi = np.arctan2(z[:, 1], z[:, 0])
    steps = wrap_angle(np.diff(np.append(phi, phi[0])))
    total = float(steps.sum())
    sigma = 1.0 if total >= 0 else -1.0
    n = len(phi)
    deviations = [
        math.degrees(float(wrap_angle(sigma * (phi[j * n // 6] - phi[0]) - math.radians(60.0 * j)))) for j in range(6)
    ]
    return {
        "winding": total / (2 * np.pi),
        "monotone_fraction": float(np.mean(sigma * steps > 0)),
        "sextant_max_dev_deg": float(np.max(np.abs(deviations))),
    }


def r_squared(error: NDArray | Sequence[float], target: NDArray | Sequence[float]) -> float:
    """Squared Pearson correlation of ``error`` and ``target``; 0 when either is constant (nothing to explain)."""
    e = np.asarray(error, dtype=np.float64) - np.mean(error)
    t = np.asarray(target, dtype=np.float64) - np.mean(target)
    denominator = float((e @ e) * (t @ t))
    if denominator <= 0.0 or not np.isfinite(denominator):
        return 0.0
    return float((e @ t) ** 2 / denominator)


def score_latents(z_red: NDArray, z_ring: NDArray, mse: NDArray) -> dict[str, float]:
    """All metric values of one run from its red latent, hue-ring latents and per-colour MSE on the fine HSV grid."""
    energy = offplane_energy(z_ring)
    return {
        "anchor_cos": anchor_alignment(z_red),
        "offplane_mean": float(energy.mean()),
        "offplane_max": float(energy.max()),
        **wheel_order(z_ring),
        "mse_median": float(np.median(mse)),
        "mse_max": float(np.max(mse)),
    }


def passes(scores: Mapping[str, float], thresholds: Thresholds) -> dict[str, bool]:
    """Pass/fail of M1–M5 and the classifications :data:`CLASSIFICATIONS` for one run's scores (keys: :data:`CRITERIA`)."""
    t = thresholds
    m1 = scores["anchor_cos"] >= t.anchor_cos_min
    m2 = scores["offplane_mean"] <= t.offplane_mean_max and scores["offplane_max"] <= t.offplane_max_max
    m3 = (
        abs(abs(scores["winding"]) - t.winding) < 1e-6  # a closed ring winds a whole number of times
        and scores["monotone_fraction"] >= t.monotone_fraction_min
        and scores["sextant_max_dev_deg"] <= t.sextant_max_dev_deg
    )
    m4 = scores["mse_median"] <= t.mse_median_max and scores["mse_max"] <= t.mse_max_max
    m5 = scores["suppression_r2"] >= t.suppression_r2_min
    structured = m1 and m2 and m3 and m4
    return dict(zip(CRITERIA, (m1, m2, m3, m4, m5, structured, m5, structured and m5), strict=True))


def wilson_interval(successes: int, trials: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95 % by default); (0, 1) when there are no trials."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z**2 / trials
    centre = (p + z**2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class CriticalCoverage:
    """The grid's working window (SPEC §9): the longest run of consecutive levels with pass rate ≥ the minimum.

    c* is its lowest level, bracketed by the failing level below it; its highest level is the grid's upper
    edge, bracketed by the failing level above it (None when the window reaches the top of the grid).
    """

    coverage: float | None  # c*; None: no level qualifies
    last_failing: float | None  # the failing level just below c*, the bracket's lower end
    expected_labels: float | None  # c* × steps × batch
    upper: float | None = None  # the window's highest level
    first_failing_above: float | None = None  # the failing level just above the window
    upper_beyond_grid: bool = False  # the window reaches the top level: the upper edge lies beyond the grid

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)


def critical_coverage(
    coverages: Sequence[float], pass_rates: Sequence[float], min_pass_rate: float, samples_per_run: int
) -> CriticalCoverage:
    """c* and the grid's upper edge from the longest run of consecutive qualifying levels (ties: the lowest run)."""
    order = np.argsort(coverages)
    levels = np.asarray(coverages, dtype=np.float64)[order]
    qualifies = np.asarray(pass_rates, dtype=np.float64)[order] >= min_pass_rate
    best, start = None, None
    for i, ok in enumerate([*qualifies, False]):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            if best is None or i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    if best is None:
        return CriticalCoverage(None, float(levels[-1]), None)
    first, stop = best
    below = float(levels[first - 1]) if first > 0 else None
    above = float(levels[stop]) if stop < len(levels) else None
    return CriticalCoverage(
        float(levels[first]),
        below,
        float(levels[first]) * samples_per_run,
        upper=float(levels[stop - 1]),
        first_failing_above=above,
        upper_beyond_grid=above is None,
    )


def summarise_levels(
    runs: pd.DataFrame, metric_columns: Sequence[str], criteria: Sequence[str] = CLASSIFICATIONS
) -> pd.DataFrame:
    """Per coverage level: runs, passes, pass rates with Wilson 95 % bounds, and median/IQR of each metric.

    ``effective`` gets ``effective_runs``, ``pass_rate``, ``pass_rate_low`` and ``pass_rate_high``; every other
    criterion in ``criteria`` that ``runs`` has gets ``<name>_runs``, ``<name>_rate``, ``<name>_rate_low`` and
    ``<name>_rate_high``.
    """
    rows = []
    for coverage, group in runs.groupby("coverage", sort=True):
        n, k = len(group), int(group["effective"].sum())
        low, high = wilson_interval(k, n)
        row = {
            "coverage": coverage,
            "runs": n,
            "effective_runs": k,
            "pass_rate": k / n,
            "pass_rate_low": low,
            "pass_rate_high": high,
        }
        for name in criteria:
            if name == "effective" or name not in group:
                continue
            passed = int(group[name].sum())
            row[f"{name}_runs"], row[f"{name}_rate"] = passed, passed / n
            row[f"{name}_rate_low"], row[f"{name}_rate_high"] = wilson_interval(passed, n)
        row["realised_coverage"] = float(group["realised_coverage"].median())
        for column in metric_columns:
            q1, median, q3 = np.percentile(group[column].astype(float), [25, 50, 75])
            row[f"{column}_median"], row[f"{column}_q1"], row[f"{column}_q3"] = median, q1, q3
        rows.append(row)
    return pd.DataFrame(rows)


#: Prefix of the run-table columns that carry one run's named-colour table (M5 diagnostic, SPEC §8):
#: ``named:<colour>:mse_none`` and ``named:<colour>:mse_suppressed``. Flat columns let the table travel with
#: the run's scores (one per-level table leaves each level), and :func:`named_colour_table` unpacks them.
NAMED_COLOUR_PREFIX = "named:"
NAMED_COLOUR_VALUES = ("mse_none", "mse_suppressed")


def flatten_named_colours(table: pd.DataFrame) -> dict[str, float]:
    """One run's named-colour table (``colour``, ``mse_none``, ``mse_suppressed``) as flat run-table columns."""
    return {
        f"{NAMED_COLOUR_PREFIX}{row['colour']}:{value}": float(row[value])
        for row in table.to_dict("records")
        for value in NAMED_COLOUR_VALUES
    }


def named_colour_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The long table ``coverage, seed, colour, mse_none, mse_suppressed, delta`` of every run, colours in the
    order the runs' columns give them (see :func:`flatten_named_colours`), runs by coverage and seed."""
    columns = [c for c in runs.columns if c.startswith(NAMED_COLOUR_PREFIX)]
    colours = list(dict.fromkeys(c[len(NAMED_COLOUR_PREFIX) :].rsplit(":", 1)[0] for c in columns))
    rows = [
        {
            "coverage": run["coverage"],
            "seed": run["seed"],
            "colour": colour,
            **{value: run[f"{NAMED_COLOUR_PREFIX}{colour}:{value}"] for value in NAMED_COLOUR_VALUES},
        }
        for run in runs.sort_values(["coverage", "seed"]).to_dict("records")
        for colour in colours
    ]
    table = pd.DataFrame(rows, columns=["coverage", "seed", "colour", *NAMED_COLOUR_VALUES])
    return table.assign(delta=table["mse_suppressed"] - table["mse_none"])
