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


#: Protected names of Kedro's documented extension points that a subclass may define or use on ``self``: a
#: custom runner's ``_run`` and ``_get_executor``; a custom dataset's methods, and the members kedro-datasets'
#: own file datasets use.
EXTENSION_POINTS = {
    "_run",
    "_get_executor",
    "_describe",
    "_load",
    "_save",
    "_exists",
    "_release",
    "_fs",
    "_protocol",
    "_filepath",
    "_version",
    "_get_save_path",
    "_get_load_path",
    "_save_args",
    "_load_args",
    "_fs_open_args_load",
    "_fs_open_args_save",
}
SOURCE = SCIENCE.parent


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def defined_names(paths) -> set[str]:
    """Every name the project defines: functions, classes, module globals, attributes it assigns, parameters."""
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return names


def private_uses(path: Path, ours: set[str]) -> list[str]:
    """Private names of other packages that the source file ``path`` imports, reads or overrides."""
    found = []

    def on_self(receiver: ast.expr) -> bool:
        return (isinstance(receiver, ast.Name) and receiver.id in ("self", "cls")) or (
            isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name) and receiver.func.id == "super"
        )

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        where = f"{path.relative_to(SOURCE.parent)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{where} import {a.name}" for a in node.names if any(map(_private, a.name.split(".")))]
        elif isinstance(node, ast.ImportFrom) and not node.level and not (node.module or "").startswith("ex_coverage"):
            modules = (node.module or "").split(".")
            found += [
                f"{where} from {node.module} import {a.name}"
                for a in node.names
                if any(map(_private, [*modules, a.name]))
            ]
        elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in ours:
            if not (node.attr in EXTENSION_POINTS and on_self(node.value)):
                found.append(f"{where} .{node.attr}")
        elif isinstance(node, ast.ClassDef) and node.bases:
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and _private(item.name):
                    if item.name not in EXTENSION_POINTS and item.name not in ours_only(path, item.name):
                        found.append(f"{where} overrides {item.name}")
    return found


def ours_only(path: Path, name: str) -> set[str]:
    """``{name}`` unless a class outside this project (a base of one of ours) has it too: overriding it is using it."""
    import importlib
    import inspect

    module = importlib.import_module(".".join(path.relative_to(SOURCE.parent).with_suffix("").parts))
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if cls.__module__ == module.__name__ and name in vars(cls):
            for base in cls.__mro__[1:]:
                if not base.__module__.startswith("ex_coverage") and hasattr(base, name):
                    return set()
    return {name}


def test_the_source_uses_no_private_name_of_another_package():
    paths = sorted(SOURCE.rglob("*.py"))
    ours = defined_names(paths) - {name for path in paths for name in []}
    uses = [use for path in paths for use in private_uses(path, ours)]
    assert uses == [], "private names of other packages:\n" + "\n".join(uses)


def test_the_private_name_scan_sees_imports_reads_and_overrides(tmp_path, monkeypatch):
    source = SOURCE / "scratch_private_names.py"
    source.write_text(
        "from kedro_datasets._typing import TablePreview\n"
        "import kedro.framework.hooks.manager as m\n"
        "from kedro.framework.hooks.manager import _create_hook_manager\n"
        "from kedro.runner import ParallelRunner\n\n\n"
        "class R(ParallelRunner):\n"
        "    def _release_datasets(self, *a):\n"
        "        return self._is_async, m._register_hooks, self._run\n"
        "    def _our_helper(self):\n"
        "        return None\n"
    )
    try:
        uses = private_uses(source, defined_names([source]) - {"_release_datasets", "_is_async", "_register_hooks"})
    finally:
        source.unlink()
    assert [use.split(" ", 1)[1] for use in uses] == [
        "from kedro_datasets._typing import TablePreview",
        "from kedro.framework.hooks.manager import _create_hook_manager",
        "overrides _release_datasets",
        "._is_async",
        "._register_hooks",
    ], uses
