"""The DAG kedro-viz shows reads at a glance: data engineering → one group of coverage levels → reporting.

Checked on the JSON that `kedro viz build` writes (build/api/main), for the default grid (conf/base)
and the test grid (conf/test, with previews, on a finished tiny sweep).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ex_coverage.pipelines.levels import LEVELS
from ex_coverage.sweep import parse_grid
from tests.conftest import ROOT
from tests.project import copy_project, kedro

#: Layers top to bottom (SPEC: 01_raw … 08_reporting; the layers this project uses).
LAYERS = ["raw", "intermediate", "model_input", "models", "model_output", "reporting"]
#: The most elements (groups, datasets, nodes; parameters not counted) kedro-viz's first, collapsed view may show.
AT_A_GLANCE = 20
#: The groups of that view.
GROUPS = {"data_engineering", LEVELS, "reporting"}


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


def first_view(viz: dict) -> dict[str, list[str]]:
    """What kedro-viz draws with every group collapsed, by kind (``modularPipeline``, ``data``, ``task``): the
    children of its root, parameters left out."""
    nodes = {n["id"]: n for n in viz["nodes"]}
    view: dict[str, list[str]] = {}
    for child in viz["modular_pipelines"]["__root__"]["children"]:
        node = nodes.get(child["id"], {"type": child["type"], "name": child["id"]})
        if node["type"] != "parameters":
            view.setdefault(node["type"], []).append(node["name"])
    return view


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


def test_the_first_view_is_three_groups_and_few_datasets(built):
    _, viz = built
    view = first_view(viz)
    assert sum(map(len, view.values())) <= AT_A_GLANCE, view
    assert set(view["modularPipeline"]) == GROUPS
    assert "task" not in view  # every node is in a group
    per_level = [name for name in view["data"] if name.startswith(f"{LEVELS}.") or "_seed_" in name]
    assert per_level == []


def test_the_levels_group_holds_every_level_and_a_level_its_runs(built):
    grid, viz = built
    groups = viz["modular_pipelines"]
    levels = {c["id"] for c in groups[LEVELS]["children"] if c["type"] == "modularPipeline"}
    assert levels == {f"{LEVELS}.{namespace}" for namespace in grid.namespaces}
    names = {n["id"]: n["name"] for n in viz["nodes"]}
    for namespace, coverage in grid.namespaces.items():
        inside = {names[c["id"]] for c in groups[f"{LEVELS}.{namespace}"]["children"] if c["id"] in names}
        assert "train_seeds" in inside
        assert {f"{LEVELS}.{namespace}.model_seed_{seed}" for seed in grid.seeds_at(coverage)} <= inside


def test_the_first_view_check_sees_a_level_at_the_top():
    """The first-view check itself: a level's group or dataset outside ``levels`` is caught."""
    viz = {
        "nodes": [{"id": "d", "name": "levels.coverage_0.run_scores", "type": "data"}],
        "modular_pipelines": {
            "__root__": {
                "children": [{"id": "levels.coverage_0", "type": "modularPipeline"}, {"id": "d", "type": "data"}]
            }
        },
    }
    assert first_view(viz) == {"modularPipeline": ["levels.coverage_0"], "data": ["levels.coverage_0.run_scores"]}


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
