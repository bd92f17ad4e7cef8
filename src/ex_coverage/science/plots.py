"""Figures: the seed notebook's per-model figures (SPEC §10) and the sweep's summary figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from matplotlib.ticker import LogFormatter

from ex_coverage.science.architecture import LATENT_COLUMNS, RECONSTRUCTION_COLUMNS
from ex_coverage.science.metrics import Thresholds, r_squared

if TYPE_CHECKING:
    from ex_coverage.science.estimate import DoseResponse

#: Latent projections of the seed notebook: (horizontal dim, vertical dim, depth dim).
PROJECTIONS = ((1, 0, 2), (1, 2, 0), (3, 2, 0))
#: (column in the run table, axis label, threshold attributes drawn as lines).
METRIC_PANELS = (
    ("anchor_cos", "M1 anchor alignment cos(z_red, a)", ("anchor_cos_min",)),
    ("offplane_mean", "M2 mean off-plane energy", ("offplane_mean_max",)),
    ("offplane_max", "M2 max off-plane energy", ("offplane_max_max",)),
    ("winding", "M3 winding number", ()),
    ("monotone_fraction", "M3 monotone fraction", ("monotone_fraction_min",)),
    ("sextant_max_dev_deg", "M3 worst sextant deviation (°)", ("sextant_max_dev_deg",)),
    ("mse_median", "M4 median MSE (HSV grid)", ("mse_median_max",)),
    ("mse_max", "M4 max MSE (HSV grid)", ("mse_max_max",)),
    ("suppression_r2", "M5 r² of suppression error vs similarity²", ("suppression_r2_min",)),
    ("ablation_r2", "M5 diagnostic: r² under ablation of dim 0", ()),
)
LOG_METRICS = {"mse_median", "mse_max", "offplane_mean", "offplane_max"}


def _subplots(nrows: int = 1, ncols: int = 1, **kwargs) -> tuple[Figure, Any]:
    """A new figure and its axes, made without pyplot so that no global backend is switched or kept; finish
    the figure with :func:`_laid_out`."""
    figure = Figure(figsize=kwargs.pop("figsize", None))
    return figure, figure.subplots(nrows, ncols, **kwargs)


def _laid_out(figure: Figure) -> Figure:
    """``figure`` with titles, labels and legends fitted once (``tight_layout``), so that it is saved as it is.

    Cheaper than a layout engine, which lays the figure out again at every drawing, or than
    ``bbox_inches="tight"`` at saving, which draws it twice: figures are most of a sweep's reporting time.
    """
    figure.tight_layout()
    return figure


def _log_y(ax) -> None:
    """A log-scaled y axis with plain tick labels (``1e-05``): matplotlib's default ``10⁻⁵`` labels go
    through mathtext, a third of the time of drawing a small figure."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(LogFormatter())
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))


def plot_colour_patches(latents: pd.DataFrame, hsv_coarse: pd.DataFrame, title: str) -> Figure:
    """True vs reconstructed colours on the coarse HSV grid: outer square = reconstruction, inner = truth."""
    grid = latents[latents["grid"] == "hsv_grid_coarse"].reset_index(drop=True)
    hues, sats, vals = (np.unique(hsv_coarse[c]) for c in ("h", "s", "v"))
    shape = (len(vals), len(sats), len(hues), 3)
    truth = grid[["r", "g", "b"]].to_numpy().reshape(shape)
    recon = grid[RECONSTRUCTION_COLUMNS].to_numpy().reshape(shape)
    figure, axes = _subplots(1, len(sats), figsize=(3.2 * len(sats), 2.2), squeeze=False)
    for k, ax in enumerate(axes[0]):
        image = np.repeat(np.repeat(recon[::-1, k], 4, axis=0), 4, axis=1)
        inner = np.repeat(np.repeat(truth[::-1, k], 2, axis=0), 2, axis=1)
        for i in range(2):
            for j in range(2):
                image[1 + i :: 4, 1 + j :: 4] = inner[i::2, j::2]
        ax.imshow(np.clip(image, 0, 1), aspect="auto", interpolation="nearest")
        ax.set_title(f"saturation {sats[k]:.2g}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("hue →", fontsize=8)
    axes[0][0].set_ylabel("value →", fontsize=8)
    figure.suptitle(title, fontsize=10)
    return _laid_out(figure)


def plot_error_profile(profile: pd.DataFrame, title: str) -> Figure:
    """Reconstruction error along hue, saturation and value (mean and max over the other two axes)."""
    figure, axes = _subplots(1, 3, figsize=(12, 3), sharey=True)
    for ax, axis in zip(axes, ("hue", "saturation", "value")):
        part = profile[profile["axis"] == axis]
        ax.plot(part["position"], part["mse_mean"], label="mean")
        ax.plot(part["position"], part["mse_max"], label="max", alpha=0.7)
        _log_y(ax)
        ax.set_xlabel(axis)
    axes[0].set_ylabel("MSE")
    axes[0].legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    return _laid_out(figure)


def splat_points(
    x: np.ndarray, y: np.ndarray, depth: np.ndarray, colours: np.ndarray, size: int = 240, radius: int = 2
) -> np.ndarray:
    """Render points in [-1.1, 1.1]² as discs on an RGBA image, nearer (larger ``depth``) drawn over farther.

    Far faster than a matplotlib scatter of thousands of individually coloured dots.
    """
    image = np.zeros((size, size, 4))
    columns = np.clip(((x + 1.1) / 2.2 * (size - 1)).round().astype(int), 0, size - 1)
    rows = np.clip(((1.1 - y) / 2.2 * (size - 1)).round().astype(int), 0, size - 1)
    order = np.argsort(depth, kind="stable")
    rgba = np.concatenate([colours, np.ones((len(colours), 1))], axis=1)[order]
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dx * dx + dy * dy <= radius * radius + 1:
                r = np.clip(rows[order] + dy, 0, size - 1)
                c = np.clip(columns[order] + dx, 0, size - 1)
                image[r, c] = rgba  # later (nearer) points overwrite earlier ones
    return image


def draw_latent_projection(
    ax, latents: pd.DataFrame, dims: tuple[int, int, int], size: int = 240, radius: int = 2
) -> None:
    """Unit latents on two dims, each dot in its own colour, the near hemisphere (third dim) on top."""
    z = latents[LATENT_COLUMNS].to_numpy()
    colours = latents[["r", "g", "b"]].to_numpy().clip(0, 1)
    image = splat_points(z[:, dims[0]], z[:, dims[1]], z[:, dims[2]], colours, size, radius)
    ax.imshow(image, extent=(-1.1, 1.1, -1.1, 1.1), interpolation="nearest")
    ax.add_patch(Circle((0, 0), 1.0, fill=False, lw=0.6, color="0.6"))
    ax.set_xlim(-1.1, 1.1)
    ax.set_ylim(-1.1, 1.1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_latent_projections(latents: pd.DataFrame, title: str) -> Figure:
    """The fine RGB grid's latents as three 2-D projections of the sphere (dims (1,0), (1,2), (3,2))."""
    rgb = latents[latents["grid"] == "rgb_grid_fine"]
    figure, axes = _subplots(1, len(PROJECTIONS), figsize=(10, 3.6))
    for ax, dims in zip(axes, PROJECTIONS):
        draw_latent_projection(ax, rgb, dims)
        ax.set_title(f"z{dims[0]} → , z{dims[1]} ↑", fontsize=9)
    figure.suptitle(title, fontsize=10)
    return _laid_out(figure)


def plot_latent_overview(latents_by_level: Mapping[float, pd.DataFrame], seed: int) -> Figure:
    """Every coverage level's latent projections side by side (columns = levels, rows = projections)."""
    levels = sorted(latents_by_level)
    figure, axes = _subplots(
        len(PROJECTIONS), len(levels), figsize=(1.9 * len(levels), 1.9 * len(PROJECTIONS)), squeeze=False
    )
    for column, coverage in enumerate(levels):
        rgb = latents_by_level[coverage]
        rgb = rgb[rgb["grid"] == "rgb_grid_fine"]
        for row, dims in enumerate(PROJECTIONS):
            draw_latent_projection(axes[row][column], rgb, dims, size=160, radius=1)
            if row == 0:
                axes[row][column].set_title(f"c = {coverage:g}", fontsize=9)
            if column == 0:
                axes[row][column].set_ylabel(f"z{dims[1]} vs z{dims[0]}", fontsize=8)
    figure.suptitle(f"Latent space across label coverage (seed {seed}; the RGB cube on the unit sphere)", fontsize=11)
    return _laid_out(figure)


def _coverage_positions(coverages: Sequence[float]) -> tuple[np.ndarray, float]:
    """x positions on a log axis: coverage 0 sits a third of the smallest positive level to its left."""
    values = np.asarray(coverages, dtype=float)
    positive = values[values > 0]
    zero_at = positive.min() / 3 if len(positive) else 1e-4
    return np.where(values > 0, values, zero_at), zero_at


def _coverage_axis(ax, levels: Sequence[float], zero_at: float) -> None:
    ax.set_xscale("log")
    ticks, _ = _coverage_positions(levels)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{c:g}" for c in levels], rotation=60, fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel("label coverage c")


def plot_metric_panels(runs: pd.DataFrame, summary: pd.DataFrame, thresholds: Thresholds) -> Figure:
    """One panel per metric against coverage: per-seed points, median line, IQR band, pass threshold."""
    panels = [panel for panel in METRIC_PANELS if panel[0] in runs]
    ncols = 5
    nrows = -(-len(panels) // ncols)
    figure, axes = _subplots(nrows, ncols, figsize=(4 * ncols, 3.75 * nrows), squeeze=False)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    levels = summary["coverage"].to_numpy()
    level_x, zero_at = _coverage_positions(levels)
    run_x, _ = _coverage_positions(runs["coverage"])
    run_x = run_x * np.exp(np.random.default_rng(0).uniform(-0.08, 0.08, len(runs)))  # jitter seeds apart
    for ax, (column, label, limits) in zip(axes.ravel(), panels):
        ax.scatter(
            run_x,
            runs[column],
            s=12,
            alpha=0.6,
            c=np.where(runs["effective"], "tab:green", "tab:red"),
            label="runs (green = effective)",
        )
        ax.plot(level_x, summary[f"{column}_median"], color="k", lw=1.5, label="median")
        ax.fill_between(level_x, summary[f"{column}_q1"], summary[f"{column}_q3"], color="0.5", alpha=0.25, label="IQR")
        for attribute in limits:
            ax.axhline(getattr(thresholds, attribute), color="tab:blue", ls="--", lw=1, label="threshold")
        if column == "winding":
            for w in (-thresholds.winding, thresholds.winding):
                ax.axhline(w, color="tab:blue", ls="--", lw=1)
        if column in LOG_METRICS:
            _log_y(ax)
        _coverage_axis(ax, levels, zero_at)
        ax.set_title(label, fontsize=9)
    axes[0][0].legend(fontsize=7)
    figure.suptitle("Latent-structure (M1–M4) and control (M5) metrics against label coverage", fontsize=12)
    return _laid_out(figure)


def plot_pass_rate(
    summary: pd.DataFrame, min_pass_rate: float, critical: float | None, fit: DoseResponse | None = None
) -> Figure:
    """Fraction of effective runs per level with Wilson 95 % intervals, the required rate and c*; with a fit,
    the fitted curve, its pointwise 95 % band, and ED80 / the upper edge with their profile intervals."""
    figure, ax = _subplots(figsize=(8, 4.5))
    grid = summary[summary["grid_level"]] if "grid_level" in summary else summary
    added = summary[~summary["grid_level"]] if "grid_level" in summary else summary.iloc[:0]
    levels = grid["coverage"].to_numpy()
    _, zero_at = _coverage_positions(levels)
    px = np.where(grid["coverage"] > 0, grid["coverage"], zero_at)
    rate = grid["pass_rate"].to_numpy()
    errors = np.stack([rate - grid["pass_rate_low"], grid["pass_rate_high"] - rate])
    ax.errorbar(px, rate, yerr=errors, fmt="o-", capsize=4, label="effective (Wilson 95 %)")
    if len(added):  # levels added by refinement: few seeds each, so points only
        ax.plot(added["coverage"], added["pass_rate"], "s", color="0.45", ms=4, alpha=0.7, label="refinement levels")
    for name, style in (("structured", "s--"), ("controllable", "^:")):
        if f"{name}_rate" in grid:
            ax.plot(px, grid[f"{name}_rate"], style, alpha=0.7, label=name)
    ax.axhline(min_pass_rate, color="tab:blue", ls="--", label=f"required {min_pass_rate:g}")
    if critical is not None:
        ax.axvline(
            _coverage_positions([critical])[0][0] if critical > 0 else zero_at,
            color="tab:green",
            label=f"c* = {critical:g}",
        )
    if fit is not None and fit.coefficients:
        positive = summary["coverage"][summary["coverage"] > 0]
        xs = np.linspace(np.log10(positive.min()), np.log10(positive.max()), 200)
        low, high = fit.band(xs)
        ax.plot(10**xs, fit.probability(xs), color="k", lw=1.5, label=f"fitted ({fit.model} logistic)")
        ax.fill_between(10**xs, low, high, color="k", alpha=0.12, label="95 % band")
        for crossing, name, colour in ((fit.ed80, "ED80", "tab:purple"), (fit.upper, "upper edge", "tab:orange")):
            if crossing is None:
                continue
            lo, hi = crossing.coverage_interval()
            ax.axvline(crossing.coverage, color=colour, lw=1.5, label=f"{name} = {crossing.coverage:.3g}")
            ax.axvspan(
                lo if lo is not None else 10 ** xs[0] / 10,
                hi if hi is not None else 1.0,
                color=colour,
                alpha=0.12,
                label=f"{name} 95 % interval",
            )
    _coverage_axis(ax, levels, zero_at)
    ax.set_xlim(zero_at / 1.5, max(levels.max(), *(added["coverage"] if len(added) else [0])) * 1.5)
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("fraction of seeds passing")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title("Effective (structured and controllable) runs against label coverage")
    return _laid_out(figure)


def plot_suppression(cube: pd.DataFrame, title: str) -> Figure:
    """M5 for one model: per-colour error under suppression and under ablation against similarity to red.

    ``cube`` is a table of the evaluation cube with ``r, g, b, similarity, target`` and ``mse_<intervention>``
    columns; each dot is drawn in its own colour, the line is the least-squares fit of error on ``sim²``.
    """
    panels = [(c, label) for c, label in (("mse_suppressed", "suppression"), ("mse_ablated", "ablation")) if c in cube]
    figure, axes = _subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    colours = cube[["r", "g", "b"]].to_numpy().clip(0, 1)
    sim, target = cube["similarity"].to_numpy(), cube["target"].to_numpy()
    order = np.argsort(sim)
    for ax, (column, label) in zip(axes[0], panels):
        error = cube[column].to_numpy()
        ax.scatter(sim, error, c=colours, s=14, edgecolors="0.3", linewidths=0.3)
        slope, intercept = np.polyfit(target, error, 1) if np.ptp(target) > 0 else (0.0, float(error.mean()))
        fit = slope * target[order] + intercept
        ax.plot(sim[order], fit, color="k", lw=1, label=f"fit on sim², r² = {r_squared(error, target):.3f}")
        ax.set_xlabel("similarity to red")
        ax.set_ylabel(f"MSE under {label}")
        ax.set_title(f"{label} of the anchor direction", fontsize=9)
        ax.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    return _laid_out(figure)


def plot_named_colour_deltas(
    table: pd.DataFrame, colour_order: Sequence[str], colours: np.ndarray, title: str
) -> Figure:
    """ΔMSE under suppression per named colour: a bar per colour (median over seeds), each seed a dot."""
    figure, ax = _subplots(figsize=(10, 3.8))
    x = np.arange(len(colour_order))
    by_colour = table.groupby("colour")["delta"]
    medians = by_colour.median().reindex(colour_order).to_numpy()
    ax.bar(x, medians, color=np.clip(colours, 0, 1), edgecolor="0.3", linewidth=0.6, label="median over seeds")
    for i, name in enumerate(colour_order):
        values = table.loc[table["colour"] == name, "delta"].to_numpy()
        ax.scatter(np.full(len(values), i), values, s=10, color="k", zorder=3)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(colour_order, rotation=50, ha="right", fontsize=8)
    ax.set_ylabel("ΔMSE (suppressed − none)")
    ax.set_title(title, fontsize=10)
    return _laid_out(figure)


#: Past this many seeds a level's overview draws the median and a band, with a few seeds named.
MAX_SEEDS_DRAWN = 6
#: Seeds named in a crowded overview: at most this many.
NAMED_SEEDS = 3


def _named_seeds(seeds: Sequence[int], final_loss: Mapping[int, float]) -> list[int]:
    """The seeds a crowded overview names: the lowest, median and highest final loss (best, typical, worst)."""
    order = sorted(seeds, key=lambda s: (final_loss.get(s, np.inf), s))
    picks = [order[0], order[len(order) // 2], order[-1]]
    return list(dict.fromkeys(picks))[:NAMED_SEEDS]


def _median_band(ax, x: np.ndarray, curves: np.ndarray, label: str) -> None:
    """Median over seeds (rows of ``curves``) and the band between the 10th and 90th percentiles."""
    low, median, high = np.nanpercentile(curves, [10, 50, 90], axis=0)
    ax.fill_between(x, low, high, color="0.5", alpha=0.3, lw=0, label=f"10–90 % of {len(curves)} seeds")
    ax.plot(x, median, color="k", lw=1.2, label=f"median ({label})", zorder=4)


def plot_level_seeds(
    histories: Mapping[int, pd.DataFrame],
    latents: Mapping[int, pd.DataFrame],
    profiles: Mapping[int, pd.DataFrame],
    title: str,
    suppression: Mapping[int, pd.DataFrame] | None = None,
) -> Figure:
    """Every seed of one level: total training loss, the hue ring in the (z0, z1) plane, error along hue, and
    (with ``suppression``, the M5 cube tables) the error under suppression against similarity to red.

    Up to :data:`MAX_SEEDS_DRAWN` seeds each get a line and a legend entry. Past that (the ``large`` environment's
    60 seeds) the loss and hue-error panels show the median and a 10–90 % band over seeds, the rings and M5 clouds
    are drawn faintly together, and three seeds (best, median and worst final loss) are drawn and named."""
    panels = 4 if suppression else 3
    figure, axes = _subplots(1, panels, figsize=(4.4 * panels, 3.6))
    loss_ax, ring_ax, hue_ax = axes[:3]
    seeds = sorted(histories)
    crowded = len(seeds) > MAX_SEEDS_DRAWN
    final = {s: float(histories[s]["loss_total"].to_numpy()[-1]) for s in seeds}
    named = _named_seeds(seeds, final) if crowded else seeds
    colours = {s: f"C{i}" for i, s in enumerate(named)}
    if crowded:
        length = max(len(histories[s]) for s in seeds)
        curves = np.full((len(seeds), length), np.nan)
        for i, s in enumerate(seeds):
            values = histories[s]["loss_total"].to_numpy()
            curves[i, : len(values)] = values
        _median_band(loss_ax, np.arange(length), curves, "total loss")
    for seed in named:  # crowded: faint, so that the median and band stay readable under the noisy curves
        loss_ax.plot(
            histories[seed]["loss_total"].to_numpy(), lw=0.6 if crowded else 0.8, alpha=0.45 if crowded else 1.0,
            color=colours[seed], label=f"seed {seed}",
        )  # fmt: skip
    _log_y(loss_ax)
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("total loss")
    loss_ax.legend(fontsize=7)
    for seed in sorted(latents):
        ring = latents[seed][latents[seed]["grid"] == "hue_ring"]
        if seed in colours:
            ring_ax.plot(ring["z0"], ring["z1"], lw=0.9, color=colours[seed], label=f"seed {seed}", zorder=3)
        else:
            ring_ax.plot(ring["z0"], ring["z1"], lw=0.5, color="0.55", alpha=0.35)
        ring_ax.plot(ring["z0"].iloc[:1], ring["z1"].iloc[:1], "o", color="red", ms=4 if seed in colours else 2)
    ring_ax.add_patch(Circle((0, 0), 1.0, fill=False, lw=0.6, color="0.6"))
    ring_ax.set_xlim(-1.1, 1.1)
    ring_ax.set_ylim(-1.1, 1.1)
    ring_ax.set_aspect("equal")
    ring_ax.set_xlabel("z0")
    ring_ax.set_ylabel("z1")
    others = f"; grey: the other {len(latents) - len(named)} seeds" if crowded else ""
    ring_ax.set_title(f"hue ring (red dot = pure red{others})", fontsize=9)
    hues = {s: profiles[s][profiles[s]["axis"] == "hue"] for s in sorted(profiles)}
    if crowded and hues:
        position = next(iter(hues.values()))["position"].to_numpy()
        same = [h["mse_mean"].to_numpy() for h in hues.values() if len(h) == len(position)]
        _median_band(hue_ax, position, np.asarray(same), "mean MSE")
    for seed in named:
        if seed in hues:
            hue_ax.plot(
                hues[seed]["position"], hues[seed]["mse_mean"], lw=0.8, color=colours[seed], label=f"seed {seed}"
            )
    _log_y(hue_ax)
    hue_ax.set_xlabel("hue")
    hue_ax.set_ylabel("mean MSE")
    if crowded:
        hue_ax.legend(fontsize=7)
    if suppression:
        m5_ax = axes[3]
        r2 = {
            s: r_squared(suppression[s]["mse_suppressed"].to_numpy(), suppression[s]["target"].to_numpy())
            for s in sorted(suppression)
        }
        for seed in sorted(suppression):
            if seed in colours:
                continue
            cube = suppression[seed]
            m5_ax.scatter(cube["similarity"], cube["mse_suppressed"], s=2, alpha=0.15, color="0.5", lw=0)
        for seed in named:
            if seed in suppression:
                cube = suppression[seed]
                m5_ax.scatter(
                    cube["similarity"], cube["mse_suppressed"], s=4, alpha=0.6, color=colours[seed],
                    label=f"seed {seed}: r² {r2[seed]:.2f}",
                )  # fmt: skip
        m5_ax.set_xlabel("similarity to red")
        m5_ax.set_ylabel("MSE under suppression")
        values = np.array(list(r2.values()))
        summary = f"; r² median {np.median(values):.2f}, range {values.min():.2f}–{values.max():.2f}" if crowded else ""
        m5_ax.set_title(f"M5: suppressing the anchor{summary}", fontsize=9)
        m5_ax.legend(fontsize=7)
    figure.suptitle(
        title + (f" · {len(seeds)} seeds: median and 10–90 % band, 3 named" if crowded else ""), fontsize=10
    )
    return _laid_out(figure)
