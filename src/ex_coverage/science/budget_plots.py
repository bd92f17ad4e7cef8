"""Heat maps of the label budget map (SPEC §9b): pass rates over red-only × vibrant-only coverage, with each fitted
surface's 0.8 contour, its 95 % band and its cheapest point."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from numpy.typing import NDArray

from ex_coverage.science.budget import CRITERIA, Criterion
from ex_coverage.science.budget_fit import Z95, SurfaceFit, criterion_name
from ex_coverage.science.estimate import LOGIT_TARGET
from ex_coverage.science.plots import _subplots


def cell_positions(coverages: Sequence[float]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Axis positions in decades for ascending coverages: a positive coverage c sits at log10(c), 0 one typical
    grid step (the median spacing of the positive ones, else half a decade) below the smallest positive one.
    Returns (centres, edges); edges lie half-way between centres."""
    values = np.asarray(coverages, dtype=np.float64)
    positive = np.log10(values[values > 0])
    step = float(np.median(np.diff(positive))) if len(positive) > 1 else 0.5
    zero_at = (positive.min() if len(positive) else 0.0) - step
    centres = np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), zero_at)
    if len(centres) == 1:
        return centres, np.array([centres[0] - step / 2, centres[0] + step / 2])
    inner = (centres[1:] + centres[:-1]) / 2
    return centres, np.concatenate([[2 * centres[0] - inner[0]], inner, [2 * centres[-1] - inner[-1]]])


def _coverage_ticks(set_ticks, set_labels, centres: NDArray, coverages: Sequence[float]) -> None:
    set_ticks(centres)
    set_labels(["0" if c == 0 else f"{c:g}" for c in coverages], fontsize=7)


def draw_surface(ax: Any, fit: SurfaceFit, points: int = 121) -> bool:
    """The fitted surface's 0.8 contour (solid) and its pointwise 95 % band (hatched: where the Wald interval of the
    fitted logit contains logit 0.8), over the tested coverages only, and its cheapest point (a star). Heat-map
    axes: vibrant across, red up. Returns whether a contour was drawn."""
    if not fit.coefficients or fit.box is None:
        return False
    reds = np.linspace(*fit.box["x"], points)
    vibrants = np.linspace(*fit.box["y"], points)
    across, up = np.meshgrid(vibrants, reds)
    eta, se = fit.logit(up, across)
    z = (eta - LOGIT_TARGET) / np.maximum(se, 1e-12)
    if not (eta.min() < LOGIT_TARGET < eta.max()):
        return False
    ax.contourf(across, up, np.abs(z), levels=[0, Z95], colors="none", hatches=["////"])
    ax.contour(across, up, z, levels=[-Z95, Z95], colors="white", linewidths=0.9, linestyles="--")
    ax.contour(across, up, eta, levels=[LOGIT_TARGET], colors="white", linewidths=2.2)
    ax.contour(across, up, eta, levels=[LOGIT_TARGET], colors="tab:red", linewidths=1.1)
    if fit.cheapest_red is not None:
        ax.plot(
            np.log10(fit.cheapest_vibrant), np.log10(fit.cheapest_red), marker="*", ms=13, color="tab:red",
            markeredgecolor="white", zorder=5,
        )  # fmt: skip
    return True


def plot_budget_map(
    summary: pd.DataFrame,
    min_pass_rate: float,
    cheapest: Mapping[str, Any] | None,
    criteria: Sequence[Criterion] = CRITERIA,
    surfaces: Mapping[str, SurfaceFit] | None = None,
) -> Figure:
    """One heat map per criterion in ``summary``: pass rate by red-only (up) and vibrant-only (across) coverage.

    Axes are log-spaced with coverage 0 one step below the smallest positive value, set off by a dashed line;
    cells at or above ``min_pass_rate`` print their rate in bold; ``cheapest`` (the cheapest cell reaching it
    for *effective*) is outlined in every panel. Where ``surfaces`` (by :func:`criterion_name`) has the
    criterion's fitted surface, its 0.8 contour, band and cheapest point are drawn (:func:`draw_surface`).
    """
    surfaces = surfaces or {}
    shown = [c for c in criteria if c.rate in summary.columns]
    reds = np.sort(summary["red_coverage"].unique())
    vibrants = np.sort(summary["vibrant_coverage"].unique())
    y, y_edges = cell_positions(reds)
    x, x_edges = cell_positions(vibrants)
    ncols = min(4, len(shown))
    nrows = -(-len(shown) // ncols)
    figure, axes = _subplots(nrows, ncols, figsize=(3.6 * ncols + 1.2, 3.4 * nrows + 0.9), squeeze=False)
    figure.set_layout_engine("constrained")
    mesh = None
    for ax, criterion in zip(axes.ravel(), shown):
        rates = (
            summary.pivot(index="red_coverage", columns="vibrant_coverage", values=criterion.rate)
            .reindex(index=reds, columns=vibrants)
            .to_numpy(dtype=float)
        )
        mesh = ax.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(rates), cmap="viridis", vmin=0, vmax=1)
        for i in range(len(reds)):
            for j in range(len(vibrants)):
                if np.isfinite(rates[i, j]):
                    ax.text(
                        x[j], y[i], f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="black" if rates[i, j] > 0.6 else "white",
                        fontweight="bold" if rates[i, j] >= min_pass_rate else "normal",
                    )  # fmt: skip
        if len(vibrants) > 1 and vibrants[0] == 0:
            ax.axvline(x_edges[1], color="0.45", ls="--", lw=1.4)
        if len(reds) > 1 and reds[0] == 0:
            ax.axhline(y_edges[1], color="0.45", ls="--", lw=1.4)
        if cheapest is not None:
            i = int(np.flatnonzero(reds == cheapest["red_coverage"])[0])
            j = int(np.flatnonzero(vibrants == cheapest["vibrant_coverage"])[0])
            ax.add_patch(
                Rectangle(
                    (x_edges[j], y_edges[i]), x_edges[j + 1] - x_edges[j], y_edges[i + 1] - y_edges[i],
                    fill=False, edgecolor="tab:red", lw=2.5,
                )
            )  # fmt: skip
        fit = surfaces.get(criterion_name(criterion))
        drawn = fit is not None and draw_surface(ax, fit)
        ax.set_title(criterion.title + ("" if fit is None or drawn else "\n(no 0.8 contour in the map)"), fontsize=9)
        ax.set_xlim(x_edges[0], x_edges[-1])
        ax.set_ylim(y_edges[0], y_edges[-1])
        _coverage_ticks(ax.set_xticks, ax.set_xticklabels, x, vibrants)
        _coverage_ticks(ax.set_yticks, ax.set_yticklabels, y, reds)
        ax.tick_params(axis="x", labelrotation=60)
        ax.set_xlabel("vibrant-only coverage", fontsize=8)
        ax.set_ylabel("red-only coverage", fontsize=8)
    for ax in axes.ravel()[len(shown) :]:
        ax.set_visible(False)
    if mesh is not None:
        figure.colorbar(mesh, ax=axes, shrink=0.8, label="pass rate over seeds")
    if cheapest is None:
        headline = f"no cell reaches an effective pass rate of {min_pass_rate:g}"
    else:
        headline = (
            f"cheapest cell with effective pass rate ≥ {min_pass_rate:g} (outlined): red {cheapest['red_coverage']:g}, "
            f"vibrant {cheapest['vibrant_coverage']:g}, ≈ {cheapest['expected_labels']:.0f} labelled samples per run"
        )
    effective = surfaces.get("effective")
    if effective is not None and effective.cheapest_labels is not None:
        low, high = (
            "…" if v is None else f"{v:.0f}" for v in (effective.cheapest_labels_low, effective.cheapest_labels_high)
        )
        headline += (
            f"\nfitted surface (effective): cheapest 0.8 point (star) red {effective.cheapest_red:.2g}, vibrant "
            f"{effective.cheapest_vibrant:.2g}, ≈ {effective.cheapest_labels:.0f} [{low}, {high}] labelled samples per run"
        )
    legend = "; red line: fitted 0.8 contour, hatched: its 95 % band" if surfaces else ""
    figure.suptitle(
        f"Label budget map: pass rates (axes log-spaced; 0 left of / below the dashed lines{legend})\n{headline}",
        fontsize=10,
    )
    return figure
