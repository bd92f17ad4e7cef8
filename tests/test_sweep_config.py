import pytest

from ex_coverage.science.colour import rgb_grid
from ex_coverage.science.labels import base_label_probabilities
from ex_coverage.sweep import SweepConfigError, check_reachable, level_namespace, parse_grid
from tests.conftest import SEED_LABELS


def test_namespaces():
    assert level_namespace(0.0015) == "coverage_0p0015"
    assert level_namespace(0) == "coverage_0"
    assert level_namespace(5e-05) == "coverage_0p00005"


def test_grid_is_sorted():
    grid = parse_grid({"coverages": [0.01, 0, 0.001], "seeds": [3, 1]})
    assert grid.coverages == (0.0, 0.001, 0.01) and grid.seeds == (3, 1)
    assert list(grid.namespaces) == ["coverage_0", "coverage_0p001", "coverage_0p01"]


@pytest.mark.parametrize(
    "sweep, message",
    [
        ({"coverages": [-0.1], "seeds": [0]}, r"sweep.coverages\[0\] = -0.1 is outside \[0, 1\)"),
        ({"coverages": [1.0], "seeds": [0]}, r"sweep.coverages\[0\] = 1.0 is outside"),
        ({"coverages": ["abc"], "seeds": [0]}, r"sweep.coverages\[0\] = 'abc' is not a number"),
        ({"coverages": [0.001, 0.001], "seeds": [0]}, r"sweep.coverages\[1\] = 0.001 is duplicated"),
        ({"coverages": [], "seeds": [0]}, "non-empty list"),
        ({"coverages": [0.1], "seeds": []}, "sweep.seeds must be a non-empty list"),
        ({"coverages": [0.1], "seeds": [1.5]}, r"sweep.seeds\[0\] = 1.5 is not a non-negative integer"),
        ({"coverages": [0.1], "seeds": [1, 2, 1]}, r"sweep.seeds\[2\] = 1 is duplicated"),
        ({"coverages": [0.1], "seeds": [True]}, "not a non-negative integer"),
    ],
)
def test_bad_grids_name_the_key(sweep, message):
    with pytest.raises(SweepConfigError, match=message):
        parse_grid(sweep)


def test_unreachable_coverage_is_refused():
    base = base_label_probabilities(rgb_grid(10), SEED_LABELS)
    with pytest.raises(SweepConfigError, match=r"0\.9995.*not reachable"):
        check_reachable(parse_grid({"coverages": [0.9995], "seeds": [0]}), base)
