"""The science sub-package stands on its own: importing it loads nothing of Kedro.

Both checks need a fresh interpreter; they share one (a start-up with torch and Lightning costs seconds).
"""

import json
import pkgutil
import subprocess
import sys

import pytest

import ex_coverage.science

#: One pytest-xdist worker runs this module: one fresh interpreter (module fixture) for both checks.
pytestmark = pytest.mark.xdist_group("architecture")

MODULES = [f"ex_coverage.science.{m.name}" for m in pkgutil.iter_modules(ex_coverage.science.__path__)]

#: In a fresh interpreter: make a figure and report whether pyplot was imported and the backend switched (before
#: anything else is imported); then import every science module and list what of Kedro or of ex_coverage's Kedro
#: side came with them.
SCRIPT = (
    "import importlib, json, sys, matplotlib\n"
    "before = matplotlib.rcParams._get_backend_or_none()\n"
    "import pandas as pd\n"
    "from ex_coverage.science.plots import plot_pass_rate\n"
    "summary = pd.DataFrame({'coverage': [0.0, 0.001], 'runs': [5, 5], 'passed': [0, 5], 'pass_rate': [0.0, 1.0],"
    " 'pass_rate_low': [0.0, 0.57], 'pass_rate_high': [0.43, 1.0]})\n"
    "figure = plot_pass_rate(summary, 0.8, 0.001)\n"
    "pyplot, same_backend = 'matplotlib.pyplot' in sys.modules, matplotlib.rcParams._get_backend_or_none() == before\n"
    f"for name in {MODULES!r}:\n"
    "    importlib.import_module(name)\n"
    "leaked = sorted(m for m in sys.modules if m == 'kedro' or m.startswith(('kedro.', 'kedro_')))\n"
    "side = sorted(m for m in sys.modules if m.startswith('ex_coverage.') and not m.startswith('ex_coverage.science'))\n"
    "print(json.dumps({'kedro_side': leaked + side, 'pyplot': pyplot, 'same_backend': same_backend,"
    " 'figure': type(figure).__name__}))\n"
)


@pytest.fixture(scope="module")
def fresh():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_science_modules_import_no_kedro(fresh):
    assert {"ex_coverage.science.training", "ex_coverage.science.metrics", "ex_coverage.science.plots"} <= set(MODULES)
    assert fresh["kedro_side"] == [], f"science modules pulled in Kedro-side modules: {fresh['kedro_side']}"


def test_figures_are_made_without_pyplot_or_a_backend_switch(fresh):
    assert [fresh["pyplot"], fresh["same_backend"], fresh["figure"]] == [False, True, "Figure"]
