import math

import torch

from ex_coverage.science.regularizers import REGULARIZERS, anchor_loss, planar_loss, selective_mean, separate_loss


def test_anchor_loss_is_one_minus_cosine():
    z = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [-1.0, 0, 0, 0], [1.0, 1.0, 0, 0]])
    torch.testing.assert_close(anchor_loss(z), torch.tensor([0.0, 1.0, 2.0, 1 - 1 / math.sqrt(2)]))


def test_planar_loss_is_energy_outside_dims_0_and_1():
    z = torch.tensor([[0.6, 0.8, 0, 0], [0, 0, 0.6, 0.8], [0.5, 0.5, 0.5, 0.5]])
    torch.testing.assert_close(planar_loss(z), torch.tensor([0.0, 1.0, 0.5]))


def test_separate_loss_hand_computed():
    # Orthogonal pair: C = 0 off-diagonal, self-pair zeroed -> both entries shift to 0.5.
    z = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
    torch.testing.assert_close(separate_loss(z, power=1.0), torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(separate_loss(z, power=2.0), torch.tensor([0.5, 0.5]))
    # Antipodal pair: C = -1 -> shifted 0; self-pairs (C = 1) zeroed -> 0.5 each.
    z = torch.tensor([[1.0, 0, 0, 0], [-1.0, 0, 0, 0]])
    torch.testing.assert_close(separate_loss(z, power=1.0), torch.tensor([0.5, 0.5]))
    # A duplicated draw counts like a self-pair.
    z = torch.tensor([[1.0, 0, 0, 0], [1.0, 0, 0, 0]])
    torch.testing.assert_close(separate_loss(z, power=1.0), torch.tensor([1.0, 1.0]))


def test_selective_mean_weights_by_affinity_and_is_zero_without_labels():
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert selective_mean(losses, torch.zeros(4)).item() == 0.0
    torch.testing.assert_close(
        selective_mean(losses, torch.tensor([0.0, 1.0, 0.0, 1.0])), torch.tensor(3.0), rtol=1e-6, atol=0
    )


def test_labelled_regularizers_ignore_unlabelled_samples():
    anchor = next(r for r in REGULARIZERS if r.name == "reg-anchor")
    z = torch.tensor([[[0, 1.0, 0, 0], [1.0, 0, 0, 0]]])  # (members, batch, 4)
    no_labels = {"red": torch.zeros(1, 2, dtype=torch.bool), "vibrant": torch.zeros(1, 2, dtype=torch.bool)}
    assert anchor(z, no_labels).item() == 0.0
    labels = {"red": torch.tensor([[False, True]]), "vibrant": torch.zeros(1, 2, dtype=torch.bool)}
    assert abs(anchor(z, labels).item()) < 1e-6  # only the aligned sample is labelled
    separate = next(r for r in REGULARIZERS if r.name == "reg-separate")
    assert separate(z, no_labels).shape == (1,) and separate(z, no_labels).item() > 0
