"""The test suite's wall time against the default sweep's (issue 11: the suite within 2× the sweep). By hand:

    python benchmarks/bench_suite.py              # 2 rounds: sweep, then suite
    python benchmarks/bench_suite.py --repeats 3

Each round runs the README's main command (`kedro run --pipeline sweep`, default configuration, fresh project
copy) and then the README's test command (`python -m pytest`, as CI runs it), one straight after the other, so
that both see the same machine; prints both medians and the ratio suite / sweep. The host's speed drifts by tens
of per cent over minutes, which is why the two are interleaved rather than measured apart, and why each round's
own ratio is printed too, with the CPU time the machine spent on each command (from /proc/stat, all processes:
the forkserver, pool workers and every process the tests start), which drifts less than wall time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sweep import kedro, project_copy
from bench_training import ROOT


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (user, nice, system, irq, softirq)."""
    user, nice, system, _idle, _iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def suite() -> float:
    """Seconds `python -m pytest` takes in the repository (quiet: its summary line is printed)."""
    env = {**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "1", "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if result.returncode:
        log = Path(tempfile.mkstemp(prefix="bench_suite_", suffix=".log")[1])
        log.write_text(result.stdout + result.stderr)
        sys.exit(f"the test suite failed (its whole output: {log}):\n{result.stdout[-3000:]}")
    print(f"   suite: {result.stdout.strip().splitlines()[-1]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    sweeps, suites, ratios, cpu_ratios = [], [], [], []
    for round_number in range(1, args.repeats + 1):
        with tempfile.TemporaryDirectory() as folder:
            project = project_copy(Path(folder))
            before = busy_cpu_seconds()
            sweeps.append(kedro(project, "run", "--pipeline", "sweep"))
            sweep_cpu = busy_cpu_seconds() - before
        before = busy_cpu_seconds()
        suites.append(suite())
        suite_cpu = busy_cpu_seconds() - before
        ratios.append(suites[-1] / sweeps[-1])
        cpu_ratios.append(suite_cpu / sweep_cpu)
        print(
            f"round {round_number}: sweep {sweeps[-1]:.1f} s ({sweep_cpu:.0f} CPU-s), suite {suites[-1]:.1f} s "
            f"({suite_cpu:.0f} CPU-s); suite / sweep {ratios[-1]:.2f} (CPU {cpu_ratios[-1]:.2f})"
        )
    sweep, tests = statistics.median(sweeps), statistics.median(suites)
    print(f"default sweep: median {sweep:.1f} s  (runs: {', '.join(f'{t:.1f}' for t in sweeps)})")
    print(f"test suite:    median {tests:.1f} s  (runs: {', '.join(f'{t:.1f}' for t in suites)})")
    print(
        f"ratio suite / sweep = {tests / sweep:.2f} (of the medians); median of the rounds' ratios "
        f"{statistics.median(ratios):.2f}, of their CPU ratios {statistics.median(cpu_ratios):.2f}"
    )


if __name__ == "__main__":
    main()
