"""M5 intervention control (SPEC §8) on hand-built latent spaces whose answer is known."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from ex_coverage.science.colour import named_colours, rgb_to_hsv
from ex_coverage.science.control import (
    ablated_latent,
    cube_errors,
    evaluate_control,
    evaluation_cube,
    reconstructions,
    similarity_to_red,
    suppress,
    suppression_target,
)
from ex_coverage.science.metrics import Thresholds, passes, r_squared
from ex_coverage.science.model import ColourAutoencoder


def similarity_to_blue(rgb):
    """Similarity to blue: permuting channels (b, r, g) turns blue into red and keeps s and v."""
    return similarity_to_red(np.asarray(rgb)[..., [2, 0, 1]])


class ConceptCodec(nn.Module):
    """A latent space built by hand over a finite set of colours, whose anchor coordinate *is* a concept.

    Colour x has unit latent ``z = (c(x), √(1 − c²)·u(x))`` with ``u`` its direction from a point
    outside the cube (distinct for every colour), so the last three coordinates identify the colour. The
    decoder finds that colour and returns ``x + (z0 − c(x))·w``: exact on the sphere, and removing the
    anchor coordinate removes ``c(x)·w`` — the concept's colour ``w`` in proportion to the concept.
    """

    def __init__(self, concept, colour: tuple[float, float, float]) -> None:
        super().__init__()
        named = named_colours()[1]
        book = np.unique(np.concatenate([evaluation_cube(), named]), axis=0).astype(np.float64)
        c = np.asarray(concept(book), dtype=np.float64)
        u = book - np.array([-0.31, -0.57, -0.83])
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        self.book = torch.tensor(book, dtype=torch.float32)
        self.c = torch.tensor(c, dtype=torch.float32)
        self.codes = torch.tensor(np.sqrt(1 - c**2)[:, None] * u, dtype=torch.float32)
        self.w = torch.tensor(colour, dtype=torch.float32)
        self.encoder, self.decoder = self._encode, self._decode

    def _encode(self, x: Tensor) -> Tensor:
        i = torch.cdist(x, self.book).argmin(dim=1)
        return torch.cat([self.c[i, None], self.codes[i]], dim=1)

    def _decode(self, z: Tensor) -> Tensor:
        i = torch.cdist(z[:, 1:], self.codes).argmin(dim=1)
        return self.book[i] + (z[:, :1] - self.c[i, None]) * self.w


RED, BLUE = (1.0, 0.0, 0.0), (0.0, 0.0, 1.0)


# --- the similarity formula -------------------------------------------------------------------


def test_rgb_to_hsv_matches_colorsys():
    cube = evaluation_cube()
    expected = np.array([colorsys.rgb_to_hsv(*map(float, c)) for c in cube])
    np.testing.assert_allclose(rgb_to_hsv(cube), expected, atol=1e-6)


@pytest.mark.parametrize(
    "rgb, sim",
    [
        ((1, 0, 0), 1.0),  # red
        ((1, 0.5, 0), 2 / 3),  # orange, 30° away
        ((1, 1, 0), 1 / 3),  # yellow, 60°
        ((0.5, 1, 0), 0.0),  # chartreuse, 90°
        ((0, 1, 0), 0.0),  # green
        ((0, 0, 1), 0.0),  # blue
        ((1, 0, 0.5), 2 / 3),  # rose, 330°
        ((1, 0, 1), 1 / 3),  # magenta, 300°
        ((0.5, 0, 0), 0.5),  # dark red: r = 0.75, (0.75 + 0.25)·1·0.5
        ((1, 0.5, 0.5), 0.5),  # pale red: s = 0.5
        ((0, 0, 0.5), 0.125),  # dark blue: hue_sim 0, but (1 − r)·s·v = 0.25·0.5
        ((0.5, 0.5, 0.5), 0.0),  # greys have s = 0
        ((1, 1, 1), 0.0),
        ((0, 0, 0), 0.0),
    ],
)
def test_similarity_to_red_known_values(rgb, sim):
    assert similarity_to_red(np.array([rgb])) == pytest.approx([sim], abs=1e-7)
    assert suppression_target(np.array([rgb])) == pytest.approx([sim**2], abs=1e-7)


def test_named_colours_are_the_spec_hues_and_greys():
    names, rgb = named_colours()
    assert names[:12] == (
        "red", "orange", "yellow", "chartreuse", "green", "spring green",
        "cyan", "azure", "blue", "violet", "magenta", "rose",
    )  # fmt: skip
    assert names[12:] == ("grey v=0", "grey v=0.25", "grey v=0.5", "grey v=0.75", "grey v=1")
    hsv = rgb_to_hsv(rgb)
    np.testing.assert_allclose(hsv[:12, 0], np.arange(12) / 12, atol=1e-6)
    np.testing.assert_allclose(hsv[:12, 1:], 1.0)
    np.testing.assert_allclose(rgb[12:], np.repeat([[0], [0.25], [0.5], [0.75], [1]], 3, axis=1))
    assert evaluation_cube().shape == (512, 3)


def test_r_squared():
    t = np.linspace(0, 1, 50)
    assert r_squared(3 * t + 2, t) == pytest.approx(1.0)
    assert r_squared(-t, t) == pytest.approx(1.0)
    assert r_squared(np.cos(np.linspace(0, 2 * np.pi, 51)[:-1]), np.sin(np.linspace(0, 2 * np.pi, 51)[:-1])) < 1e-20
    assert r_squared(np.zeros(50), t) == 0.0  # a constant error explains nothing


# --- the interventions ------------------------------------------------------------------------


def test_suppress_removes_only_a_positive_anchor_component_without_renormalising():
    z = torch.tensor([[0.6, 0.8, 0.0, 0.0], [-0.6, 0.0, 0.8, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    expected = torch.tensor([[0.0, 0.8, 0.0, 0.0], [-0.6, 0.0, 0.8, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    torch.testing.assert_close(suppress(z), expected)
    assert suppress(torch.tensor([[2.0, 0, 0, 0]]))[0, 0] == 1.0  # min(d, 1)


class Recorder(nn.Module):
    """A linear encoder and a decoder that remembers what it was given."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(3, 4)
        self.seen: list[Tensor] = []

    def decoder(self, z):
        self.seen.append(z.clone())
        return z[:, :3]


def test_ablation_zeroes_dim0_before_normalising_and_at_the_decoder():
    torch.manual_seed(0)
    model = Recorder()
    x = torch.rand(10, 3)
    h = model.encoder(x).detach()
    z = ablated_latent(model, x).detach()
    assert torch.all(z[:, 0] == 0)
    torch.testing.assert_close(z[:, 1:], h[:, 1:] / h[:, 1:].norm(dim=1, keepdim=True))
    reconstructions(model, x.numpy())
    none, suppressed, ablated = model.seen
    torch.testing.assert_close(none.norm(dim=1), torch.ones(10))
    torch.testing.assert_close(suppressed, suppress(none))
    torch.testing.assert_close(ablated, z)


def test_no_intervention_is_the_autoencoders_eval_reconstruction():
    torch.manual_seed(1)
    model = ColourAutoencoder().train()
    cube = evaluation_cube()
    out = reconstructions(model, cube)
    assert model.training  # left as it was found
    with torch.no_grad():
        expected = model.eval()(torch.tensor(cube))[0].numpy()
    np.testing.assert_array_equal(out["none"], expected)
    assert out["suppressed"].min() >= 0 and out["suppressed"].max() <= 1


# --- M5 on constructed latent spaces ----------------------------------------------------------


def test_red_on_the_anchor_is_controllable():
    model = ConceptCodec(similarity_to_red, RED)
    z_red = model.encoder(torch.tensor([[1.0, 0.0, 0.0]]))
    torch.testing.assert_close(z_red, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))  # red exactly on the anchor
    result = evaluate_control(model)
    cube = result.cube
    assert cube["mse_none"].max() < 1e-12  # exact reconstruction
    assert result.scores["suppression_r2"] > 0.97
    assert 0.0 <= result.scores["ablation_r2"] <= 1.0  # this codec's decoder is only defined on and near its codes
    named = result.named.set_index("colour")["delta"]
    assert named["red"] == pytest.approx(1 / 3)  # red decodes as black
    assert named["orange"] == pytest.approx((2 / 3) ** 2 / 3, rel=1e-5)
    assert named["rose"] == pytest.approx((2 / 3) ** 2 / 3, rel=1e-5)
    assert named["yellow"] == pytest.approx((1 / 3) ** 2 / 3, rel=1e-5)
    for colour in ("chartreuse", "green", "spring green", "cyan", "azure", "blue", "violet"):
        assert named[colour] == pytest.approx(0.0, abs=1e-12)
    assert np.abs(result.named["delta"].iloc[12:]).max() < 1e-12  # greys untouched
    assert passes({**PERFECT_M1_M4, **result.scores}, Thresholds())["effective"]


def test_anchor_that_encodes_blue_is_not_controllable_for_red():
    result = evaluate_control(ConceptCodec(similarity_to_blue, BLUE))
    assert result.scores["suppression_r2"] < 0.1
    named = result.named.set_index("colour")["delta"]
    assert named["blue"] == pytest.approx(1 / 3) and named["red"] == pytest.approx(0.0, abs=1e-12)
    verdict = passes({**PERFECT_M1_M4, **result.scores}, Thresholds())
    assert verdict["structured"] and not verdict["pass_m5"] and not verdict["controllable"]
    assert not verdict["effective"]


def test_unused_anchor_scores_zero():
    cube = cube_errors(ConceptCodec(lambda rgb: np.zeros(len(rgb)), RED))
    assert (cube["mse_suppressed"] == cube["mse_none"]).all()
    assert evaluate_control(ConceptCodec(lambda rgb: np.zeros(len(rgb)), RED)).scores["suppression_r2"] == 0.0


PERFECT_M1_M4 = {
    "anchor_cos": 1.0,
    "offplane_mean": 0.0,
    "offplane_max": 0.0,
    "winding": 1.0,
    "monotone_fraction": 1.0,
    "sextant_max_dev_deg": 0.0,
    "mse_median": 1e-5,
    "mse_max": 1e-4,
}


def test_classification_structured_controllable_effective():
    t = Thresholds()
    both = passes({**PERFECT_M1_M4, "suppression_r2": 0.95}, t)
    assert both["pass_m5"] and both["structured"] and both["controllable"] and both["effective"]
    control_only = passes({**PERFECT_M1_M4, "anchor_cos": 0.5, "suppression_r2": 0.9}, t)
    assert control_only["controllable"] and not control_only["structured"] and not control_only["effective"]
    assert not passes({**PERFECT_M1_M4, "suppression_r2": 0.89}, t)["effective"]
    assert Thresholds.from_params({"suppression_r2_min": 0.5}).suppression_r2_min == 0.5
