"""Helpers that run the real project (its conf/ and raw data) in a scratch folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ex_coverage.sweep import rebuild_pipelines
from tests.conftest import ROOT

#: ``--runner`` for runs where the runner does not matter to what a test checks: one process, no workers to start.
SEQUENTIAL = ("--runner", "SequentialRunner")
#: Kedro's slicing, for runs whose point is not the figures: up to the sweep's run table, or up to its report
#: (the figures and level pages are made by the same nodes and datasets under every runner; the shared tiny sweep
#: makes them all).
TO_RUN_TABLE = ("--to-outputs", "coverage_runs")
TO_REPORT = ("--to-outputs", "report")


#: The local MLflow store of a project copy and its artifacts (conf/base/tracking.yml).
TRACKING_STORE = ("mlflow.db", "mlartifacts")


def copy_project(destination: Path, tracking: bool = False) -> Path:
    """A runnable copy of the project's configuration and raw inputs (the package itself is installed).

    Tracking is off in the copy unless ``tracking``: opening a new MLflow store costs seconds, and only
    tests/test_tracking.py (and the shared tiny sweep it reads) look at what is tracked. A tracked copy logs to its
    own store, ``mlflow.db`` in the copy."""
    shutil.copy(ROOT / "pyproject.toml", destination)
    shutil.copytree(ROOT / "conf", destination / "conf", ignore=shutil.ignore_patterns("local"))
    (destination / "conf" / "local").mkdir()
    shutil.copytree(ROOT / "data" / "01_raw", destination / "data" / "01_raw")
    (destination / "src").mkdir()
    if not tracking:
        switch_off_tracking(destination)
    return destination


def copy_finished(finished: Path, destination: Path, tracking: bool = False) -> Path:
    """A private copy of a finished project (results included; kedro-viz's build left out), to modify freely;
    with ``tracking``, its MLflow store too, else tracking is off in the copy."""
    ignored = ("build", ".viz") if tracking else ("build", ".viz", *TRACKING_STORE)
    shutil.copytree(finished, destination, ignore=shutil.ignore_patterns(*ignored))
    if not tracking:
        switch_off_tracking(destination)
    return destination


def switch_off_tracking(project: Path) -> None:
    """``enabled: false`` in the copy's conf/base/tracking.yml (every environment inherits it)."""
    (project / "conf" / "base" / "tracking.yml").write_text("enabled: false\n")


def kedro(
    project: Path, *args: str, timeout: int = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``kedro <args>`` in ``project`` in a new process; returns the completed process with its output.

    For what needs a process of its own: the console a user sees, signals, a second process holding the
    run lock, kedro-viz. Everything else runs faster in-process with :func:`kedro_in_process`.
    """
    env = {**os.environ, "DO_NOT_TRACK": "1", "COLUMNS": "200", "MPLBACKEND": "Agg", **(env or {})}
    command = [sys.executable, "-m", "kedro", *args]
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=timeout)


@dataclass
class InProcessResult:
    """What :func:`kedro_in_process` saw, with the names of a :class:`subprocess.CompletedProcess`."""

    returncode: int
    stdout: str  # click's output and the console log (Kedro's rich handler writes to sys.stdout)
    stderr: str  # click's error output: the one-line `Error: ...`
    exception: BaseException | None  # an error the project's CLI did not handle (a subprocess would print a traceback)

    @property
    def traceback(self) -> bool:
        """Whether a subprocess would have printed a traceback (an error escaped the CLI)."""
        return self.exception is not None and not isinstance(self.exception, SystemExit)


def bootstrap(project: Path) -> None:
    """Kedro's ``bootstrap_project(project)`` for a copy of this project, with the settings configured once per
    process.

    Every copy runs the installed package, so its settings (``ex_coverage.settings``) are the same. Configuring them
    again costs dynaconf three ``inspect.stack()`` walks of pytest's deep stack (0.1–0.4 s each time, seconds over
    the suite), and Kedro would put each copy's empty ``src/`` on ``sys.path``. The pipeline registry is reset, as
    Kedro's bootstrap resets it.
    """
    from kedro.framework import project as kedro_project
    from kedro.framework.startup import bootstrap_project

    if kedro_project.PACKAGE_NAME == "ex_coverage":
        rebuild_pipelines()
    else:
        bootstrap_project(project)


def kedro_in_process(project: Path, *args: str) -> InProcessResult:
    """Run the project's command ``kedro <args>`` (``run`` or ``refine``, with this project's defaults and
    error handling: ``ex_coverage.cli``) in this process, in the folder ``project``, as the subprocess
    :func:`kedro` would — without paying Python, Kedro, torch and Lightning start-up again (seconds a run).

    Kedro keeps project state in module globals; a run in another folder restores the working folder (catalog paths
    and the run lock are relative to the project folder), ``sys.argv`` (the run lock records the command line) and
    lets Kedro build the pipelines again for this folder's configuration (:func:`bootstrap`).

    Pass ``--runner SequentialRunner`` where the runner does not matter to what a test checks: the default
    parallel runner spawns worker processes that import torch and Lightning again.
    """
    from click.testing import CliRunner

    from ex_coverage.cli import cli

    previous = os.getcwd(), sys.argv
    os.chdir(project)
    sys.argv = ["kedro", *args]
    try:
        bootstrap(project)  # the pipelines are built again, from this project's configuration
        result = CliRunner().invoke(cli, list(args), env={"DO_NOT_TRACK": "1", "MPLBACKEND": "Agg"})
    finally:
        os.chdir(previous[0])
        sys.argv = previous[1]
        rebuild_pipelines()
    return InProcessResult(result.exit_code, result.stdout, result.stderr, result.exception)


def data_files(project: Path) -> dict[str, bytes]:
    """Every file under ``data/`` except raw inputs, with its bytes."""
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in sorted((project / "data").rglob("*"))
        if p.is_file() and "01_raw" not in p.parts
    }


def execute_notebook(name: str, folder: Path) -> list:
    """Run ``notebooks/<name>`` headless with ``folder`` as its working folder (as a researcher opens it there);
    returns its code cells' outputs, none of them an error."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    return outputs
