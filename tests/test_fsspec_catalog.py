"""The tiny sweep runs with every catalog entry on an fsspec URL that is not a local path (``memory://``)."""

from __future__ import annotations

import os
import uuid

import fsspec
import pandas as pd
import pytest
import yaml

from tests.project import bootstrap, copy_project

ENV = "remote"
#: The sweep up to the report, one figure of the sweep and a level's page and figure: every kind of catalog entry
#: (each dataset class, top-level entries and the per-level factories) goes through the URLs; the other twelve
#: figures would go through the same dataset and factory.
REMOTE_OUTPUTS = [
    "report",
    "coverage_pass_rate_figure",
    "levels.coverage_0p01.report",
    "levels.coverage_0p01.suppression_figure",
]


def remote_environment(project, root: str) -> None:
    """conf/remote = conf/test with every dataset (raw input included) under ``root``, an fsspec URL."""
    env = project / "conf" / ENV
    env.mkdir()
    for path in (project / "conf/test").glob("parameters*.yml"):
        (env / path.name).write_text(path.read_text())
    catalog = yaml.safe_load((project / "conf/base/catalog.yml").read_text())
    catalog.update(yaml.safe_load((project / "conf/test/catalog.yml").read_text()))
    for entry in catalog.values():
        entry["filepath"] = f"{root}/{entry['filepath']}"
    (env / "catalog.yml").write_text(yaml.safe_dump(catalog))
    with fsspec.open(catalog["dopesheet"]["filepath"], "wb") as stream:
        stream.write((project / "data/01_raw/dopesheet_short.csv").read_bytes())


@pytest.fixture
def remote_sweep(tmp_path):
    from kedro.framework.session import KedroSession
    from kedro.runner import SequentialRunner

    from ex_coverage.sweep import pipelines_for

    project = copy_project(tmp_path)
    root = f"memory:///ex_coverage_{uuid.uuid4().hex[:8]}"
    remote_environment(project, root)
    previous_cwd = os.getcwd()
    os.chdir(project)
    try:
        bootstrap(project)
        with pipelines_for(ENV):  # as `kedro run --env` builds the pipelines
            with KedroSession.create(project_path=project, env=ENV) as session:
                session.run(pipeline_name="sweep", runner=SequentialRunner(), to_outputs=REMOTE_OUTPUTS)
            with KedroSession.create(project_path=project, env=ENV) as session:
                yield project, root, session.load_context().catalog
    finally:
        os.chdir(previous_cwd)
        fsspec.filesystem("memory").rm(root.removeprefix("memory://"), recursive=True)


@pytest.mark.long
def test_the_tiny_sweep_writes_and_reads_through_memory_urls(remote_sweep):
    project, root, catalog = remote_sweep
    memory = fsspec.filesystem("memory")
    written = {
        p.removeprefix(root.removeprefix("memory://") + "/") for p in memory.find(root.removeprefix("memory://"))
    }
    assert {
        "data/06_models/coverage_0p01/seed_1.pt",
        "data/07_model_output/coverage_0/history_seed_0.parquet",
        "data/07_model_output/coverage_0p01/run_record_seed_1.json",
        "data/08_reporting/coverage_runs.csv",
        "data/08_reporting/critical_coverage.json",
        "data/08_reporting/coverage_pass_rate.png",
        "data/08_reporting/report.md",
        "data/08_reporting/levels/coverage_0p01.md",
        "data/08_reporting/levels/coverage_0p01_suppression.png",
    } <= written
    assert not [name for name in written if name.endswith(".partial")]
    assert not [p for p in (project / "data").rglob("*") if p.is_file() and "01_raw" not in p.parts]  # nothing local

    runs = catalog.load("coverage_runs")
    assert isinstance(runs, pd.DataFrame) and len(runs) == 4
    assert sorted(zip(runs["coverage"], runs["seed"])) == [(0.0, 0), (0.0, 1), (0.01, 0), (0.01, 1)]
    state = catalog.load("levels.coverage_0p01.model_seed_1")["state_dict"]
    assert sum(t.numel() for t in state.values()) == 263
    assert len(catalog.load("levels.coverage_0.history_seed_0")) == 201
    assert catalog.load("levels.coverage_0p01.run_record_seed_1")["seed"] == 1
    assert catalog.load("coverage_pass_rate_figure").startswith(b"\x89PNG")
    from ex_coverage.pipelines.reporting.nodes import write_report

    thresholds = catalog.load("params:reporting")["thresholds"]
    summary, critical = catalog.load("coverage_summary"), catalog.load("critical_coverage")
    tables = [catalog.load(name) for name in ("named_colour_deltas", "ed80_fits", "threshold_sensitivity")]
    assert catalog.load("report") == write_report(summary, critical, thresholds, runs, *tables)


def test_dask_workers_need_the_shared_project_folder_only_for_local_files(tmp_path, monkeypatch):
    from kedro.io import DataCatalog
    from kedro.pipeline import Pipeline, node

    from ex_coverage.datasets import AtomicJSONDataset, AtomicParquetDataset
    from ex_coverage.runner import DaskRunner

    monkeypatch.chdir(tmp_path)
    pipeline = Pipeline([node(lambda table, p: table, ["table", "params:x"], "record", name="n")])
    table = AtomicParquetDataset(filepath="memory:///bucket/table.parquet")
    remote = DataCatalog({"table": table, "record": AtomicJSONDataset(filepath="memory:///bucket/r.json")})
    local = DataCatalog({"table": table, "record": AtomicJSONDataset(filepath="data/r.json")})
    for catalog in (remote, local):
        catalog["params:x"] = 1
    assert DaskRunner._shared_folder(pipeline, remote) is None
    assert DaskRunner._shared_folder(pipeline, local) == str(tmp_path)
