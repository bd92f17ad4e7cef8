"""A model file is bound to the run that made it: its record, its place, the current configuration."""

from __future__ import annotations

import shutil

import pytest
import torch

from ex_coverage.science.errors import ForeignModelError
from ex_coverage.science.model import ColourAutoencoder
from ex_coverage.science.records import bind_model, check_model_binding
from tests.project import SEQUENTIAL, copy_finished, data_files, kedro_in_process

RETRAIN = "kedro run --pipeline sweep --only-missing-outputs"
WEIGHTS = ColourAutoencoder().state_dict()


def record(coverage: float, seed: int, fingerprint: str, **extra) -> dict:
    return {"coverage": coverage, "seed": seed, "fingerprint": fingerprint, "multiplier": 1.0, **extra}


def test_a_model_loads_as_a_plain_state_dict_and_knows_its_run(tmp_path):
    own = record(0.002, 3, "a" * 16)
    torch.save(bind_model(WEIGHTS, own), tmp_path / "seed_3.pt")
    loaded = torch.load(tmp_path / "seed_3.pt", weights_only=True)
    ColourAutoencoder().load_state_dict(loaded["state_dict"])
    assert loaded["run"] == {"coverage": 0.002, "seed": 3, "fingerprint": "a" * 16}
    check_model_binding(loaded, own, "here", RETRAIN, expected={"coverage": 0.002, "seed": 3})


@pytest.mark.parametrize(
    "model, beside, expected, message",
    [
        # a model copied over another level's: the record beside it is that level's
        (record(0.005, 3, "b" * 16), record(0.002, 3, "a" * 16), None, r"belongs to coverage 0\.005 seed 3 \(fingerprint b+\), not to the run record beside it \(coverage 0\.002 seed 3"),
        # a kill between saving a new model and its record: same run, other configuration
        (record(0.002, 3, "c" * 16), record(0.002, 3, "a" * 16), None, r"fingerprint c+\), not to"),
        # model and record copied together into another level's folder
        (record(0.005, 3, "b" * 16), record(0.005, 3, "b" * 16), {"coverage": 0.002, "seed": 3}, "another place's run"),
        (record(0.002, 4, "a" * 16), record(0.002, 4, "a" * 16), {"coverage": 0.002, "seed": 3}, "another place's run"),
        # a budget-map cell's run in another cell
        (
            record(0.01, 0, "d" * 16, label_coverages={"red": 0.005, "vibrant": 0.005}),
            record(0.01, 0, "d" * 16, label_coverages={"red": 0.005, "vibrant": 0.005}),
            {"label_coverages": {"red": 0.005, "vibrant": 0.0}, "seed": 0},
            r"red coverage 0\.005, vibrant coverage 0\.005 seed 0, another place's run",
        ),
    ],
)  # fmt: skip
def test_a_foreign_model_is_refused_naming_both_runs_and_the_command(model, beside, expected, message):
    with pytest.raises(ForeignModelError, match=message) as refused:
        check_model_binding(bind_model(WEIGHTS, model), beside, "data/06_models/x/seed_3.pt", RETRAIN, expected)
    assert str(refused.value).startswith("data/06_models/x/seed_3.pt: ") and str(refused.value).endswith(f"`{RETRAIN}`")


def test_a_plain_state_dict_from_before_binding_is_refused():
    with pytest.raises(ForeignModelError, match="does not say which run made it"):
        check_model_binding(dict(WEIGHTS), record(0.002, 3, "a" * 16), "here", RETRAIN)


def test_a_cell_keeps_its_own_model():
    own = record(0.01, 0, "d" * 16, label_coverages={"red": 0.005, "vibrant": 0.005})
    place = {"label_coverages": {"red": 0.005, "vibrant": 0.005}, "seed": 0}
    check_model_binding(bind_model(WEIGHTS, own), own, "here", RETRAIN, place)


@pytest.mark.long
def test_a_model_copied_over_another_levels_is_refused_then_retrained_once_deleted(tiny_sweep, tmp_path):
    project = copy_finished(tiny_sweep, tmp_path / "project")
    models = project / "data/06_models"
    shutil.copy(models / "coverage_0p01/seed_1.pt", models / "coverage_0/seed_1.pt")
    before = data_files(project)

    refused = kedro_in_process(
        project, "run", "--pipeline", "sweep", "--env", "test", *SEQUENTIAL, "--only-missing-outputs"
    )
    errors = [line for line in refused.stderr.splitlines() if line.startswith("Error: ")]
    assert refused.returncode == 1 and len(errors) == 1, (refused.stdout + refused.stderr)[-3000:]
    assert errors[0].startswith("Error: data/06_models/coverage_0/seed_1.pt (coverage_0, seed 1): ")
    assert "belongs to coverage 0.01 seed 1" in errors[0] and errors[0].endswith(f"`{RETRAIN}`")
    assert data_files(project) == before  # nothing trained, nothing lost

    (models / "coverage_0/seed_1.pt").unlink()
    resumed = kedro_in_process(
        project, "run", "--pipeline", "sweep", "--env", "test", *SEQUENTIAL, "--only-missing-outputs"
    )
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    retrained = torch.load(models / "coverage_0/seed_1.pt", weights_only=True)
    assert retrained["run"]["coverage"] == 0.0 and retrained["run"]["seed"] == 1
    assert (models / "coverage_0/seed_1.pt").read_bytes() == tiny_sweep.joinpath(
        "data/06_models/coverage_0/seed_1.pt"
    ).read_bytes()  # the same run again, bit for bit
