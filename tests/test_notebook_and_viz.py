"""The results notebook runs headless against a finished sweep, and kedro-viz shows the sweep's structure."""

from __future__ import annotations

import json

import pytest

from tests.project import execute_notebook


@pytest.mark.long
def test_results_notebook_runs_headless(tiny_sweep, monkeypatch):
    monkeypatch.setenv("KEDRO_ENV", "test")
    outputs = execute_notebook("coverage_report.ipynb", tiny_sweep)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "seed 0: multiplier" in text
    assert "seed 0: suppression r² " in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 7  # sweep figures, the history, M5 error and named-colour ΔMSE, the level's seed overview
    pages = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert pages[0].startswith("**Working window (fitted, effective):")  # it opens with the window
    assert pages[1].startswith("Grid: c* = ") or pages[1].startswith("Grid: no tested coverage")
    assert any("## Scores per seed" in page for page in pages)  # the level's page, loaded from the catalog


@pytest.fixture(scope="module")
def viz(tiny_viz):
    """`kedro viz build --include-previews` of the tiny sweep (shared with tests/test_viz_structure.py)."""
    return tiny_viz


@pytest.mark.long
def test_viz_has_one_modular_pipeline_per_coverage_level(viz):
    levels = {k for k in viz["modular_pipelines"] if k.startswith("levels.")}
    assert levels == {"levels.coverage_0", "levels.coverage_0p01"}


def test_viz_edges_run_from_every_level_into_what_gathers_the_levels(viz):
    names = {n["id"]: n["name"] for n in viz["nodes"]}
    targets = {names[e["source"]]: set() for e in viz["edges"] if e["source"] in names}
    for edge in viz["edges"]:
        if edge["source"] in names and edge["target"] in names:
            targets[names[edge["source"]]].add(names[edge["target"]])
    for level in ("coverage_0", "coverage_0p01"):
        assert "build_run_table" in targets[f"levels.{level}.run_scores"]
        assert "plot_sweep_latents" in targets[f"levels.{level}.overview_latents"]
        assert "write_level_index" in targets[f"levels.{level}.report"]


def test_viz_puts_every_dataset_in_a_layer(viz):
    datasets = [n for n in viz["nodes"] if n["type"] == "data"]
    assert datasets and all(n.get("layer") for n in datasets), [n["name"] for n in datasets if not n.get("layer")]


def test_viz_previews_tables_figures_and_json(tiny_sweep, viz):
    ids = {n["name"]: n["id"] for n in viz["nodes"]}
    expected = {
        "coverage_runs": "TablePreview",
        "schedule": "TablePreview",
        "levels.coverage_0p01.run_scores": "TablePreview",
        "coverage_pass_rate_figure": "ImagePreview",
        "levels.coverage_0p01.seeds_figure": "ImagePreview",
        "critical_coverage": "JSONPreview",
    }
    for name, kind in expected.items():
        details = json.loads((tiny_sweep / "build" / "api" / "nodes" / ids[name]).read_text())
        assert details["preview_type"] == kind and details["preview"], name
