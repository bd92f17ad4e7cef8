"""Label probabilities and the coverage ↔ multiplier relation (SPEC §2, §7).

A label spec is a mapping ``name -> {shape, exponent, base_probability}``: the probability that
colour x carries the label is ``min(1, m · base_probability · shape(x) ** exponent)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ex_coverage.science.colour import LABEL_SHAPES
from ex_coverage.science.errors import ExCoverageError

LabelSpec = Mapping[str, Mapping[str, Any]]

#: Multipliers above this are never tried: beyond it C(m) only creeps towards its supremum.
MAX_MULTIPLIER = 1e15


class CoverageError(ExCoverageError, ValueError):
    """A requested label coverage cannot be produced by any multiplier."""


def base_label_probabilities(rgb: NDArray, labels: LabelSpec) -> dict[str, NDArray[np.float64]]:
    """Per-colour label probability at multiplier 1, before clipping to 1."""
    out = {}
    for name, spec in labels.items():
        shape = LABEL_SHAPES[spec["shape"]](rgb)
        out[name] = float(spec["base_probability"]) * shape ** float(spec["exponent"])
    return out


def label_probabilities(
    base: Mapping[str, NDArray], multiplier: float | Mapping[str, float]
) -> dict[str, NDArray[np.float64]]:
    """Scale each label's base probability by its multiplier and clip at 1.

    ``multiplier`` is one number for every label (the sweep) or a mapping ``label -> multiplier``
    naming every label (the budget map, SPEC §9b).
    """
    if not isinstance(multiplier, Mapping):
        multiplier = dict.fromkeys(base, multiplier)
    missing = sorted(set(base) - set(multiplier))
    if missing:
        raise CoverageError(f"no multiplier for labels {missing} (multipliers given for {sorted(multiplier)})")
    return {
        name: np.minimum(1.0, float(multiplier[name]) * np.asarray(p, dtype=np.float64)) for name, p in base.items()
    }


def any_label_probability(probabilities: Mapping[str, NDArray]) -> NDArray[np.float64]:
    """Probability that a colour carries at least one label (labels drawn independently)."""
    none = np.ones_like(next(iter(probabilities.values())), dtype=np.float64)
    for p in probabilities.values():
        none = none * (1.0 - p)
    return 1.0 - none


def coverage_at(base: Mapping[str, NDArray], multiplier: float | Mapping[str, float]) -> float:
    """C(m): the expected fraction of uniformly drawn grid colours carrying at least one label
    (``multiplier`` one number, or one per label as in :func:`label_probabilities`)."""
    return float(any_label_probability(label_probabilities(base, multiplier)).mean())


def saturation_multiplier(base: Mapping[str, NDArray]) -> float:
    """The smallest m at which some colour is labelled with certainty (m ≈ 14.3 for the seed's labels)."""
    return float(min(1.0 / p.max() for p in base.values() if p.max() > 0))


@dataclass(frozen=True)
class LabelMultiplier:
    """The solution of C(m) = target for one coverage level."""

    target_coverage: float
    multiplier: float
    expected_coverage: float
    saturated: bool  # a label is always given to its best colour: extra coverage comes from off-shape colours

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_coverage": self.target_coverage,
            "multiplier": self.multiplier,
            "expected_coverage": self.expected_coverage,
            "saturated": self.saturated,
        }


def solve_multiplier(target: float, base: Mapping[str, NDArray]) -> LabelMultiplier:
    """Find m with C(m) = target by bisection. ``target = 0`` gives m = 0, the no-label control.

    C(m) is the coverage of the labels in ``base``: pass one label (``{"red": base["red"]}``) for
    that label's own coverage, the mean of its probability (see :func:`solve_label_multipliers`).
    """
    if not 0.0 <= target < 1.0:
        raise CoverageError(f"coverage {target!r} is outside [0, 1)")
    if target == 0.0:
        return LabelMultiplier(0.0, 0.0, 0.0, False)
    low, high = 0.0, 1.0
    while coverage_at(base, high) < target:
        low, high = high, high * 2.0
        if high > MAX_MULTIPLIER:
            reachable = coverage_at(base, MAX_MULTIPLIER)
            raise CoverageError(f"coverage {target!r} is not reachable: the label shapes give at most {reachable:.6g}")
    while high - low > 1e-12 * high:
        mid = 0.5 * (low + high)
        if coverage_at(base, mid) < target:
            low = mid
        else:
            high = mid
    return LabelMultiplier(target, high, coverage_at(base, high), high > saturation_multiplier(base))


def solve_label_multipliers(targets: Mapping[str, float], base: Mapping[str, NDArray]) -> dict[str, LabelMultiplier]:
    """Per label, the multiplier whose label-only coverage (the mean of that label's probability over the
    grid) is ``targets[label]`` (SPEC §9b): :func:`solve_multiplier` on that label alone."""
    unknown = sorted(set(targets) - set(base))
    if unknown:
        raise CoverageError(f"unknown labels {unknown} (labels: {sorted(base)})")
    solutions = {}
    for name, target in targets.items():
        try:
            solutions[name] = solve_multiplier(target, {name: base[name]})
        except CoverageError as error:
            raise CoverageError(f"{name}-only {error}") from None
    return solutions
