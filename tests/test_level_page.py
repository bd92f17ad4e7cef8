"""A coverage level's page: its seeds' scores, further per-level tables and links to its figures."""

from __future__ import annotations

import pandas as pd
import pytest

from ex_coverage.pipelines.reporting.nodes import select_overview_latents, write_level_report


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


def test_overview_latents_keep_the_fine_rgb_cube_of_one_run():
    latents = pd.DataFrame({"grid": ["hue_ring", "rgb_grid_fine", "rgb_grid_fine"], "z0": [1.0, 0.5, 0.25]})
    overview = select_overview_latents(latents, {"coverage": 0.002, "seed": 3})
    assert overview["z0"].tolist() == [0.5, 0.25]
    assert set(overview["coverage"]) == {0.002} and set(overview["seed"]) == {3}
