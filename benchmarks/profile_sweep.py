"""Where the default sweep's CPU time goes, by kind of work, across the main process and its workers. By hand:

    pip install py-spy                         # a sampling profiler; not a project dependency
    python benchmarks/profile_sweep.py         # profiles `kedro run --pipeline sweep` in a fresh project copy
    python benchmarks/profile_sweep.py --raw spy.txt   # summarise an earlier `py-spy record -f raw` file

Samples only running threads (no idle waits) at 100 Hz in every process of the run, then sums them by the
first matching frame of each stack (see KINDS). On a busy machine, threads waiting for a core count as
running, so profile on a quiet one.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sweep import project_copy

RATE = 100
#: (kind, a substring of a frame that marks it); the first match in a stack wins.
KINDS = (
    ("imports", "_find_and_load"),
    ("training", "train_members"),
    ("scoring", "score_level"),
    ("figures", "plot_"),
    ("figures", "savefig"),
    ("estimate and report", "pipelines/reporting"),
    ("estimate and report", "summary.py"),
    ("catalog loads", "DataCatalog.load"),
    ("catalog saves", "DataCatalog.save"),
    ("worker set-up per task", "_run_node_synchronization"),
    ("session and hooks", "session.py"),
    ("session and hooks", "hooks.py"),
)


def summarise(raw: Path) -> dict[str, dict[str, float]]:
    """Seconds of CPU per kind, for the main process and for the rest (workers, forkserver)."""
    seconds: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        process = "workers" if len(frames) > 1 and frames[1].startswith("process ") else "main"
        kind = next((name for name, marker in KINDS if marker in stack), "other")
        seconds[process][kind] += int(count) / RATE
    return {process: dict(kinds.most_common()) for process, kinds in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", type=Path, help="summarise this py-spy raw file instead of profiling a sweep")
    args = parser.parse_args()
    raw = args.raw
    if raw is None:
        if not shutil.which("py-spy"):
            sys.exit("py-spy not found: pip install py-spy")
        folder = Path(tempfile.mkdtemp())
        project, raw = project_copy(folder), folder / "spy.txt"
        command = ["py-spy", "record", "--subprocesses", "-r", str(RATE), "-f", "raw", "-o", str(raw), "--"]
        command += [sys.executable, "-m", "kedro", "run", "--pipeline", "sweep"]
        env = {**os.environ, "DO_NOT_TRACK": "1", "MPLBACKEND": "Agg"}
        subprocess.run(command, cwd=project, check=True, capture_output=True, env=env)
    for process, kinds in summarise(raw).items():
        print(f"{process}: {sum(kinds.values()):.1f} s CPU")
        for kind, value in kinds.items():
            print(f"   {kind:24s} {value:6.1f} s")


if __name__ == "__main__":
    main()
