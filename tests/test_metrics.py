import numpy as np
import pandas as pd
import pytest

from ex_coverage.science.metrics import (
    Thresholds,
    critical_coverage,
    passes,
    score_latents,
    summarise_levels,
    wheel_order,
    wilson_interval,
)

HUES = np.arange(360) / 360
GOOD_MSE = np.full(100, 5e-5)


def ring(angles, offplane=0.0):
    z = np.stack([np.cos(angles), np.sin(angles), np.full_like(angles, offplane), np.zeros_like(angles)], axis=-1)
    return z / np.linalg.norm(z, axis=-1, keepdims=True)


def verdict(z_ring, mse=GOOD_MSE):
    return passes({**score_latents(z_ring[0], z_ring, mse), "suppression_r2": 1.0}, Thresholds())


def test_perfect_wheel_passes_everything():
    z = ring(2 * np.pi * HUES)
    scores = score_latents(z[0], z, GOOD_MSE)
    assert scores["anchor_cos"] == pytest.approx(1.0)
    assert scores["offplane_max"] == pytest.approx(0.0)
    assert scores["winding"] == pytest.approx(1.0)
    assert scores["monotone_fraction"] == 1.0
    assert scores["sextant_max_dev_deg"] == pytest.approx(0.0, abs=1e-9)
    assert verdict(z)["effective"]


def test_mirrored_wheel_passes():
    z = ring(-2 * np.pi * HUES)
    assert wheel_order(z)["winding"] == pytest.approx(-1.0)
    assert verdict(z)["effective"]


def test_folded_ring_fails_m3_only():
    folded = 2 * np.pi * np.where(HUES < 0.5, HUES, 1 - HUES) * 0.9
    result = verdict(ring(folded))
    assert result["pass_m1"] and result["pass_m2"] and not result["pass_m3"]
    assert wheel_order(ring(folded))["winding"] == pytest.approx(0.0, abs=1e-9)


def test_wheel_with_a_sextant_out_of_place_fails_m3():
    warped = 2 * np.pi * HUES**1.6  # monotone and winding once, but green sits far from 120°
    result = wheel_order(ring(warped))
    assert result["winding"] == pytest.approx(1.0) and result["monotone_fraction"] == 1.0
    assert result["sextant_max_dev_deg"] > 30
    assert not verdict(ring(warped))["pass_m3"]


def test_random_latent_fails_m1_and_m2():
    z = np.random.default_rng(0).normal(size=(360, 4))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    z[0] = [0.0, 0.6, 0.8, 0.0]  # red lands off the anchor
    result = verdict(z)
    assert not result["pass_m1"] and not result["pass_m2"] and not result["effective"]
    assert score_latents(z[0], z, GOOD_MSE)["offplane_mean"] == pytest.approx(0.5, abs=0.08)


@pytest.mark.parametrize(
    ("mean", "peak", "passes_m2"),
    [(0.05, 0.2, True), (0.05, 0.3, False), (0.12, 0.2, False), (0.12, 0.3, False), (0.10, 0.25, True)],
)
def test_m2_needs_both_the_mean_and_the_peak_off_plane_energy_under_their_thresholds(mean, peak, passes_m2):
    """SPEC §8 M2: mean ≤ 0.10 *and* max ≤ 0.25 (a ring flat on average with one colour far off the plane fails)."""
    z = ring(2 * np.pi * HUES)
    scores = {**score_latents(z[0], z, GOOD_MSE), "suppression_r2": 1.0, "offplane_mean": mean, "offplane_max": peak}
    result = passes(scores, Thresholds())
    assert result["pass_m2"] is passes_m2 and result["structured"] is passes_m2


def test_poor_reconstruction_fails_m4():
    result = verdict(ring(2 * np.pi * HUES), mse=np.full(100, 2e-4))
    assert result["pass_m1"] and not result["pass_m4"] and not result["effective"]


@pytest.mark.parametrize(
    "k, n, low, high",
    [(0, 5, 0.0, 0.4345), (5, 5, 0.5655, 1.0), (1, 10, 0.0179, 0.4042), (3, 5, 0.2307, 0.8824)],
)
def test_wilson_interval_known_values(k, n, low, high):
    assert wilson_interval(k, n) == pytest.approx((low, high), abs=1e-4)


LEVELS = [0, 0.001, 0.002, 0.005, 0.01, 0.02]


def test_critical_coverage_clean_threshold():
    answer = critical_coverage(LEVELS, [0, 0, 0.2, 0.8, 1, 1], 0.8, 1501 * 64)
    assert (answer.coverage, answer.last_failing) == (0.005, 0.002)
    assert answer.expected_labels == pytest.approx(0.005 * 1501 * 64)
    assert answer.upper == 0.02 and answer.first_failing_above is None and answer.upper_beyond_grid


def test_critical_coverage_takes_the_longest_window_and_its_upper_edge():
    # an isolated success at 0.001, then the window 0.005–0.01 closed by a failure at 0.02 (SPEC §9)
    answer = critical_coverage(LEVELS, [0, 1.0, 0.4, 0.8, 1, 0.6], 0.8, 100)
    assert (answer.coverage, answer.last_failing) == (0.005, 0.002)
    assert (answer.upper, answer.first_failing_above, answer.upper_beyond_grid) == (0.01, 0.02, False)


def test_critical_coverage_ties_go_to_the_lowest_window():
    answer = critical_coverage(LEVELS, [0, 1.0, 0.4, 0.8, 0.2, 0.9], 0.8, 100)
    assert (answer.coverage, answer.last_failing, answer.upper) == (0.001, 0, 0.001)


def test_critical_coverage_when_no_level_qualifies():
    answer = critical_coverage(LEVELS, [0, 0, 0.2, 0.6, 0.4, 0.6], 0.8, 100)
    assert answer.coverage is None and answer.last_failing == 0.02 and answer.upper is None


def test_critical_coverage_when_every_level_qualifies():
    answer = critical_coverage(LEVELS, [1.0] * 6, 0.8, 100)
    assert answer.coverage == 0 and answer.last_failing is None and answer.upper_beyond_grid


def test_summary_pass_rates_and_quartiles():
    runs = pd.DataFrame(
        {
            "coverage": [0.1] * 4 + [0.2] * 2,
            "effective": [True, False, False, False, True, True],
            "realised_coverage": 0.1,
            "m": [1, 2, 3, 4, 5, 5],
        }
    )
    summary = summarise_levels(runs, ["m"])
    assert list(summary["pass_rate"]) == [0.25, 1.0]
    assert summary.loc[0, "m_median"] == 2.5 and summary.loc[0, "m_q1"] == 1.75 and summary.loc[0, "m_q3"] == 3.25
    assert summary.loc[1, "pass_rate_low"] == pytest.approx(wilson_interval(2, 2)[0])


def test_unknown_threshold_key_is_refused():
    with pytest.raises(
        ValueError,
        match=r"parameters_reporting\.yml: unknown key reporting\.thresholds\.anchor_cos \(allowed: anchor_cos_min,",
    ):
        Thresholds.from_params({"anchor_cos": 0.9})


def test_metric_names_come_from_one_definition():
    """Scores, the run table, the level summary and the metric figure all use METRIC_COLUMNS by name."""
    from ex_coverage.pipelines.reporting.nodes import RUN_COLUMNS, summarise_sweep
    from ex_coverage.science.metrics import METRIC_COLUMNS, METRICS
    from ex_coverage.science.plots import METRIC_PANELS

    z = ring(2 * np.pi * HUES)
    scores = {**score_latents(z[0], z, GOOD_MSE), "suppression_r2": 0.95, "ablation_r2": 0.5}  # M5 from control.py
    assert list(scores) == list(METRIC_COLUMNS)
    assert [column for column, _, _ in METRIC_PANELS] == list(METRIC_COLUMNS)
    assert set(METRIC_COLUMNS) <= set(RUN_COLUMNS)
    assert [f"pass_{criterion}" for criterion in METRICS] == [
        k for k in passes(scores, Thresholds()) if k.startswith("pass_")
    ]
    runs = pd.DataFrame(
        [
            {
                "coverage": 0.0,
                "seed": s,
                "realised_coverage": 0.0,
                "effective": True,
                **scores,
            }
            for s in range(3)
        ]
    )
    runs = runs[list(reversed(runs.columns))]  # column positions must not matter
    summary = summarise_sweep(runs)
    assert summary["anchor_cos_median"].iloc[0] == pytest.approx(1.0)
    assert {f"{m}_{q}" for m in METRIC_COLUMNS for q in ("median", "q1", "q3")} <= set(summary.columns)


def test_summary_rates_of_every_classification():
    runs = pd.DataFrame(
        {
            "coverage": [0.1] * 4,
            "structured": [True, True, True, False],
            "controllable": [True, False, False, False],
            "effective": [True, False, False, False],
            "realised_coverage": 0.1,
        }
    )
    row = summarise_levels(runs, []).iloc[0]
    assert (row["structured_runs"], row["structured_rate"], row["controllable_rate"]) == (3, 0.75, 0.25)
    assert (row["structured_rate_low"], row["structured_rate_high"]) == pytest.approx(wilson_interval(3, 4))
    assert row["pass_rate"] == 0.25 and "effective_rate" not in row
