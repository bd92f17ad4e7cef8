import numpy as np
import pytest

from ex_coverage.science.colour import hsv_grid, hsv_to_rgb, hue_ring, redness, rgb_grid, vibrancy
from ex_coverage.science.labels import (
    CoverageError,
    base_label_probabilities,
    coverage_at,
    saturation_multiplier,
    solve_multiplier,
)
from tests.conftest import SEED_LABELS


def test_redness_known_values():
    rgb = np.array([[1, 0, 0], [1, 1, 1], [0, 1, 0], [1, 0.5, 0], [0.5, 0, 0]])
    np.testing.assert_allclose(redness(rgb), [1.0, 0.0, 0.0, 0.75, 0.5])


def test_vibrancy_is_saturation_times_value():
    rgb = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [1, 1, 0], [0.8, 0.2, 0.4]])
    np.testing.assert_allclose(vibrancy(rgb), [1.0, 0.0, 1.0, 0.6])


def test_hsv_to_rgb_primaries_and_secondaries():
    hues = np.arange(6) / 6
    rgb = hsv_to_rgb(np.stack([hues, np.ones(6), np.ones(6)], axis=-1))
    expected = [[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1], [1, 0, 1]]
    np.testing.assert_allclose(rgb, expected, atol=1e-12)
    np.testing.assert_allclose(hsv_to_rgb(np.array([0.3, 0.0, 0.4])), [0.4, 0.4, 0.4])


def test_grids_have_the_spec_sizes():
    assert rgb_grid(10).shape == (1000, 3)
    assert hue_ring(360).shape == (360, 3)
    rgb, hsv = hsv_grid(np.arange(240) / 240, np.linspace(0, 1, 48), np.linspace(0, 1, 48))
    assert rgb.shape == hsv.shape == (240 * 48 * 48, 3)
    assert rgb.min() >= 0 and rgb.max() <= 1


def test_seed_multiplier_gives_seed_coverage():
    base = base_label_probabilities(rgb_grid(10), SEED_LABELS)
    assert coverage_at(base, 1.0) == pytest.approx(0.00152, abs=5e-6)
    assert saturation_multiplier(base) == pytest.approx(1 / 0.07)


@pytest.mark.parametrize("target", [0.0001, 0.0015, 0.02, 0.05])
def test_solver_inverts_coverage(target):
    base = base_label_probabilities(rgb_grid(10), SEED_LABELS)
    solution = solve_multiplier(target, base)
    assert coverage_at(base, solution.multiplier) == pytest.approx(target, rel=1e-9)
    assert solution.saturated == (solution.multiplier > 1 / 0.07)


def test_zero_coverage_is_the_no_label_control():
    base = base_label_probabilities(rgb_grid(10), SEED_LABELS)
    assert solve_multiplier(0.0, base).multiplier == 0.0


@pytest.mark.parametrize("target", [-0.1, 1.0, 0.9999])
def test_unreachable_coverage_is_an_error(target):
    base = base_label_probabilities(rgb_grid(10), SEED_LABELS)
    with pytest.raises(CoverageError):
        solve_multiplier(target, base)
