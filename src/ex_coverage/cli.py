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

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.io import DatasetError

from ex_coverage.lock import run_lock
from ex_coverage.science.errors import ExCoverageError

#: Errors shown as one line: ours (they name the file, key, row or run) and Kedro's dataset errors
#: (the innermost names the unreadable file).
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (ExCoverageError, DatasetError)

DEFAULT_RUNNER = "ex_coverage.runner.SweepRunner"

#: The folder every catalog path lives under (relative to the project folder): what the run lock guards.
DATA_DIR = "data"


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
        with run_lock(DATA_DIR, command=command_line()):
            ctx.invoke(kedro_run, **kwargs)
    except EXPECTED_ERRORS as error:
        click.secho(f"Error: {describe(error)}", fg="red", err=True)
        sys.exit(1)


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
