"""Helpers that run the real project (its conf/ and raw data) in a scratch folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def copy_project(destination: Path) -> Path:
    """A runnable copy of the project's configuration and raw inputs (the package itself is installed)."""
    shutil.copy(ROOT / "pyproject.toml", destination)
    shutil.copytree(ROOT / "conf", destination / "conf", ignore=shutil.ignore_patterns("local"))
    (destination / "conf" / "local").mkdir()
    shutil.copytree(ROOT / "data" / "01_raw", destination / "data" / "01_raw")
    (destination / "src").mkdir()
    return destination


def kedro(
    project: Path, *args: str, timeout: int = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``kedro <args>`` in ``project``; returns the completed process with combined output."""
    env = {**os.environ, "DO_NOT_TRACK": "1", "COLUMNS": "200", "MPLBACKEND": "Agg", **(env or {})}
    command = [sys.executable, "-m", "kedro", *args]
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=timeout)


def data_files(project: Path) -> dict[str, bytes]:
    """Every file under ``data/`` except raw inputs, with its bytes."""
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in sorted((project / "data").rglob("*"))
        if p.is_file() and "01_raw" not in p.parts
    }
