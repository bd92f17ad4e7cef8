"""The training template tested as Kedro's starters test a pipeline: an in-memory catalog, Kedro's SequentialRunner,
assertions on the outputs (no project folder, no CLI)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from ex_coverage.pipelines import data_engineering, training
from ex_coverage.science.schedule import CSV_READ_ARGS
from ex_coverage.sweep import parse_grid
from tests.conftest import SHORT_SCHEDULE
from tests.test_config_validation import base_parameters

LEVELS = {"coverage_0": 0.0, "coverage_0p01": 0.01}


class KeptDataset(MemoryDataset):
    """An in-memory dataset the runner does not empty once its readers have run: the test reads every output."""

    def _release(self) -> None:
        pass


@pytest.fixture(scope="module")
def outputs():
    parameters = base_parameters("test")
    catalog = DataCatalog({"dopesheet": MemoryDataset(pd.read_csv(SHORT_SCHEDULE, **CSV_READ_ARGS))})
    for group in ("training", "labels", "grids"):
        catalog[f"params:{group}"] = parameters[group]
    for name in ("hsv_fine", "hsv_coarse"):
        catalog[f"params:grids.{name}"] = parameters["grids"][name]
    grid = parse_grid({"coverages": list(LEVELS.values()), "seeds": [3]})
    pipeline = data_engineering.create_pipeline() + training.create_pipeline(grid)
    for name in pipeline.all_outputs():
        catalog[name] = KeptDataset()
    SequentialRunner().run(pipeline, catalog)
    return catalog


def test_each_level_trains_its_seed_and_scores_it(outputs):
    for level, coverage in LEVELS.items():
        multiplier = outputs.load(f"levels.{level}.label_multiplier")
        assert multiplier["target_coverage"] == coverage and (multiplier["multiplier"] == 0) == (coverage == 0)
        record = outputs.load(f"levels.{level}.run_record_seed_3")
        model = outputs.load(f"levels.{level}.model_seed_3")
        assert model["run"] == {"coverage": coverage, "seed": 3, "fingerprint": record["fingerprint"]}
        assert sum(t.numel() for t in model["state_dict"].values()) == 263
        scores = outputs.load(f"levels.{level}.run_scores")
        assert list(scores["seed"]) == [3] and list(scores["fingerprint"]) == [record["fingerprint"]]
        assert 0.0 <= scores["realised_coverage"].iloc[0] <= 0.03
        assert (record["label_counts"]["any"] > 0) == (coverage > 0)
    weights = [outputs.load(f"levels.{level}.model_seed_3")["state_dict"]["encoder.0.weight"] for level in LEVELS]
    assert not torch.equal(*weights)  # labels change what a level learns, from the same seed
