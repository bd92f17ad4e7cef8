"""Nodes that build the colour grids (SPEC §2, §8, §10)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ex_coverage.science.colour import LABEL_SHAPES, hsv_grid, hue_ring, rgb_grid
from ex_coverage.science.labels import base_label_probabilities
from ex_coverage.science.schedule import Schedule, schedule_from_table


def _rgb_frame(rgb: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"r": rgb[:, 0], "g": rgb[:, 1], "b": rgb[:, 2]})


def make_training_grid(grids: dict[str, Any], labels: dict[str, Any]) -> pd.DataFrame:
    """The RGB training cube with each label's shape value and its probability at multiplier 1.

    Columns: ``r, g, b`` and, per label, ``<label>_shape`` and ``<label>_base_probability``.
    """
    rgb = rgb_grid(grids["training_steps"])
    frame = _rgb_frame(rgb)
    for name, probability in base_label_probabilities(rgb, labels).items():
        frame[f"{name}_shape"] = LABEL_SHAPES[labels[name]["shape"]](rgb)
        frame[f"{name}_base_probability"] = probability
    return frame


def make_validation_grid(grids: dict[str, Any], labels: dict[str, Any]) -> pd.DataFrame:
    """The small RGB validation cube with exact labels: a label is on where its shape equals 1."""
    rgb = rgb_grid(grids["validation_steps"])
    frame = _rgb_frame(rgb)
    for name, spec in labels.items():
        frame[name] = np.isclose(LABEL_SHAPES[spec["shape"]](rgb), 1.0)
    return frame


def make_hsv_grid(spec: dict[str, int]) -> pd.DataFrame:
    """An HSV grid (hues ``arange(0, 1, 1/n)``, saturations and values ``linspace(0, 1, n)``).

    Columns: ``r, g, b``, ``h, s, v`` and each colour's position on the three axes, ``h_index, s_index, v_index``.
    """
    n_h, n_s, n_v = spec["hues"], spec["saturations"], spec["values"]
    rgb, hsv = hsv_grid(np.arange(n_h) / n_h, np.linspace(0, 1, n_s), np.linspace(0, 1, n_v))
    frame = _rgb_frame(rgb)
    frame["h"], frame["s"], frame["v"] = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    v_index, s_index, h_index = np.unravel_index(np.arange(len(frame)), (n_v, n_s, n_h))
    frame["h_index"], frame["s_index"], frame["v_index"] = h_index, s_index, v_index
    return frame


def make_hue_ring(grids: dict[str, Any]) -> pd.DataFrame:
    """Fully saturated colours at evenly spaced hues from red, for the latent-structure metrics."""
    n = grids["hue_ring_hues"]
    frame = _rgb_frame(hue_ring(n))
    frame.insert(0, "h", np.arange(n) / n)
    return frame


def make_rgb_evaluation_grid(grids: dict[str, Any]) -> pd.DataFrame:
    """The fine RGB cube whose latents are plotted."""
    return _rgb_frame(rgb_grid(grids["rgb_fine_steps"]))


def resolve_schedule(dopesheet: pd.DataFrame, source: str = "dopesheet") -> Schedule:
    """The dopesheet (its keyframes, cells as text) parsed, checked and resolved to one row per training step
    (learning rate, regularizer weights, phase), with the table's SHA-256 for run records.

    A malformed dopesheet raises, naming ``source``, the row and the column; the project hook calls this function
    with the file's path before anything runs (also when ``--only-missing-outputs`` skips this node)."""
    return schedule_from_table(dopesheet, source)
