"""The DAG kedro-viz shows reads top to bottom: few datasets cross a coverage level, layers in order.

Checked on the JSON that `kedro viz build` writes (build/api/main), for the default grid (conf/base)
and the test grid (conf/test, with previews, on a finished tiny sweep).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ex_coverage.sweep import parse_grid
from tests.conftest import ROOT
from tests.project import copy_project, kedro

#: Layers top to bottom (SPEC: 01_raw … 08_reporting; the layers this project uses).
LAYERS = ["raw", "intermediate", "model_input", "models", "model_output", "reporting"]
PER_LEVEL = 3  # datasets that may cross one coverage level's boundary
SHARED = 20  # top-level datasets that belong to no level


def grid_of(env: str):
    """The sweep grid of a configuration environment (``base`` overridden by ``env``)."""
    sweep = yaml.safe_load((ROOT / "conf" / "base" / "parameters_sweep.yml").read_text())["sweep"]
    override = ROOT / "conf" / env / "parameters_sweep.yml"
    if env != "base" and override.exists():
        sweep = {**sweep, **yaml.safe_load(override.read_text())["sweep"]}
    return parse_grid(sweep)


def viz_build(project: Path, env: str, *options: str) -> dict:
    result = kedro(project, "viz", "build", *options, env={"KEDRO_ENV": env})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads((project / "build" / "api" / "main").read_text())


def top_level_datasets(viz: dict) -> list[str]:
    """Datasets drawn outside every modular pipeline (what a reader sees with the levels collapsed)."""
    nodes = {n["id"]: n for n in viz["nodes"]}
    root = viz["modular_pipelines"]["__root__"]["children"]
    return sorted(nodes[c["id"]]["name"] for c in root if c["id"] in nodes and nodes[c["id"]]["type"] == "data")


def backward_edges(viz: dict) -> list[tuple[str, str, str]]:
    """(input, node, output) where a node reads a dataset of a later layer than one it writes."""
    nodes = {n["id"]: n for n in viz["nodes"]}
    rank = {layer: i for i, layer in enumerate(viz["layers"])}
    reads: dict[str, list[dict]] = {}
    writes: dict[str, list[dict]] = {}
    for edge in viz["edges"]:
        source, target = nodes.get(edge["source"]), nodes.get(edge["target"])
        if source and target and source["type"] == "data" and target["type"] == "task":
            reads.setdefault(target["id"], []).append(source)
        if source and target and source["type"] == "task" and target["type"] == "data":
            writes.setdefault(source["id"], []).append(target)
    return [
        (i["name"], nodes[task]["name"], o["name"])
        for task, inputs in reads.items()
        for i in inputs
        for o in writes.get(task, [])
        if i.get("layer") and o.get("layer") and rank[i["layer"]] > rank[o["layer"]]
    ]


@pytest.fixture(scope="module")
def default_viz(tmp_path_factory):
    """`kedro viz build` of the default grid (no run needed without previews)."""
    return viz_build(copy_project(tmp_path_factory.mktemp("viz_default")), "base")


@pytest.fixture(scope="module")
def test_viz(tiny_viz):
    """`kedro viz build --include-previews` of the finished tiny sweep (conftest.py, shared)."""
    return tiny_viz


@pytest.fixture(
    params=[
        pytest.param("base", marks=pytest.mark.xdist_group("viz_default")),  # one worker builds the default viz once
        "test",
    ]
)
def built(request):
    """(grid, viz JSON) of each environment; the test one needs the tiny sweep, the default one does not."""
    return grid_of(request.param), request.getfixturevalue("default_viz" if request.param == "base" else "test_viz")


def test_every_coverage_level_is_a_modular_pipeline(built):
    grid, viz = built
    assert {k for k in viz["modular_pipelines"] if k != "__root__"} == set(grid.namespaces)


def test_few_datasets_cross_each_level(built):
    grid, viz = built
    top = top_level_datasets(viz)
    assert len(top) <= PER_LEVEL * len(grid.namespaces) + SHARED, top
    for namespace in grid.namespaces:
        crossing = [name for name in top if name.startswith(f"{namespace}_") or name.startswith(f"{namespace}.")]
        assert len(crossing) <= PER_LEVEL, crossing
    assert not [name for name in top if "_seed_" in name]  # per-seed results stay inside their level


def test_no_dotted_dataset_names_outside_namespaces(built):
    _, viz = built
    assert not [name for name in top_level_datasets(viz) if "." in name]


def test_layers_run_top_to_bottom(built):
    _, viz = built
    assert viz["layers"] == LAYERS
    assert backward_edges(viz) == []


def test_backward_edge_is_detected():
    """The layer check itself: a node reading a reporting dataset and writing a raw one is caught."""
    viz = {
        "layers": LAYERS,
        "nodes": [
            {"id": "a", "name": "report", "type": "data", "layer": "reporting"},
            {"id": "t", "name": "node", "type": "task"},
            {"id": "b", "name": "dopesheet", "type": "data", "layer": "raw"},
        ],
        "edges": [{"source": "a", "target": "t"}, {"source": "t", "target": "b"}],
    }
    assert backward_edges(viz) == [("report", "node", "dopesheet")]


def test_pipelines_name_no_dotted_dataset_outside_its_namespace():
    """Kedro warns about such names ('.' is reserved for namespaces); none of ours may have one."""
    from ex_coverage.pipelines import data_engineering, reporting, training

    grid = grid_of("base")
    sweep = data_engineering.create_pipeline() + training.create_pipeline(grid) + reporting.create_pipeline(grid)
    offending = [
        (node.name, name)
        for node in sweep.nodes
        for name in node.inputs + node.outputs
        if "." in name
        and not name.startswith("params:")
        and (not node.namespace or name.split(".")[0] != node.namespace.split(".")[0])
    ]
    assert offending == []
