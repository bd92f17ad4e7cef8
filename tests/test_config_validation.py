"""Every parameter the code reads is checked against its domain, naming the file, key and allowed range."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from ex_coverage.hooks import check_parameters
from ex_coverage.science.config import check_schedule
from ex_coverage.science.errors import ConfigurationError
from ex_coverage.science.schedule import read_schedule_csv
from ex_coverage.sweep import SweepConfigError
from tests.conftest import ROOT

REGULARIZERS = ["reg-anchor", "reg-separate", "reg-planar"]


def base_parameters(env: str = "local") -> dict:
    """The parameters of conf/base with ``env``'s differences merged in, as the project's config loader does."""
    from kedro.config import OmegaConfigLoader

    from ex_coverage.settings import CONFIG_LOADER_ARGS

    return dict(OmegaConfigLoader(str(ROOT / "conf"), env=env, **CONFIG_LOADER_ARGS)["parameters"])


def test_the_shipped_configurations_are_valid():
    for env in ("local", "test", "large"):
        check_parameters(base_parameters(env))


@pytest.mark.parametrize("name", ["dopesheet.csv", "dopesheet_short.csv"])
def test_the_shipped_schedules_are_valid(name):
    """The seed's dopesheet has columns for regularizers this experiment does not use: read, not refused."""
    path = ROOT / "data" / "01_raw" / name
    schedule = read_schedule_csv(path)
    check_schedule(schedule.values, REGULARIZERS, str(path))


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("training.batch_size", 0, "parameters_training.yml: training.batch_size = 0 must be an integer ≥ 1"),
        ("training.batch_size", 32.5, "training.batch_size = 32.5 must be an integer ≥ 1"),
        ("training.batch_size", True, "training.batch_size = True must be an integer ≥ 1"),
        ("training.threads", 0, "training.threads = 0 must be an integer ≥ 1"),
        ("training.validate_every", -1, "training.validate_every = -1 must be an integer ≥ 0"),
        ("training.validate_every", 2.5, "training.validate_every = 2.5 must be an integer ≥ 0"),
        ("training.accelerator", "tpu3", "training.accelerator = 'tpu3' is not one of cpu, gpu, cuda, mps, auto"),
        ("training.batchsize", 32, "unknown key training.batchsize (allowed: batch_size"),
        ("labels.red.exponent", 0, "parameters_data_engineering.yml: labels.red.exponent = 0 is outside (0, inf]"),
        ("labels.red.exponent", float("nan"), "labels.red.exponent = nan is not a finite number"),
        ("labels.red.base_probability", 0, "labels.red.base_probability = 0 is outside (0, 1]"),
        ("labels.vibrant.base_probability", 1.5, "labels.vibrant.base_probability = 1.5 is outside (0, 1]"),
        ("labels.red.shape", "blueness", "labels.red.shape = 'blueness' is not one of redness, vibrancy"),
        ("labels.red.exponnent", 3, "unknown key labels.red.exponnent"),
        ("grids.training_steps", 1, "grids.training_steps = 1 must be an integer ≥ 2"),
        ("grids.validation_steps", 0, "grids.validation_steps = 0 must be an integer ≥ 2"),
        ("grids.hue_ring_hues", 100, "grids.hue_ring_hues = 100 must be a multiple of 6"),
        ("grids.hsv_fine.hues", 1, "grids.hsv_fine.hues = 1 must be an integer ≥ 2"),
        ("grids.hsv_coarse.value", 8, "unknown key grids.hsv_coarse.value"),
        ("grids.rgb_steps", 8, "unknown key grids.rgb_steps"),
        ("reporting.min_pass_rate", 0, "parameters_reporting.yml: reporting.min_pass_rate = 0 is outside (0, 1]"),
        ("reporting.min_pass_rate", 1.2, "reporting.min_pass_rate = 1.2 is outside (0, 1]"),
        ("reporting.thresholds.anchor_cos_min", 1.5, "reporting.thresholds.anchor_cos_min = 1.5 is outside [-1, 1]"),
        ("reporting.thresholds.mse_max_max", -1e-3, "reporting.thresholds.mse_max_max = -0.001 is outside [0, inf]"),
        ("reporting.thresholds.winding", 0, "reporting.thresholds.winding = 0 must be an integer ≥ 1"),
        ("reporting.thresholds.monotone_fraction_min", 2, "monotone_fraction_min = 2 is outside [0, 1]"),
        ("reporting.thresholds.anchor_cos", 0.9, "unknown key reporting.thresholds.anchor_cos"),
        ("reporting.min_passrate", 0.8, "unknown key reporting.min_passrate"),
    ],
)
def test_a_bad_value_names_file_key_and_range(key, value, message):
    parameters = copy.deepcopy(base_parameters())
    *path, last = key.split(".")
    target = parameters
    for part in path:
        target = target[part]
    target[last] = value
    with pytest.raises(ConfigurationError) as error:
        check_parameters(parameters)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "sweep, message",
    [
        ({"coverages": [0.01], "seeds": [2**70]}, "sweep.seeds[0] = 1180591620717411303424 is too large"),
        ({"coverages": [0.01], "seeds": [0], "seed": [1]}, "unknown key sweep.seed"),
    ],
)
def test_bad_sweep_keys_and_seeds(sweep, message):
    parameters = {**base_parameters(), "sweep": sweep}
    with pytest.raises(SweepConfigError) as error:
        check_parameters(parameters)
    assert message in str(error.value)
    check_parameters({**base_parameters(), "sweep": {"coverages": [0.01], "seeds": [2**63 - 1]}})


def test_schedule_values_are_checked_at_every_step_after_interpolation():
    good = {"lr": np.array([1e-8, 0.01, 0.2]), "reg-anchor": np.array([0.0, 0.1, 0.0])}
    check_schedule(good, REGULARIZERS, "data/01_raw/dopesheet.csv")
    with pytest.raises(ConfigurationError) as error:
        check_schedule({"lr": np.array([0.01, 0.005, -0.001, -0.002, 0.01])}, REGULARIZERS, "dopesheet.csv")
    assert str(error.value) == (
        "dopesheet.csv, column 'lr': value -0.001 at step 2 (after interpolation); "
        "the learning rate must be > 0 at every step (2 steps violate it)"
    )
    with pytest.raises(ConfigurationError, match="column 'lr': value 0 at step 0"):
        check_schedule({"lr": np.array([0.0, 0.1])}, REGULARIZERS, "dopesheet.csv")
    with pytest.raises(ConfigurationError, match=r"column 'reg-planar': value -0.5 at step 1 .* must be ≥ 0"):
        check_schedule({"lr": np.ones(3), "reg-planar": np.array([0.0, -0.5, 0.0])}, REGULARIZERS, "dopesheet.csv")
    with pytest.raises(
        ConfigurationError, match="unknown column\\(s\\) 'reg-ancor' \\(known properties: lr, reg-anchor"
    ):
        check_schedule({"lr": np.ones(3), "reg-ancor": np.ones(3)}, REGULARIZERS, "dopesheet.csv")
