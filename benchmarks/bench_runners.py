"""The default sweep under each runner, and what its console says while it runs (issue 22). By hand, not in CI:

    python benchmarks/bench_runners.py               # medians of 2 rounds
    python benchmarks/bench_runners.py --repeats 3
    python benchmarks/bench_runners.py --runners default dask   # a subset (default, stock, dask)

1. **Runners.** `kedro run --pipeline sweep` on the default configuration (a fresh project copy each time) with
   this project's default runner (SweepRunner: ensembles), Kedro's stock ParallelRunner (one level at a time per
   worker) and DaskRunner on a 2-worker local cluster (ensembles, workers' start-up included). Ratios against the
   default runner of the same round; the run tables must be equal.
2. **Progress.** The default runner's output going to a pipe, each line stamped when it arrives: the longest
   silence (start to first line, between lines, last line to exit) as a share of the wall time, and the
   time-left estimate of the first line after 25 % of the run against the time actually left.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sweep import project_copy

RUNNERS = {
    "default (SweepRunner)": (),
    "stock ParallelRunner": ("--runner", "ParallelRunner"),
    "DaskRunner, 2 workers": ("--runner", "ex_coverage.runner.DaskRunner", "--runner-params", "n_workers=2"),
}
LEFT = re.compile(r"(\d+) s elapsed, ~(\d+) s left")


def key(name: str) -> str:
    """A runner's name on the command line: the first word of its name, lower case, less "runner" (``default``, ``stock``, ``dask``)."""
    return name.split()[0].lower().rstrip(",").removesuffix("runner")


def stamped_run(project: Path, *args: str) -> tuple[float, list[tuple[float, str]]]:
    """Wall seconds of ``kedro run --pipeline sweep <args>`` in ``project`` and its output lines, each with the
    second it arrived (from the start)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--pipeline", "sweep", *args],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
    )  # fmt: skip
    lines = [(time.perf_counter() - start, line.rstrip()) for line in process.stdout]
    process.wait()
    wall = time.perf_counter() - start
    if process.returncode:
        sys.exit("\n".join(line for _, line in lines[-40:]))
    return wall, lines


def silence(wall: float, lines: list[tuple[float, str]]) -> float:
    """The longest stretch without a line, as a share of the wall time."""
    stamps = [0.0, *(t for t, line in lines if line.strip()), wall]
    return max(b - a for a, b in pairwise(stamps)) / wall


def estimate_error(wall: float, lines: list[tuple[float, str]]) -> tuple[float, float] | None:
    """(estimated, actual) seconds left at the first line after 25 % of the run that gives an estimate."""
    for stamp, line in lines:
        found = LEFT.search(line)
        if stamp >= wall / 4 and found:
            return float(found.group(2)), wall - stamp
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--runners", nargs="+", choices=[key(name) for name in RUNNERS], default=[key(name) for name in RUNNERS],
        help="run only these runners (the default runner always runs: it is the reference)",
    )  # fmt: skip
    options = parser.parse_args()
    runners = {name: args for name, args in RUNNERS.items() if not args or key(name) in options.runners}
    times: dict[str, list[float]] = {name: [] for name in runners}
    silences, estimates = [], []
    for round_number in range(1, options.repeats + 1):
        tables = {}
        for name, args in runners.items():
            with tempfile.TemporaryDirectory() as folder:
                project = project_copy(Path(folder))
                wall, lines = stamped_run(project, *args)
                tables[name] = pd.read_csv(project / "data/08_reporting/coverage_runs.csv")
            times[name].append(wall)
            if not args:
                silences.append(silence(wall, lines))
                estimates.append(estimate_error(wall, lines))
        reference = tables["default (SweepRunner)"]
        for name, table in tables.items():
            pd.testing.assert_frame_equal(table, reference, check_exact=True, obj=name)
        print(
            f"round {round_number}: "
            + ", ".join(f"{name} {times[name][-1]:.1f} s" for name in runners)
            + f"; longest silence {silences[-1]:.0%} of the wall time; estimate at 25 %: {estimates[-1]}"
        )
    default = statistics.median(times["default (SweepRunner)"])
    for name in runners:
        median = statistics.median(times[name])
        print(f"{name:24s} median {median:6.1f} s  ({median / default:.2f}× the default runner)")
    print(f"longest silence: median {statistics.median(silences):.0%} of the wall time (at most 25 % wanted)")
    print("run tables: identical under every runner")


if __name__ == "__main__":
    main()
