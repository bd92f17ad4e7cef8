"""How many seeds per cell the budget map's fitted surface needs (SPEC §9b), by simulation.

Truth: a fitted surface (by default the *effective* one of ``data/08_reporting/budget_fit.json``, a map run with
many seeds). For each number of seeds per cell, data sets are drawn from the truth on the configured grid's
cells with both labels, fitted as the pipeline fits them (term selection, cheapest point, parametric bootstrap),
and summarised: how often the fit finds a cheapest point with a closed 95 % cost interval, the interval's median
width in decades (log10 high/low), the median error of the cheapest cost, and how often the interval covers the
true cheapest cost.

    python benchmarks/budget_seeds.py [--seeds 3 5 8] [--sets 40] [--replicates 100] [--criterion effective]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import yaml

from ex_coverage.science.budget_fit import Box, LabelCost, cheapest_point, design, fit_surface
from ex_coverage.science.colour import rgb_grid
from ex_coverage.science.labels import base_label_probabilities

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5, 6, 8])
    parser.add_argument("--sets", type=int, default=40, help="simulated maps per seed count")
    parser.add_argument("--replicates", type=int, default=100, help="bootstrap replicates per fit")
    parser.add_argument("--criterion", default="effective")
    parser.add_argument("--truth", type=Path, default=ROOT / "data/08_reporting/budget_fit.json")
    parser.add_argument("--grid", type=Path, default=ROOT / "conf/base/parameters_budget_map.yml")
    args = parser.parse_args()

    truth = next(f for f in json.loads(args.truth.read_text())["fits"] if f["criterion"] == args.criterion)
    grid = yaml.safe_load(args.grid.read_text())["budget_map"]
    labels = yaml.safe_load((ROOT / "conf/base/parameters_data_engineering.yml").read_text())["labels"]
    training = yaml.safe_load((ROOT / "conf/base/parameters_training.yml").read_text())["training"]
    samples = 1501 * int(training["batch_size"])
    cost = LabelCost(base_label_probabilities(rgb_grid(10), labels), samples)
    reds = [c for c in grid["red_coverages"] if c > 0]
    vibrants = [c for c in grid["vibrant_coverages"] if c > 0]
    box = Box((np.log10(min(reds)), np.log10(max(reds))), (np.log10(min(vibrants)), np.log10(max(vibrants))))
    true = cheapest_point(truth["coefficients"], truth["terms"], box, cost)
    print(
        f"truth: {args.criterion} `{' + '.join(truth['terms'])}`; cheapest 0.8 point on this grid red "
        f"{10**true.x:.3g}, vibrant {10**true.y:.3g}, {true.labels:.0f} labelled samples per run"
    )
    print("seeds  runs  closed  width(dec)  |err|(dec)  covers  s/fit")
    rng = np.random.default_rng(2026)
    for seeds in args.seeds:
        red, vibrant = (np.repeat(a.ravel(), seeds) for a in np.meshgrid(reds, vibrants, indexing="ij"))
        p = 1 / (1 + np.exp(-(design(np.log10(red), np.log10(vibrant), truth["terms"]) @ truth["coefficients"])))
        closed, widths, errors, covers = 0, [], [], 0
        start = time.perf_counter()
        for i in range(args.sets):
            fit = fit_surface(args.criterion, red, vibrant, rng.random(len(p)) < p, cost, args.replicates, seed=i)
            if fit.cheapest_labels is not None:
                errors.append(abs(np.log10(fit.cheapest_labels / true.labels)))
            if fit.cheapest_labels_low is not None and fit.cheapest_labels_high is not None:
                closed += 1
                widths.append(np.log10(fit.cheapest_labels_high / fit.cheapest_labels_low))
                covers += fit.cheapest_labels_low <= true.labels <= fit.cheapest_labels_high
        seconds = (time.perf_counter() - start) / args.sets
        print(
            f"{seeds:5d} {len(red):5d} {closed / args.sets:7.2f} {np.median(widths) if widths else np.nan:11.2f} "
            f"{np.median(errors) if errors else np.nan:11.3f} {covers / max(closed, 1):7.2f} {seconds:6.2f}"
        )


if __name__ == "__main__":
    main()
