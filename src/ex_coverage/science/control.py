"""M5 intervention control (SPEC §8): can the red concept be removed from the latent space alone?

Suppress the anchor direction in the unit latent of every colour of an 8³ RGB cube, decode, and
correlate the per-colour damage with how similar each colour is to red. A controllable latent space
damages red a lot, its neighbours less, and leaves green, cyan, blue and the greys alone.

The interventions work on any *codec*: a module with an ``encoder`` (RGB → the 4-D latent before
normalisation) and a ``decoder`` (unit latent → RGB before clamping), as
:class:`~ex_coverage.science.model.ColourAutoencoder` has; tests hand-build codecs whose answer is known.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Protocol

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import Tensor

from ex_coverage.science.architecture import ANCHOR
from ex_coverage.science.colour import FloatArray, named_colours, rgb_grid, rgb_to_hsv
from ex_coverage.science.metrics import r_squared

#: Steps per RGB axis of the evaluation cube (8³ = 512 colours).
CUBE_STEPS = 8
#: Interventions on the latent, each with its own column of per-colour error.
INTERVENTIONS = ("none", "suppressed", "ablated")


class Codec(Protocol):
    """What the interventions need of a model: its encoder (before normalisation) and decoder."""

    encoder: Callable[[Tensor], Tensor]
    decoder: Callable[[Tensor], Tensor]


@cache
def evaluation_cube() -> NDArray[np.float32]:
    """The 512 colours of the RGB cube ``linspace(0, 1, 8)`` per axis (red slowest, blue fastest)."""
    cube = rgb_grid(CUBE_STEPS)
    cube.flags.writeable = False
    return cube


def similarity_to_red(rgb: FloatArray) -> NDArray[np.float64]:
    """SPEC §8's similarity to red (0, 1, 1) in HSV, in [0, 1]: 1 for pure red, 0 for greys and far hues.

    ``Δ = 360·min(h, 1 − h)``, ``hue_sim = max(0, (90 − Δ)/90)``, ``r = (s·v + 1)/2``,
    ``sim = (r·hue_sim + 1 − r)·(1 − |s − 1|)·(1 − |v − 1|)``.
    """
    h, s, v = np.moveaxis(rgb_to_hsv(rgb), -1, 0)
    delta = 360.0 * np.minimum(np.abs(h), 1.0 - np.abs(h))
    hue_sim = np.maximum(0.0, (90.0 - delta) / 90.0)
    weight = (s * v + 1.0) / 2.0
    return (weight * hue_sim + 1.0 - weight) * (1.0 - np.abs(s - 1.0)) * (1.0 - np.abs(v - 1.0))


def suppression_target(rgb: FloatArray) -> NDArray[np.float64]:
    """The damage a controllable model should show per colour: ``t = sim²``."""
    return similarity_to_red(rgb) ** 2


def suppress(z: Tensor, anchor: Tensor | None = None) -> Tensor:
    """Remove the anchor component where it is positive: ``z − min(d, 1)·a`` for ``d = z·a > 0``; no renormalisation."""
    a = torch.as_tensor(ANCHOR, dtype=z.dtype) if anchor is None else anchor
    d = z @ a
    return z - d.clamp(0.0, 1.0).unsqueeze(-1) * a


def latent(model: Codec, x: Tensor) -> Tensor:
    """The unit latent z of each colour."""
    return F.normalize(model.encoder(x), dim=-1)


def ablated_latent(model: Codec, x: Tensor) -> Tensor:
    """Ablation: the encoder's latent dim 0 set to 0 before normalisation (the other three are renormalised)
    and again at the decoder's input."""
    h = model.encoder(x).clone()
    h[..., 0] = 0.0
    z = F.normalize(h, dim=-1)
    z[..., 0] = 0.0
    return z


def decode(model: Codec, z: Tensor) -> Tensor:
    """Decode as in eval mode: the reconstruction clamped to [0, 1]."""
    return model.decoder(z).clamp(0.0, 1.0)


def reconstructions(model: Codec, rgb: FloatArray) -> dict[str, NDArray[np.float32]]:
    """Each colour's reconstruction with no intervention, with the anchor suppressed and with dim 0 ablated."""
    x = torch.tensor(np.asarray(rgb, dtype=np.float32))
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad():
            z = latent(model, x)
            out = {
                "none": decode(model, z),
                "suppressed": decode(model, suppress(z)),
                "ablated": decode(model, ablated_latent(model, x)),
            }
    finally:
        if was_training:
            model.train()
    return {name: y.numpy() for name, y in out.items()}


def colour_mse(rgb: FloatArray, reconstruction: FloatArray) -> NDArray[np.float64]:
    """Per-colour mean squared error over the three channels."""
    diff = np.asarray(reconstruction, dtype=np.float64) - np.asarray(rgb, dtype=np.float64)
    return (diff**2).mean(axis=-1)


@dataclass
class ControlEvaluation:
    """M5 of one model: its scores, the cube's per-colour errors and the named-colour table."""

    scores: dict[str, float]  # suppression_r2, ablation_r2
    cube: pd.DataFrame  # r, g, b, similarity, target, mse_none, mse_suppressed, mse_ablated
    named: pd.DataFrame  # colour, r, g, b, similarity, mse_none, mse_suppressed, delta


def _error_columns(model: Codec, rgb: NDArray[np.float32]) -> dict[str, NDArray]:
    """Columns of :func:`cube_errors` for ``rgb``, from one forward pass per intervention."""
    similarity = similarity_to_red(rgb)
    columns = {"r": rgb[:, 0], "g": rgb[:, 1], "b": rgb[:, 2], "similarity": similarity, "target": similarity**2}
    for name, y in reconstructions(model, rgb).items():
        columns[f"mse_{name}"] = colour_mse(rgb, y)
    return columns


def _named_table(columns: dict[str, NDArray]) -> pd.DataFrame:
    names = named_colours()[0]
    keep = ("r", "g", "b", "similarity", "mse_none", "mse_suppressed")
    table = {"colour": list(names), **{k: columns[k] for k in keep}}
    table["delta"] = columns["mse_suppressed"] - columns["mse_none"]
    return pd.DataFrame(table)


def cube_errors(model: Codec, rgb: FloatArray | None = None) -> pd.DataFrame:
    """Per colour of the evaluation cube (or ``rgb``): similarity to red, target ``sim²`` and the error of each intervention."""
    rgb = evaluation_cube() if rgb is None else np.asarray(rgb, dtype=np.float32)
    return pd.DataFrame(_error_columns(model, rgb))


def named_colour_deltas(model: Codec) -> pd.DataFrame:
    """ΔMSE (suppressed − none) for the 12 named hues and 5 greys, one row per colour."""
    return _named_table(_error_columns(model, named_colours()[1]))


def control_scores(cube: pd.DataFrame) -> dict[str, float]:
    """M5 (``suppression_r2``) and the ablation diagnostic (``ablation_r2``) from a :func:`cube_errors` table."""
    return {
        "suppression_r2": r_squared(cube["mse_suppressed"], cube["target"]),
        "ablation_r2": r_squared(cube["mse_ablated"], cube["target"]),
    }


def evaluate_control(model: Codec) -> ControlEvaluation:
    """M5 of one model on the evaluation cube, with its named-colour table (one forward pass for both)."""
    cube_rgb, named_rgb = evaluation_cube(), named_colours()[1]
    columns = _error_columns(model, np.concatenate([cube_rgb, named_rgb]))
    n = len(cube_rgb)
    cube = pd.DataFrame({k: v[:n] for k, v in columns.items()})
    named = _named_table({k: v[n:] for k, v in columns.items()})
    return ControlEvaluation(control_scores(cube), cube, named)
