"""Training throughput and whole-sweep wall time (issue 4). Run by hand, not in CI:

    python benchmarks/bench_training.py              # (a), (b) and the ratio, then (c)
    python benchmarks/bench_training.py --skip-sweep # (a) and (b) only

(a) seed-steps/s of a plain single-model PyTorch loop (same model, losses, schedule, batch size,
    batches drawn up front) — the baseline; (b) seed-steps/s of our training path
    (`train_ensemble`, a Lightning Fabric loop) for one coverage level of 5 seeds; (c) wall time of the
    default `kedro run --pipeline sweep` with the sequential runner, the parallel default
    (SweepRunner) and DaskRunner on a 2-worker LocalCluster.
Medians over --repeats runs. (a) and (b) also report process CPU time, which a busy shared machine
distorts far less than wall time (both paths use one torch thread).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ex_coverage.science.colour import redness, rgb_grid, vibrancy  # noqa: E402
from ex_coverage.science.labels import base_label_probabilities, label_probabilities, solve_multiplier  # noqa: E402
from ex_coverage.science.model import ColourAutoencoder  # noqa: E402
from ex_coverage.science.regularizers import REGULARIZERS  # noqa: E402
from ex_coverage.science.schedule import read_schedule_csv  # noqa: E402
from ex_coverage.science.training import draw_batches, train_ensemble  # noqa: E402

LABELS = {
    "red": {"shape": "redness", "exponent": 10, "base_probability": 0.07},
    "vibrant": {"shape": "vibrancy", "exponent": 100, "base_probability": 0.02},
}
SCHEDULE = read_schedule_csv(ROOT / "data/01_raw/dopesheet.csv")
GRID = rgb_grid(10)
BASE = base_label_probabilities(GRID, LABELS)
PROBABILITIES = label_probabilities(BASE, solve_multiplier(0.0015, BASE).multiplier)
P = np.stack([PROBABILITIES["red"], PROBABILITIES["vibrant"]], axis=-1)


def plain_loop(seed: int) -> tuple[float, float]:
    """Baseline: one nn.Module, Adam, the same losses and schedule, a plain Python loop. Returns wall and CPU seconds."""
    torch.set_num_threads(1)
    start, cpu = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    model = ColourAutoencoder().train()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-8)
    drawn = draw_batches(seed, len(SCHEDULE), 64, P)
    colours = torch.as_tensor(GRID)
    lr = SCHEDULE.get("lr", 1e-3)
    weights = [SCHEDULE.get(r.name, 1.0) for r in REGULARIZERS]
    for step in range(len(SCHEDULE)):
        x = colours[drawn.indices[step]]
        labels = {"red": drawn.labels[step, :, 0], "vibrant": drawn.labels[step, :, 1]}
        y, z = model(x)
        loss = ((y - x) ** 2).mean()
        for reg, w in zip(REGULARIZERS, weights):
            if w[step] != 0:
                loss = loss + float(w[step]) * reg(z, labels)
        for group in optimiser.param_groups:
            group["lr"] = float(lr[step])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return time.perf_counter() - start, time.process_time() - cpu


def ensemble(seeds: list[int]) -> tuple[float, float]:
    """Our path for one level. Returns wall and CPU seconds."""
    validation = rgb_grid(4)
    start, cpu = time.perf_counter(), time.process_time()
    train_ensemble(
        seeds,
        GRID,
        P,
        ["red", "vibrant"],
        SCHEDULE,
        validation,
        {"red": redness(validation) == 1, "vibrant": vibrancy(validation) == 1},
    )
    return time.perf_counter() - start, time.process_time() - cpu


def sweep(runner: list[str]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        shutil.copy(ROOT / "pyproject.toml", project)
        shutil.copytree(ROOT / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
        (project / "conf/local").mkdir()
        shutil.copytree(ROOT / "data/01_raw", project / "data/01_raw")
        (project / "src").mkdir()
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "kedro", "run", "--pipeline", "sweep", *runner],
            cwd=project,
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()
    steps = len(SCHEDULE)
    runs = [(plain_loop(0), ensemble([0, 1, 2, 3, 4])) for _ in range(args.repeats)]
    plain, plain_cpu = (statistics.median(r[0][i] for r in runs) for i in (0, 1))
    ours, ours_cpu = (statistics.median(r[1][i] for r in runs) for i in (0, 1))
    a, b = steps / plain, 5 * steps / ours
    print(f"(a) plain single-model loop: {plain:.2f} s/run, {a:,.0f} seed-steps/s (CPU {plain_cpu:.2f} s)")
    print(f"(b) our path, 5 seeds:       {ours:.2f} s/level, {b:,.0f} seed-steps/s (CPU {ours_cpu:.2f} s)")
    print(f"    ratio (b)/(a) = {b / a:.2f} (by CPU time: {5 * plain_cpu / ours_cpu:.2f})")
    if args.skip_sweep:
        return
    runners = (
        ("sequential", ["--runner", "SequentialRunner"]),
        ("parallel (default)", []),
        ("dask, 2 workers", ["--runner", "ex_coverage.runner.DaskRunner", "--runner-params", "n_workers=2"]),
    )
    for name, runner in runners:
        times = [sweep(runner) for _ in range(args.repeats)]
        print(
            f"(c) default sweep, {name:18s}: median {statistics.median(times):.1f} s  (runs: {', '.join(f'{t:.1f}' for t in times)})"
        )


if __name__ == "__main__":
    main()
