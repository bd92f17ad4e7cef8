"""Project CLI: Kedro's ``run`` with this project's defaults and plain error messages.

- Without ``--runner``, runs use :class:`ex_coverage.runner.SweepRunner` (parallel, one process per
  core, a progress line per coverage level). ``--runner SequentialRunner`` gives Kedro's default.
- A problem with the inputs (grid, schedule, thresholds, a corrupted result, a diverging run) ends the
  run with one ``Error: ...`` line naming the file, key or row, and exit status 1 — no traceback.
"""

from __future__ import annotations

import os
import sys

import click
from kedro.framework.cli.project import run as kedro_run

from ex_coverage.errors import EXPECTED_ERRORS, describe

DEFAULT_RUNNER = "ex_coverage.runner.SweepRunner"


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
        ctx.invoke(kedro_run, **kwargs)
    except EXPECTED_ERRORS as error:
        click.secho(f"Error: {describe(error)}", fg="red", err=True)
        sys.exit(1)
