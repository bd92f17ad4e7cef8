"""Project CLI: Kedro's ``run`` with this project's defaults and plain error messages.

- Without ``--runner``, runs use :class:`ex_coverage.runner.SweepRunner` (parallel, one process per
  core, a progress line per coverage level). ``--runner SequentialRunner`` gives Kedro's default.
- Every run holds the run lock on ``data/`` (see :mod:`ex_coverage.lock`), taken before anything is
  loaded: a second writer in the same data folder stops at once, naming the first.
- A problem with the inputs (grid, schedule, thresholds, a corrupted result, a diverging run) ends the
  run with one ``Error: ...`` line naming the file, key or row, and exit status 1 — no traceback.
"""

from __future__ import annotations

import os
import sys
import warnings

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.io import DatasetError

from ex_coverage.lock import run_lock
from ex_coverage.science.errors import ExCoverageError
from ex_coverage.sweep import pipelines_for, refuse_grid_params

#: Errors shown as one line: ours (they name the file, key, row or run) and Kedro's dataset errors
#: (the innermost names the unreadable file).
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ExCoverageError, DatasetError)

DEFAULT_RUNNER = "ex_coverage.runner.SweepRunner"

#: The folder every catalog path lives under (relative to the project folder): what the run lock guards.
DATA_DIR = "data"


def _kedro_option(name: str):
    """The option ``name`` exactly as ``kedro run`` declares it (same flags, parsing and help)."""
    option = next(p for p in kedro_run.params if p.name == name)

    def decorate(function):
        function.__dict__.setdefault("__click_params__", []).append(option)
        return function

    return decorate


@click.group(name="ex_coverage")
def cli() -> None:
    """Commands of the ex_coverage project."""


@cli.command(name="run", params=kedro_run.params, help=kedro_run.help)
@click.pass_context
def run(ctx: click.Context, **kwargs) -> None:
    if not kwargs.get("runner"):
        kwargs["runner"] = DEFAULT_RUNNER
    os.environ.setdefault("KEDRO_MP_CONTEXT", "spawn")
    try:
        refuse_grid_params(kwargs.get("params"))
        with run_lock(DATA_DIR, command=command_line()), pipelines_for(kwargs.get("env")), warnings.catch_warnings():
            if kwargs["runner"] == DEFAULT_RUNNER:
                _start_worker_server()
            # `--pipeline`, the spelling this project documents, still works in Kedro 1.7; Kedro re-enables
            # its deprecation warnings on import, so the package-level filter does not reach this one.
            warnings.filterwarnings("ignore", message=r"Option '--pipeline' is deprecated")
            ctx.invoke(kedro_run, **kwargs)
    except EXPECTED_ERRORS as error:
        click.secho(f"Error: {describe(error)}", fg="red", err=True)
        sys.exit(1)


@cli.command(name="refine")
@click.option(
    "--width",
    type=float,
    default=0.2,
    show_default=True,
    help="Stop when both intervals (effective: ED80's and the upper edge's) are narrower than this, in decades.",
)
# 600 runs: the 80th percentile of the runs a simulated refinement needed for both intervals under 0.2 decades
# (benchmarks/simulate_refine.py, truth: the default sweep's fit; median 396, 80th percentile 581).
@click.option("--budget", type=int, default=600, show_default=True, help="Add at most this many runs.")
@click.option(
    "--runner", "-r", type=str, default=None, help="Runner class for the rounds (default: the parallel SweepRunner)."
)
@_kedro_option("env")
@_kedro_option("params")
def refine(width: float, budget: int, runner: str | None, env: str | None, params: dict) -> None:
    """Add runs near ED80 and the upper edge in rounds until both 95 % intervals are narrower than --width or
    --budget runs are added (SPEC §9a); each round goes to the edge with the wider interval. Levels are kept with
    the data (data/05_model_input/refinement/<env>.json), read by `kedro run`, `kedro viz` and notebooks; delete
    that file to return to the configured grid."""
    from pathlib import Path

    from kedro.utils import load_obj

    from ex_coverage.refine import refine as run_refinement
    from ex_coverage.tracking import tracked_command

    os.environ.setdefault("KEDRO_MP_CONTEXT", "spawn")
    runner_class = load_obj(runner or DEFAULT_RUNNER, "kedro.runner")
    try:
        refuse_grid_params(params)
        # one MLflow run for all rounds
        with run_lock(DATA_DIR, command=command_line()), pipelines_for(env), tracked_command("refine"):
            if runner is None:
                _start_worker_server()
            run_refinement(Path.cwd(), env, params, width, budget, runner_class, echo=click.echo)
    except EXPECTED_ERRORS as error:
        click.secho(f"Error: {describe(error)}", fg="red", err=True)
        sys.exit(1)


def _start_worker_server() -> None:
    """Let SweepRunner's workers import torch, Lightning and the project while Kedro starts the session. Called
    once the run lock is taken: a second writer, refused at once, starts no process that would spend seconds of
    CPU importing them for nothing."""
    from ex_coverage.runner import start_worker_server

    start_worker_server()


def command_line() -> str:
    """The command as typed (shown to a second writer that finds the lock held)."""
    return " ".join(["kedro", *sys.argv[1:]]) if sys.argv else "kedro"


def _chain(error: BaseException) -> list[BaseException]:
    """The error and the ones it was raised from, outermost first (as a traceback would show them)."""
    chain, current = [], error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return chain


def describe(error: BaseException) -> str:
    """The line to show: the outermost of this project's errors (it carries the location), else the
    innermost dataset error (Kedro wraps ours, which names the file)."""
    chain = _chain(error)
    ours = [e for e in chain if isinstance(e, ExCoverageError)]
    if ours:
        return str(ours[0])
    datasets = [e for e in chain if isinstance(e, DatasetError)]
    return str(datasets[-1] if datasets else error)
