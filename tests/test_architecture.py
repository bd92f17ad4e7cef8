"""The science sub-package stands on its own: it imports nothing of Kedro, and its figures need no pyplot."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import ex_coverage.science

SCIENCE = Path(ex_coverage.science.__file__).parent
#: Importing any science module runs these first.
PACKAGE_INITS = [SCIENCE.parent / "__init__.py", SCIENCE / "__init__.py"]


def _project_module(name: str) -> bool:
    """Whether ``name`` is a module or package of this project's source."""
    path = SCIENCE.parent.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports_of(path: Path, package: str) -> set[str]:
    """Every module the source file ``path`` (a module of ``package``) imports, at module level or inside a
    function (absolute names; ``from x import y`` gives ``x``, and ``x.y`` too where that is a module of ours)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names |= {base} | {f"{base}.{a.name}" for a in node.names if _project_module(f"{base}.{a.name}")}
    return names


def kedro_side(name: str) -> bool:
    """Whether importing ``name`` loads Kedro or the Kedro side of this project."""
    top = name.split(".")[0]
    return top == "kedro" or top.startswith("kedro_") or (top == "ex_coverage" and not _in_science(name))


def _in_science(name: str) -> bool:
    return name in ("ex_coverage", "ex_coverage.science") or name.startswith("ex_coverage.science.")


def test_science_modules_import_no_kedro():
    """Read from the source, so that imports inside functions (made on use) count too."""
    modules = sorted(SCIENCE.glob("*.py"))
    assert {"training.py", "metrics.py", "plots.py"} <= {p.name for p in modules}
    imported = {
        (path.name, name)
        for path in modules + PACKAGE_INITS
        for name in imports_of(path, "ex_coverage.science" if path.parent == SCIENCE else "ex_coverage")
    }
    assert ("training.py", "torch") in imported and ("plots.py", "ex_coverage.science.metrics") in imported
    leaked = sorted((file, name) for file, name in imported if kedro_side(name))
    assert leaked == [], f"science modules import Kedro or the project's Kedro side: {leaked}"


def test_the_import_check_sees_lazy_and_relative_imports(tmp_path):
    source = tmp_path / "module.py"
    source.write_text(
        "def f():\n    from kedro.io import DataCatalog\n\nfrom ..pipelines import levels\nfrom .. import __version__\n"
    )
    names = imports_of(source, "ex_coverage.science")
    assert {"kedro.io", "ex_coverage.pipelines.levels"} <= names
    assert sorted(n for n in names if kedro_side(n)) == [
        "ex_coverage.pipelines",
        "ex_coverage.pipelines.levels",
        "kedro.io",
    ]


#: In a fresh interpreter: make a figure and report whether pyplot was imported and the backend switched.
FIGURE_SCRIPT = """
import json, sys, matplotlib
before = matplotlib.rcParams._get_backend_or_none()
import pandas as pd
from ex_coverage.science.plots import plot_pass_rate
summary = pd.DataFrame({"coverage": [0.0, 0.001], "runs": [5, 5], "passed": [0, 5], "pass_rate": [0.0, 1.0],
                        "pass_rate_low": [0.0, 0.57], "pass_rate_high": [0.43, 1.0]})
figure = plot_pass_rate(summary, 0.8, 0.001)
print(json.dumps({"pyplot": "matplotlib.pyplot" in sys.modules,
                  "same_backend": matplotlib.rcParams._get_backend_or_none() == before,
                  "figure": type(figure).__name__,
                  "kedro": sorted(m for m in sys.modules if m.split(".")[0] == "kedro")}))
"""


@pytest.mark.long
def test_figures_are_made_without_pyplot_or_a_backend_switch():
    result = subprocess.run([sys.executable, "-c", FIGURE_SCRIPT], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == {"pyplot": False, "same_backend": True, "figure": "Figure", "kedro": []}
