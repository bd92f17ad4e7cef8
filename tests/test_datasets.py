"""The catalog datasets: kedro-datasets underneath (arguments, fsspec paths, previews), atomic local saves."""

from __future__ import annotations

import base64
import json

import fsspec
import kedro_datasets
import pandas as pd
import pytest
import torch
from kedro.io import DatasetError
from matplotlib.figure import Figure

from ex_coverage import datasets
from ex_coverage.datasets import (
    AtomicCSVDataset,
    AtomicFigureDataset,
    AtomicJSONDataset,
    AtomicParquetDataset,
    AtomicTextDataset,
    TorchStateDictDataset,
)
from tests.conftest import SHORT_SCHEDULE

TABLE = pd.DataFrame({"coverage": [0.0, 0.01], "seed": [0, 1], "effective": [True, False]})
STATE = {"encoder.0.weight": torch.arange(6.0).reshape(2, 3), "encoder.0.bias": torch.zeros(2)}


def figure():
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    return fig


#: (class, file name, value to save, how to compare what loads back)
CASES = [
    (AtomicParquetDataset, "t.parquet", TABLE, lambda a, b: pd.testing.assert_frame_equal(a, b)),
    (AtomicCSVDataset, "t.csv", TABLE, lambda a, b: pd.testing.assert_frame_equal(a, b)),
    (AtomicJSONDataset, "r.json", {"b": 1, "a": [1, 2]}, lambda a, b: a == b or pytest.fail(f"{a} != {b}")),
    (AtomicTextDataset, "r.md", "# report\n", lambda a, b: a == b or pytest.fail(f"{a} != {b}")),
    (TorchStateDictDataset, "m.pt", STATE, lambda a, b: [torch.testing.assert_close(a[k], b[k]) for k in b]),
]


def test_no_name_shadows_a_kedro_datasets_class():
    ours = {
        name
        for name in dir(datasets)
        if name.endswith("Dataset") and getattr(datasets, name).__module__ == datasets.__name__
    }
    theirs = {
        cls.__name__
        for module in ("pandas", "json", "text", "matplotlib", "pickle")
        for cls in vars(__import__(f"kedro_datasets.{module}", fromlist=["x"])).values()
        if isinstance(cls, type)
    }
    assert ours >= {"AtomicParquetDataset", "AtomicFigureDataset", "TorchStateDictDataset"} and not ours & theirs
    assert issubclass(AtomicParquetDataset, kedro_datasets.pandas.ParquetDataset)
    assert issubclass(AtomicCSVDataset, kedro_datasets.pandas.CSVDataset)
    assert issubclass(AtomicJSONDataset, kedro_datasets.json.JSONDataset)
    assert issubclass(AtomicTextDataset, kedro_datasets.text.TextDataset)
    assert issubclass(AtomicFigureDataset, kedro_datasets.matplotlib.MatplotlibDataset)


@pytest.mark.parametrize("cls, name, value, same", CASES, ids=[c[0].__name__ for c in CASES])
@pytest.mark.parametrize("where", ["relative", "file-url", "memory"])
def test_round_trip_on_local_paths_and_fsspec_urls(tmp_path, monkeypatch, cls, name, value, same, where):
    monkeypatch.chdir(tmp_path)
    filepath = {
        "relative": f"data/sub/{name}",
        "file-url": f"file://{tmp_path}/data/sub/{name}",
        "memory": f"memory:///test_datasets/{tmp_path.name}/sub/{name}",
    }[where]
    dataset = cls(filepath=filepath)
    assert not dataset.exists()
    dataset.save(value)
    assert dataset.exists()
    same(dataset.load(), value)
    assert not list(tmp_path.rglob("*.partial"))
    if where == "memory":
        assert fsspec.filesystem("memory").exists(f"/test_datasets/{tmp_path.name}/sub/{name}")
    else:
        assert (tmp_path / "data/sub" / name).is_file()


@pytest.mark.parametrize("cls, name, value, same", CASES, ids=[c[0].__name__ for c in CASES])
def test_a_failed_local_save_keeps_the_previous_file_and_leaves_no_partial(
    tmp_path, monkeypatch, cls, name, value, same
):
    dataset = cls(filepath=str(tmp_path / name))
    dataset.save(value)
    before = (tmp_path / name).read_bytes()
    from ex_coverage import datasets as module

    def crash(temporary, target):
        raise KeyboardInterrupt  # killed between writing the temporary file and the rename

    monkeypatch.setattr(module, "replace_atomically", crash)
    with pytest.raises(KeyboardInterrupt):
        dataset.save(value)
    assert (tmp_path / name).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("cls, name, value, same", CASES, ids=[c[0].__name__ for c in CASES])
def test_unreadable_and_missing_files_are_named(tmp_path, monkeypatch, cls, name, value, same):
    monkeypatch.chdir(tmp_path)
    dataset = cls(filepath=f"data/{name}")
    with pytest.raises(DatasetError, match=rf"data/{name} does not exist: run the pipeline that writes it first"):
        dataset.load()
    if cls is AtomicTextDataset:
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / name).write_bytes(b"\xff\xfe\x00")  # not UTF-8
    else:
        dataset.save(value)
        path = tmp_path / "data" / name
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2] if cls is not AtomicCSVDataset else b"")
    with pytest.raises(DatasetError, match=rf"^data/{name} is unreadable or corrupted \("):
        dataset.load()


def test_load_and_save_args_reach_pandas_and_json(tmp_path):
    csv = AtomicCSVDataset(filepath=str(tmp_path / "t.csv"), save_args={"sep": ";"}, load_args={"sep": ";"})
    csv.save(TABLE)
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == "coverage;seed;effective"
    pd.testing.assert_frame_equal(csv.load(), TABLE)
    parquet = AtomicParquetDataset(filepath=str(tmp_path / "t.parquet"), load_args={"columns": ["seed"]})
    parquet.save(TABLE)
    assert list(parquet.load().columns) == ["seed"]
    default = AtomicJSONDataset(filepath=str(tmp_path / "a.json"))
    default.save({"b": 1, "a": 2})
    assert (tmp_path / "a.json").read_text() == '{\n  "a": 2,\n  "b": 1\n}'  # sorted, indented
    compact = AtomicJSONDataset(filepath=str(tmp_path / "b.json"), save_args={"indent": None, "sort_keys": False})
    compact.save({"b": 1, "a": 2})
    assert (tmp_path / "b.json").read_text() == '{"b": 1, "a": 2}'


def test_fs_args_and_credentials_reach_the_filesystem(tmp_path):
    for cls in (AtomicParquetDataset, TorchStateDictDataset):
        dataset = cls(filepath=str(tmp_path / "x"), fs_args={"auto_mkdir": False}, credentials={})
        assert dataset._fs.auto_mkdir is False
        remote = cls(filepath="memory:///creds/x", credentials={"token": "t0"}, fs_args={"region": "r1"})
        assert remote._fs.storage_options == {"token": "t0", "region": "r1"}  # what s3fs/gcsfs would receive


def test_state_dict_loads_with_weights_only(tmp_path):
    TorchStateDictDataset(filepath=str(tmp_path / "m.pt")).save(STATE)
    loaded = torch.load(tmp_path / "m.pt", weights_only=True)
    assert torch.equal(loaded["encoder.0.weight"], STATE["encoder.0.weight"])
    torch.save({"not": object()}, tmp_path / "bad.pt")  # pickled objects are refused by weights_only
    with pytest.raises(DatasetError, match=r"bad\.pt is unreadable or corrupted"):
        TorchStateDictDataset(filepath=str(tmp_path / "bad.pt")).load()


def test_previews_for_kedro_viz(tmp_path):
    table = AtomicParquetDataset(filepath=f"memory:///previews/{tmp_path.name}/t.parquet")
    table.save(TABLE)
    assert table.preview(nrows=1) == {
        "index": [0],
        "columns": ["coverage", "seed", "effective"],
        "data": [[0.0, 0, True]],
    }
    csv = AtomicCSVDataset(filepath=str(tmp_path / "t.csv"))
    csv.save(TABLE)
    assert csv.preview(nrows=1)["data"] == [[0.0, 0, True]]
    document = AtomicJSONDataset(filepath=str(tmp_path / "r.json"))
    document.save({"c": 0.01})
    assert json.loads(document.preview()) == {"c": 0.01}
    image = AtomicFigureDataset(filepath=str(tmp_path / "f.png"))
    image.save(figure())
    png = (tmp_path / "f.png").read_bytes()
    assert png.startswith(b"\x89PNG") and image.load() == png
    assert base64.b64decode(image.preview()) == png


def test_figures_save_atomically_to_local_files_and_through_fsspec(tmp_path, monkeypatch):
    remote = AtomicFigureDataset(filepath=f"memory:///figures/{tmp_path.name}/f.png", save_args={"dpi": 20})
    remote.save(figure())
    assert remote.load().startswith(b"\x89PNG")
    several = AtomicFigureDataset(filepath=str(tmp_path / "many"))
    several.save({"a.png": figure(), "b.png": figure()})
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["a.png", "b.png"]
    local = AtomicFigureDataset(filepath=str(tmp_path / "f.png"))
    local.save(figure())
    before = (tmp_path / "f.png").read_bytes()
    monkeypatch.setattr(datasets, "replace_atomically", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        local.save(figure())
    assert (tmp_path / "f.png").read_bytes() == before and not list(tmp_path.glob(".*"))


def test_the_dopesheet_entry_reads_the_csv_as_the_schedule_parser_expects(tmp_path):
    """The catalog's ``dopesheet`` (kedro-datasets' CSVDataset, from any fsspec path) gives the table that
    :func:`~ex_coverage.science.schedule.read_schedule_csv` parses: same steps, same digest."""
    import yaml
    from kedro.io import DataCatalog

    from ex_coverage.pipelines.data_engineering.nodes import resolve_schedule
    from ex_coverage.science.schedule import CSV_READ_ARGS, read_schedule_csv
    from tests.conftest import ROOT

    entry = yaml.safe_load((ROOT / "conf/base/catalog.yml").read_text())["dopesheet"]
    assert entry["load_args"] == {"dtype": "str", "keep_default_na": CSV_READ_ARGS["keep_default_na"]}
    assert CSV_READ_ARGS["dtype"] is str
    with fsspec.open(f"memory:///schedules/{tmp_path.name}/dopesheet.csv", "wb") as stream:
        stream.write(SHORT_SCHEDULE.read_bytes())
    catalog = DataCatalog.from_config(
        {"dopesheet": {**entry, "filepath": f"memory:///schedules/{tmp_path.name}/dopesheet.csv"}}
    )
    remote = resolve_schedule(catalog.load("dopesheet"))
    local = read_schedule_csv(SHORT_SCHEDULE)
    assert remote.digest == local.digest and len(remote) == len(local) == 201
    assert (remote.values["lr"] == local.values["lr"]).all()
