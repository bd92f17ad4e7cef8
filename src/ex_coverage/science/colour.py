"""Colour grids and the label shape functions of the experiment (SPEC §2, §8, §10).

Every grid is an ``(N, 3)`` float32 array of RGB colours in [0, 1].
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.floating]


def rgb_grid(steps: int) -> NDArray[np.float32]:
    """All colours of an RGB cube with ``steps`` evenly spaced values per channel.

    Red varies slowest and blue fastest: row ``i`` is ``(r[i // steps²], g[i // steps % steps], b[i % steps])``.
    """
    axis = np.linspace(0.0, 1.0, steps)
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.stack([r.ravel(), g.ravel(), b.ravel()], axis=-1).astype(np.float32)


def hsv_to_rgb(hsv: FloatArray) -> NDArray[np.float64]:
    """Convert ``(..., 3)`` HSV colours (each component in [0, 1], hue cyclic) to RGB."""
    h = np.mod(hsv[..., 0], 1.0) * 6.0
    s, v = hsv[..., 1], hsv[..., 2]
    sector = np.floor(h).astype(int) % 6
    f = h - np.floor(h)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    choices = [np.stack(c, axis=-1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))]
    return np.select([(sector == k)[..., None] for k in range(6)], choices)


def hsv_grid(
    hues: FloatArray, saturations: FloatArray, values: FloatArray
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """RGB colours of every (hue, saturation, value) combination, hue fastest.

    Returns ``(rgb, hsv)``, both ``(len(values) * len(saturations) * len(hues), 3)``:
    row order is value-major, then saturation, then hue.
    """
    v, s, h = np.meshgrid(values, saturations, hues, indexing="ij")
    hsv = np.stack([h.ravel(), s.ravel(), v.ravel()], axis=-1)
    return hsv_to_rgb(hsv).astype(np.float32), hsv.astype(np.float32)


def hue_ring(n_hues: int = 360) -> NDArray[np.float32]:
    """Fully saturated, full-value colours at ``n_hues`` evenly spaced hues, starting at red."""
    rgb, _ = hsv_grid(np.arange(n_hues) / n_hues, np.array([1.0]), np.array([1.0]))
    return rgb


def redness(rgb: FloatArray) -> NDArray[np.float64]:
    """``r · (1 − g/2 − b/2)``: 1 only for pure red, 0 for anything without red."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return rgb[..., 0] * (1.0 - rgb[..., 1] / 2.0 - rgb[..., 2] / 2.0)


def vibrancy(rgb: FloatArray) -> NDArray[np.float64]:
    """HSV saturation × value, which equals ``max(r, g, b) − min(r, g, b)``."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return rgb.max(axis=-1) - rgb.min(axis=-1)


LABEL_SHAPES = {"redness": redness, "vibrancy": vibrancy}

#: The 12 named hues at 30° steps (s = v = 1), starting at red.
NAMED_HUES = (
    "red", "orange", "yellow", "chartreuse", "green", "spring green",
    "cyan", "azure", "blue", "violet", "magenta", "rose",
)  # fmt: skip
#: The values of the 5 named greys (s = 0).
GREY_VALUES = (0.0, 0.25, 0.5, 0.75, 1.0)


@cache
def named_colours() -> tuple[tuple[str, ...], NDArray[np.float32]]:
    """Names and RGB of the 12 named hues (s = v = 1) and the 5 greys ``grey v=<v>``."""
    hues = hsv_to_rgb(np.stack([np.arange(12) / 12, np.ones(12), np.ones(12)], axis=-1))
    greys = np.repeat(np.asarray(GREY_VALUES)[:, None], 3, axis=1)
    names = NAMED_HUES + tuple(f"grey v={v:g}" for v in GREY_VALUES)
    rgb = np.concatenate([hues, greys]).astype(np.float32)
    rgb.flags.writeable = False
    return names, rgb


def rgb_to_hsv(rgb: FloatArray) -> NDArray[np.float64]:
    """Convert ``(..., 3)`` RGB colours in [0, 1] to HSV in [0, 1] (the usual conversion, as :mod:`colorsys`).

    Greys get hue 0 and saturation 0; black gets saturation 0.
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(axis=-1)
    span = v - rgb.min(axis=-1)
    s = np.divide(span, v, out=np.zeros_like(v), where=v > 0)
    safe = np.where(span > 0, span, 1.0)
    h = np.select(
        [span == 0, v == r, v == g],
        [0.0, (g - b) / safe, 2.0 + (b - r) / safe],
        4.0 + (r - g) / safe,
    )
    return np.stack([np.mod(h / 6.0, 1.0), s, v], axis=-1)
