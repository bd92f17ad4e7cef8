import numpy as np
import pandas as pd
import pytest
import torch

from ex_coverage.science.colour import redness, rgb_grid, vibrancy
from ex_coverage.science.labels import base_label_probabilities, label_probabilities
from ex_coverage.science.model import ColourAutoencoder, load_autoencoder
from ex_coverage.science.schedule import parse_schedule, read_schedule_csv
from ex_coverage.science.training import TrainingDiverged, count_labels, draw_batches, labelled_steps, train_ensemble
from tests.conftest import SEED_LABELS, SEED_SCHEDULE

SHORT = parse_schedule(
    pd.DataFrame(
        [
            ["0", "1e-8", "0.01", "0.02", "0.01"],
            ["+10", "0.01", "", "", ""],
            ["60", "0.2", "0.015", "0.2", "0.2"],
            ["80", "0.05", "0", "0", "0"],
        ],
        columns=["STEP", "lr", "reg-separate", "reg-anchor", "reg-planar"],
    )
)


def train(seeds, schedule=SHORT, multiplier=5.0, config=None):
    from ex_coverage.science.training import TrainingConfig

    grid = rgb_grid(10)
    probabilities = label_probabilities(base_label_probabilities(grid, SEED_LABELS), multiplier)
    validation = rgb_grid(4)
    return train_ensemble(
        seeds,
        grid,
        np.stack([probabilities["red"], probabilities["vibrant"]], axis=-1),
        ["red", "vibrant"],
        schedule,
        validation,
        {"red": redness(validation) == 1, "vibrant": vibrancy(validation) == 1},
        config or TrainingConfig(),
    )


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_model_has_263_parameters_and_unit_latents():
    model = ColourAutoencoder()
    assert sum(p.numel() for p in model.parameters()) == 263
    y, z = model.eval()(torch.rand(10, 3))
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(10))
    assert y.min() >= 0 and y.max() <= 1


def test_same_seed_gives_identical_weights_and_history():
    first, second = train([3]), train([3])
    assert_same_weights(first[0].state_dict, second[0].state_dict)
    pd.testing.assert_frame_equal(first[0].history, second[0].history)


def test_a_seed_does_not_depend_on_the_seeds_trained_beside_it():
    alone = train([1])[0]
    together = {r.seed: r for r in train([0, 1, 2])}
    assert_same_weights(alone.state_dict, together[1].state_dict)
    assert alone.label_counts == together[1].label_counts
    assert not torch.equal(together[0].state_dict["encoder.0.weight"], together[1].state_dict["encoder.0.weight"])


def test_members_of_different_levels_train_together_exactly_as_alone():
    """Several coverage levels in one ensemble (SweepRunner's batches): each run as its own level gives it,
    weights, history and validation alike."""
    from ex_coverage.science.training import Member, train_members

    grid, validation = rgb_grid(10), rgb_grid(4)
    base = base_label_probabilities(grid, SEED_LABELS)
    stacked = {m: np.stack(list(label_probabilities(base, m).values()), axis=-1) for m in (0.0, 5.0)}
    together = train_members(
        [Member(1, stacked[5.0]), Member(1, stacked[0.0]), Member(2, stacked[5.0])],
        grid,
        ["red", "vibrant"],
        SHORT,
        validation,
        {"red": redness(validation) == 1, "vibrant": vibrancy(validation) == 1},
    )
    for result, alone in zip(together, [train([1])[0], train([1], multiplier=0.0)[0], train([2])[0]]):
        assert_same_weights(result.state_dict, alone.state_dict)
        pd.testing.assert_frame_equal(result.history, alone.history)
        pd.testing.assert_frame_equal(result.validation, alone.validation)
        assert result.label_counts == alone.label_counts
    assert together[1].label_counts["any"] == 0 < together[0].label_counts["any"]


def test_state_dict_loads_into_the_plain_model():
    result = train([0])[0]
    model = load_autoencoder(result.state_dict)
    assert not model.training
    assert result.history.shape[0] == len(SHORT)
    assert {"loss_total", "loss_reconstruction", "loss_reg-anchor", "lr", "weight_reg-planar"} <= set(
        result.history.columns
    )
    # Terms with zero weight are not computed at the last step.
    assert np.isnan(result.history["loss_reg-anchor"].iloc[-1])
    assert "val_reconstruction" in result.validation  # no validation: 81 steps < validate_every


def test_label_counts_match_the_drawn_labels_and_coverage():
    schedule = read_schedule_csv(SEED_SCHEDULE)
    grid = rgb_grid(10)
    base = base_label_probabilities(grid, SEED_LABELS)
    probabilities = label_probabilities(base, 1.0)
    drawn = draw_batches(0, len(schedule), 64, np.stack([probabilities["red"], probabilities["vibrant"]], -1))
    counted = labelled_steps(schedule)
    assert counted.sum() == 1425  # labelled terms switch off at step 1425
    counts = count_labels(drawn, ["red", "vibrant"], counted)
    assert counts["n_samples"] == 1425 * 64
    assert counts["any"] <= counts["red"] + counts["vibrant"]
    expected_any = 1 - (1 - probabilities["red"]) * (1 - probabilities["vibrant"])
    # Monte-Carlo tolerance: 4 standard deviations of a binomial count.
    mean = expected_any.mean() * counts["n_samples"]
    assert abs(counts["any"] - mean) < 4 * np.sqrt(mean)


def test_divergence_names_the_term_and_step():
    exploding = parse_schedule(pd.DataFrame([["0", "1e30"], ["20", "1e30"]], columns=["STEP", "lr"]))
    with pytest.raises(TrainingDiverged, match=r"loss term '.*' became nan at step \d+ \(seed 0"):
        train([0], schedule=exploding)


def test_one_optimiser_step_per_schedule_step_in_order_and_validation_exactly_every_n(monkeypatch):
    """The loop takes step 0, 1, 2, … once each, with that step's learning rate, and validates after every
    ``validate_every`` steps — no blocks, no end-of-epoch extra."""
    from ex_coverage.science.training import EnsembleTrainingModule, TrainingConfig

    calls = []
    forward, step, validate = EnsembleTrainingModule.forward, torch.optim.Adam.step, EnsembleTrainingModule.validate

    def spy_forward(self, k):
        calls.append(("loss", k))
        return forward(self, k)

    def spy_step(self, *args, **kwargs):
        calls.append(("step", self.param_groups[0]["lr"]))
        return step(self, *args, **kwargs)

    def spy_validate(self, steps_done):
        calls.append(("validate", steps_done))
        return validate(self, steps_done)

    monkeypatch.setattr(EnsembleTrainingModule, "forward", spy_forward)
    monkeypatch.setattr(torch.optim.Adam, "step", spy_step)
    monkeypatch.setattr(EnsembleTrainingModule, "validate", spy_validate)
    result = train([0, 1], config=TrainingConfig(validate_every=20))[0]

    expected = []
    for k, lr in enumerate(SHORT.get("lr", 1e-3)):
        expected += [("loss", k), ("step", float(lr))]
        if (k + 1) % 20 == 0:
            expected.append(("validate", k + 1))
    assert len(SHORT) == 81 and calls == expected
    assert list(result.validation["step"]) == [20, 40, 60, 80]
    assert result.history["lr"].tolist() == SHORT.get("lr", 1e-3).tolist()


def test_validation_is_diagnostic_only():
    """Validating (or not) changes nothing of the trajectory; ``validate_every: 0`` validates never."""
    from ex_coverage.science.training import TrainingConfig

    often, never = (
        train([2], config=TrainingConfig(validate_every=7))[0],
        train([2], config=TrainingConfig(validate_every=0))[0],
    )
    assert_same_weights(often.state_dict, never.state_dict)
    pd.testing.assert_frame_equal(often.history, never.history)
    assert len(often.validation) == 11 and len(never.validation) == 0
    assert list(never.validation.columns) == list(often.validation.columns)
    assert len(never.history.merge(never.validation.drop(columns="seed"), on="step", how="left")) == len(SHORT)


@pytest.mark.long
def test_seed_configuration_reproduces_the_seed_reconstruction_error():
    """SPEC §11: the seed run (m = 1) reaches a median MSE of 4.3e-05 on the 240×48×48 HSV grid."""
    from ex_coverage.science.colour import hsv_grid
    from ex_coverage.science.evaluation import encode, per_colour_mse

    result = train([0], schedule=read_schedule_csv(SEED_SCHEDULE), multiplier=1.0)[0]
    rgb, _ = hsv_grid(np.arange(240) / 240, np.linspace(0, 1, 48), np.linspace(0, 1, 48))
    mse = per_colour_mse(rgb, encode(load_autoencoder(result.state_dict), rgb)[0])
    assert 4.3e-5 / 2 <= np.median(mse) <= 4.3e-5 * 2
    assert mse.max() < 5e-3


@pytest.mark.parametrize(
    "validate_every, steps",
    [(0, []), (7, [7, 14, 21, 28, 35, 42, 49, 56, 63, 70, 77]), (20, [20, 40, 60, 80]), (250, [])],
)
def test_validation_lands_exactly_on_every_multiple_of_validate_every(validate_every, steps):
    from ex_coverage.science.training import TrainingConfig

    grid, validation = rgb_grid(10), rgb_grid(4)
    probabilities = label_probabilities(base_label_probabilities(grid, SEED_LABELS), 5.0)
    result = train_ensemble(
        [0], grid, np.stack([probabilities["red"], probabilities["vibrant"]], axis=-1), ["red", "vibrant"], SHORT,
        validation, {"red": redness(validation) == 1, "vibrant": vibrancy(validation) == 1},
        TrainingConfig(validate_every=validate_every),
    )  # fmt: skip
    assert list(result[0].validation["step"]) == steps
