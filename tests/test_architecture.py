"""The science sub-package stands on its own: importing it loads nothing of Kedro."""

import pkgutil
import subprocess
import sys

import ex_coverage.science


def test_science_modules_import_no_kedro():
    modules = [f"ex_coverage.science.{m.name}" for m in pkgutil.iter_modules(ex_coverage.science.__path__)]
    assert {"ex_coverage.science.training", "ex_coverage.science.metrics", "ex_coverage.science.plots"} <= set(modules)
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "leaked = sorted(m for m in sys.modules if m == 'kedro' or m.startswith(('kedro.', 'kedro_')))\n"
        "side = sorted(m for m in sys.modules if m.startswith('ex_coverage.') and not m.startswith('ex_coverage.science'))\n"
        "print(leaked + side)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", f"science modules pulled in Kedro-side modules: {result.stdout}"


def test_figures_are_made_without_pyplot_or_a_backend_switch():
    script = (
        "import sys, matplotlib\n"
        "before = matplotlib.rcParams._get_backend_or_none()\n"
        "import pandas as pd\n"
        "from ex_coverage.science.plots import plot_pass_rate\n"
        "summary = pd.DataFrame({'coverage': [0.0, 0.001], 'runs': [5, 5], 'passed': [0, 5], 'pass_rate': [0.0, 1.0],"
        " 'pass_rate_low': [0.0, 0.57], 'pass_rate_high': [0.43, 1.0]})\n"
        "figure = plot_pass_rate(summary, 0.8, 0.001)\n"
        "print('matplotlib.pyplot' in sys.modules, matplotlib.rcParams._get_backend_or_none() == before, type(figure).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True", "Figure"]
