from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED_SCHEDULE = ROOT / "data" / "01_raw" / "dopesheet.csv"
SHORT_SCHEDULE = ROOT / "data" / "01_raw" / "dopesheet_short.csv"
#: Where the tiny_sweep fixture keeps what `kedro run` printed (relative to the project copy).
RUN_OUTPUT = "kedro_run_output.txt"
SEED_LABELS = {
    "red": {"shape": "redness", "exponent": 10, "base_probability": 0.07},
    "vibrant": {"shape": "vibrancy", "exponent": 100, "base_probability": 0.02},
}


@pytest.fixture
def seed_labels():
    return SEED_LABELS


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory):
    """A project copy on which `kedro run --pipeline sweep --env test` has run (2 levels × 2 seeds, 201 steps)."""
    from tests.project import copy_project, kedro

    project = copy_project(tmp_path_factory.mktemp("project"))
    result = kedro(project, "run", "--pipeline", "sweep", "--env", "test")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (project / RUN_OUTPUT).write_text(result.stdout + result.stderr)  # the console, for tests/test_console.py
    return project
