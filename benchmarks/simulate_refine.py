"""How many runs `kedro refine` needs (SPEC §9a), by simulation: the default budget's measurement.

Truth: a fitted dose–response curve (default: the default sweep's `effective` quadratic logistic on main,
ED80 0.00258, upper edge 0.0316). Each simulated study draws the default grid (11 levels > 0 × 5 seeds) from it,
then adds rounds exactly as `kedro refine` plans them (all of a round's runs to the wider edge: its estimate and
interval ends, 4 seeds each, 12 runs a round) until both 95 % intervals are narrower than 0.2 decades.
Prints the added runs' median and 80th percentile, and each interval's coverage of the truth at the end.

    python benchmarks/simulate_refine.py [studies] [seed] [seeds_per_level]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from ex_coverage.science.estimate import _expit, crossings, edge_to_refine, fit_dose_response, refinement_points

TRUTH = (-10.20335121, -12.20213736, -2.98427777)  # β0, β1, β2 on x = log10 c
GRID = (0.0001, 0.0002, 0.0005, 0.001, 0.0015, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
SEEDS, SEEDS_PER_LEVEL, WIDTH, CAP = 5, 4, 0.2, 900


def probability(c: np.ndarray) -> np.ndarray:
    x = np.log10(c)
    return _expit(TRUTH[0] + TRUTH[1] * x + TRUTH[2] * x**2)


def study(rng: np.random.Generator) -> tuple[int, dict[str, int], list[tuple[float, float | None]], object]:
    coverage = np.repeat(GRID, SEEDS)
    passed = rng.random(len(coverage)) < probability(coverage)
    by_edge, widths = {"ed80": 0, "upper": 0}, []
    while True:
        fit = fit_dose_response(coverage, passed, checks=False)
        ed80 = np.inf if fit.ed80 is None else fit.ed80.width
        upper = None if fit.upper is None else fit.upper.width
        widths.append((ed80, upper))
        if (ed80 < WIDTH and (upper is None or upper < WIDTH)) or sum(by_edge.values()) >= CAP:
            return sum(by_edge.values()), by_edge, widths, fit
        edge = edge_to_refine(fit)
        points = [min(p, max(GRID)) for p in refinement_points(fit, coverage, edge=edge)]
        if not points:
            return sum(by_edge.values()), by_edge, widths, fit
        new = np.repeat(points, SEEDS_PER_LEVEL)
        coverage = np.concatenate([coverage, new])
        passed = np.concatenate([passed, rng.random(len(new)) < probability(new)])
        by_edge[edge] += len(new)


def main(studies: int = 40, seed: int = 0, seeds_per_level: int = SEEDS_PER_LEVEL) -> None:
    global SEEDS_PER_LEVEL
    SEEDS_PER_LEVEL = seeds_per_level
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    lower_truth, upper_truth = crossings(TRUTH)
    added, split, hits = [], [], {"ed80": [], "upper": []}
    for _ in range(studies):
        runs, by_edge, _, fit = study(rng)
        added.append(runs)
        split.append((by_edge["ed80"], by_edge["upper"]))
        for name, crossing, truth in (("ed80", fit.ed80, lower_truth), ("upper", fit.upper, upper_truth)):
            if crossing is not None:
                low = -np.inf if crossing.low is None else crossing.low
                high = np.inf if crossing.high is None else crossing.high
                hits[name].append(low <= truth <= high)
    added = np.asarray(added)
    split = np.asarray(split)
    print(
        f"truth: ED80 {10**lower_truth:.3g}, upper edge {10**upper_truth:.3g}; {studies} studies, "
        f"{SEEDS_PER_LEVEL} seeds per level, {3 * SEEDS_PER_LEVEL} runs a round"
    )
    print(
        f"runs added until both intervals < {WIDTH} decades: median {np.median(added):.0f}, "
        f"80th percentile {np.quantile(added, 0.8):.0f}, max {added.max()} (cap {CAP})"
    )
    print(
        f"of which for ED80: median {np.median(split[:, 0]):.0f}; for the upper edge: median {np.median(split[:, 1]):.0f}"
    )
    for name, values in hits.items():
        print(f"{name}: final interval covers the truth in {np.mean(values):.2f} of {len(values)} studies")
    print(f"[{time.perf_counter() - started:.0f} s]")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
