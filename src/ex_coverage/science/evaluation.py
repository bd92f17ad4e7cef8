"""Evaluate one trained model on the evaluation grids: latents, reconstructions, scores, error profiles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from torch import Tensor

from ex_coverage.science.architecture import LATENT_COLUMNS, RECONSTRUCTION_COLUMNS
from ex_coverage.science.control import evaluate_control
from ex_coverage.science.metrics import score_latents
from ex_coverage.science.model import ColourAutoencoder, load_autoencoder, torch_threads

#: Grids whose latents and reconstructions are kept for every run (the fine HSV grid is scored, not kept).
KEPT_GRIDS = ("hue_ring", "hsv_grid_coarse", "rgb_grid_fine")


@dataclass
class RunEvaluation:
    scores: dict[str, float]
    latents: pd.DataFrame  # one row per colour of each kept grid
    error_profile: pd.DataFrame  # MSE on the fine HSV grid along hue, saturation and value
    suppression: pd.DataFrame  # M5: per colour of the 8³ cube, similarity to red and error under each intervention
    named_colours: pd.DataFrame  # M5: ΔMSE under suppression for the named hues and greys


#: Colours encoded at a time: each chunk's activations stay in the CPU cache (the fine HSV grid has 553k
#: colours; in one piece it runs 2.5x slower). Rows are independent, so the result does not depend on it.
CHUNK = 16384


def encode(model: ColourAutoencoder, rgb: NDArray) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """``(reconstruction, latent)`` of each colour, model in eval mode."""
    model.eval()
    colours = torch.tensor(np.asarray(rgb), dtype=torch.float32)
    with torch.no_grad():
        chunks = [model(colours[start : start + CHUNK]) for start in range(0, max(len(colours), 1), CHUNK)]
    return torch.cat([y for y, _ in chunks]).numpy(), torch.cat([z for _, z in chunks]).numpy()


def per_colour_mse(rgb: NDArray, reconstruction: NDArray) -> NDArray[np.float64]:
    """M4's error: mean squared error over the three channels, per colour."""
    return ((np.asarray(reconstruction, dtype=np.float64) - np.asarray(rgb, dtype=np.float64)) ** 2).mean(axis=-1)


def _rgb(frame: pd.DataFrame) -> NDArray[np.float32]:
    return frame[["r", "g", "b"]].to_numpy(np.float32)


def error_profile(hsv_fine: pd.DataFrame, mse: NDArray) -> pd.DataFrame:
    """Mean and max per-colour MSE at each hue, saturation and value of the fine HSV grid."""
    parts = []
    for axis, column in (("hue", "h"), ("saturation", "s"), ("value", "v")):
        index = hsv_fine[f"{column}_index"].to_numpy()
        counts = np.bincount(index)
        worst = np.full(len(counts), -np.inf)
        np.maximum.at(worst, index, mse)
        parts.append(
            pd.DataFrame(
                {
                    "axis": axis,
                    "position": np.bincount(index, weights=hsv_fine[column].to_numpy()) / counts,
                    "mse_mean": np.bincount(index, weights=mse) / counts,
                    "mse_max": worst,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def evaluate_run(state_dict: Mapping[str, Tensor], grids: Mapping[str, pd.DataFrame]) -> RunEvaluation:
    """Score a model (M1–M5) and capture its latents and M5 tables; ``grids`` holds ``hue_ring``, ``hsv_grid_fine`` and the kept grids."""
    model = load_autoencoder(dict(state_dict))
    fine_rgb = _rgb(grids["hsv_grid_fine"])
    with torch_threads(1):  # one thread per process: parallel runner workers share the cores
        fine_mse = per_colour_mse(fine_rgb, encode(model, fine_rgb)[0])
        control = evaluate_control(model)
    parts = []
    for name in KEPT_GRIDS:
        rgb = _rgb(grids[name])
        reconstruction, latent = encode(model, rgb)
        part = pd.DataFrame(rgb, columns=["r", "g", "b"])
        part[RECONSTRUCTION_COLUMNS] = reconstruction
        part[LATENT_COLUMNS] = latent
        part.insert(0, "index", np.arange(len(rgb)))
        part.insert(0, "grid", name)
        parts.append(part)
    latents = pd.concat(parts, ignore_index=True)
    ring = latents[latents["grid"] == "hue_ring"][LATENT_COLUMNS].to_numpy()
    scores = score_latents(ring[0], ring, fine_mse)
    rgb_fine = latents[latents["grid"] == "rgb_grid_fine"]
    rgb_mse = per_colour_mse(rgb_fine[["r", "g", "b"]].to_numpy(), rgb_fine[RECONSTRUCTION_COLUMNS].to_numpy())
    scores["mse_rgb_median"], scores["mse_rgb_max"] = float(np.median(rgb_mse)), float(np.max(rgb_mse))
    scores.update(control.scores)
    return RunEvaluation(scores, latents, error_profile(grids["hsv_grid_fine"], fine_mse), control.cube, control.named)
