"""The default sweep against plain single-model loops, and throughput at scale (issue 11). By hand, not in CI:

    python benchmarks/bench_sweep.py                  # all three parts, medians of 2
    python benchmarks/bench_sweep.py --repeats 3 --plain-runs 10

1. **Sweep vs plain loops.** The README's main command, `kedro run --pipeline sweep` on the default
   configuration (a fresh project copy, parallel default runner), against N plain single-model PyTorch
   loops (torch only, same model, losses, schedule and batch; `bench_training.plain_loop`), N = the runs
   of the default grid. The plain time is the median seconds of one loop (over --plain-runs seeds) × N.
2. **Scale.** Runs per minute of one wide level — `kedro run --pipeline sweep` with a grid of one coverage
   (0.002) and 60 seeds, training, scoring and reporting — against the one-thread floor: a 50-member
   ensemble trained by `train_ensemble` alone (no Kedro, no scoring), both measured here.
3. **Start-up.** Wall time of `kedro run` with nothing to do (`--pipeline data_engineering` after a sweep),
   the fixed cost a fresh process pays, e.g. per refinement round if each round were a new process.

All in one invocation, so ratios compare numbers from the same machine state.
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

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_training import ROOT, ensemble, plain_loop


def default_runs() -> int:
    """Runs in the default grid, read from conf/base (one definition of the grid)."""
    sweep = yaml.safe_load((ROOT / "conf/base/parameters_sweep.yml").read_text())["sweep"]
    return len(sweep["coverages"]) * len(sweep["seeds"])


def project_copy(folder: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", folder)
    shutil.copytree(ROOT / "conf", folder / "conf", ignore=shutil.ignore_patterns("local"))
    (folder / "conf/local").mkdir()
    shutil.copytree(ROOT / "data/01_raw", folder / "data/01_raw")
    (folder / "src").mkdir()
    return folder


def kedro(project: Path, *args: str) -> float:
    """Seconds until ``kedro <args>`` exits, as ``time`` in a shell counts them. Its output goes to a file, not
    a pipe: reading a pipe to its end would also wait for SweepRunner's forkserver, which tears down its
    interpreter (~1 s) after the command has exited."""
    with tempfile.TemporaryFile() as output:
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "kedro", *args], cwd=project, stdout=output, stderr=output)
        seconds = time.perf_counter() - start
        if result.returncode:
            output.seek(0)
            sys.exit(f"kedro {' '.join(args)} failed:\n{output.read().decode()[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--plain-runs", type=int, default=5, help="plain loops timed for the per-run median")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    n = default_runs()

    sweeps, startups = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as folder:
            project = project_copy(Path(folder))
            sweeps.append(kedro(project, "run", "--pipeline", "sweep"))
            startups.append(kedro(project, "run", "--pipeline", "data_engineering", "--only-missing-outputs"))
    plain = [plain_loop(seed)[0] for seed in range(args.plain_runs)]
    sweep, per_run = statistics.median(sweeps), statistics.median(plain)
    print(f"1. default sweep ({n} runs): median {sweep:.1f} s  (runs: {', '.join(f'{t:.1f}' for t in sweeps)})")
    print(f"   plain loop: median {per_run:.2f} s/run over {len(plain)} seeds -> {n} runs = {per_run * n:.1f} s")
    print(f"   ratio sweep / {n} plain loops = {sweep / (per_run * n):.3f}")
    print(f"3. kedro start-up (nothing to run): median {statistics.median(startups):.1f} s")
    if args.skip_scale:
        return
    wide = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as folder:
            project = project_copy(Path(folder))
            grid = {"sweep": {"coverages": [0.002], "seeds": list(range(60))}}
            (project / "conf/local/parameters_sweep.yml").write_text(yaml.safe_dump(grid))
            wide.append(kedro(project, "run", "--pipeline", "sweep"))
    floor = [ensemble(list(range(50)))[0] for _ in range(args.repeats)]
    wide_rate, floor_rate = 60 / statistics.median(wide) * 60, 50 / statistics.median(floor) * 60
    print(f"2. kedro sweep of one level × 60 seeds: {wide_rate:.0f} runs/min (median {statistics.median(wide):.1f} s)")
    print(f"   one-thread 50-member floor: {floor_rate:.0f} runs/min (median {statistics.median(floor):.1f} s)")
    print(f"   60 seeds / floor = {wide_rate / floor_rate:.2f}; plain loop = {60 / per_run:.0f} runs/min")


if __name__ == "__main__":
    main()
