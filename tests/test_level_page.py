"""A coverage level's page: its seeds' scores, further per-level tables and links to its figures; the index of
the level pages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ex_coverage.pipelines.reporting.nodes import select_overview_latents, write_level_index, write_level_report


def test_level_page_lists_seeds_tables_and_figures():
    scores = pd.DataFrame(
        {"coverage": [0.1, 0.1], "seed": [1, 0], "multiplier": [2.5, 2.5], "labelled_red": [3, 4],
         "anchor_cos": [0.9, 0.95], "fingerprint": ["a", "b"]}
    )  # fmt: skip
    deltas = pd.DataFrame({"colour": ["red", "green"], "delta_mse": [0.125, 0.0]})
    page = write_level_report(
        scores, deltas, b"png", level="coverage_0p1", coverage=0.1,
        table_names=("named_colour_deltas",), figure_kinds=("seeds",),
    )  # fmt: skip
    assert page.startswith("# Coverage 0.1 (`coverage_0p1`)")
    assert "2 seeds, label multiplier 2.5." in page
    assert "| seed | anchor_cos |\n|---|---|\n| 0 | 0.95 |\n| 1 | 0.9 |" in page  # sorted; run details left out
    assert "## Named colour deltas\n\n| colour | delta_mse |\n|---|---|\n| red | 0.125 |\n| green | 0 |" in page
    assert page.rstrip().endswith("![seeds](coverage_0p1_seeds.png)")
    with pytest.raises(ValueError, match="expected 1 tables and 1 figures"):
        write_level_report(scores, b"png", level="x", coverage=0.1, table_names=("t",), figure_kinds=("seeds",))


def test_level_index_links_every_page_lowest_coverage_first():
    scores = pd.DataFrame({"coverage": [0.01], "seed": [0], "multiplier": [6.5]})
    pages = [
        write_level_report(scores, level=level, coverage=coverage, figure_kinds=())
        for level, coverage in (("coverage_0p01", 0.01), ("coverage_0", 0.0))
    ]
    index = write_level_index(*pages, levels={"coverage_0p01": 0.01, "coverage_0": 0.0})
    assert index.splitlines()[-2:] == [
        "| 0 | [coverage_0](coverage_0.md) | 1 seed, label multiplier 6.5 |",
        "| 0.01 | [coverage_0p01](coverage_0p01.md) | 1 seed, label multiplier 6.5 |",
    ]
    with pytest.raises(ValueError, match="expected 2 level pages, got 1"):
        write_level_index(pages[0], levels={"coverage_0p01": 0.01, "coverage_0": 0.0})


def test_overview_latents_keep_the_fine_rgb_cube_of_one_run():
    latents = pd.DataFrame({"grid": ["hue_ring", "rgb_grid_fine", "rgb_grid_fine"], "z0": [1.0, 0.5, 0.25]})
    overview = select_overview_latents(latents, {"coverage": 0.002, "seed": 3})
    assert overview["z0"].tolist() == [0.5, 0.25]
    assert set(overview["coverage"]) == {0.002} and set(overview["seed"]) == {3}


def _seed_frames(seeds):
    rng = np.random.default_rng(0)
    angle = np.linspace(0, 2 * np.pi, 60)
    histories, latents, profiles, suppression = {}, {}, {}, {}
    for s in seeds:
        histories[s] = pd.DataFrame({"loss_total": np.exp(-np.linspace(0, 8, 200) + rng.normal(0, 0.3, 200))})
        latents[s] = pd.DataFrame(
            {"grid": "hue_ring", "z0": np.cos(angle), "z1": np.sin(angle) * (0.9 + 0.1 * rng.random())}
        )
        profiles[s] = pd.DataFrame(
            {"axis": "hue", "position": np.linspace(0, 1, 24), "mse_mean": 1e-4 * rng.random(24)}
        )
        similarity = rng.random(50)
        suppression[s] = pd.DataFrame(
            {
                "similarity": similarity,
                "target": similarity**2,
                "mse_suppressed": similarity**2 + rng.normal(0, 0.01, 50),
            }
        )
    return histories, latents, profiles, suppression


@pytest.mark.parametrize("seeds, entries", [(5, 5), (60, 3)])
def test_seed_overview_stays_legible_with_many_seeds(seeds, entries):
    """Past a handful of seeds the overview draws a median and band with three named seeds, not 60 legend entries
    (and matplotlib can lay it out: no warning)."""
    import warnings

    from ex_coverage.science.plots import plot_level_seeds

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = plot_level_seeds(*_seed_frames(range(seeds))[:3], "All seeds", _seed_frames(range(seeds))[3])
    loss_ax, _, _, m5_ax = figure.axes
    named = [t.get_text() for t in loss_ax.get_legend().get_texts() if t.get_text().startswith("seed")]
    assert len(named) == entries
    assert len([t for t in m5_ax.get_legend().get_texts()]) == entries
    if seeds > 5:
        labels = [t.get_text() for t in loss_ax.get_legend().get_texts()]
        assert "10–90 % of 60 seeds" in labels and "median (total loss)" in labels
