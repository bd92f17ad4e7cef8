"""Report pieces for structure vs control, on constructed run tables whose answer is known."""

import pandas as pd

from ex_coverage.pipelines.reporting.nodes import (
    find_critical_coverage,
    reference_level,
    structure_and_control,
    summarise_sweep,
)


class Schedule:
    def __len__(self):
        return 100


def runs_table():
    """Control is reliable from 0.001, structure only from 0.01 (2 seeds per level)."""
    rows = []
    for coverage, structured, controllable in [
        (0.0001, [False, False], [False, True]),
        (0.001, [False, True], [True, True]),
        (0.01, [True, True], [True, True]),
    ]:
        for seed, (s, c) in enumerate(zip(structured, controllable)):
            rows.append(
                {"coverage": coverage, "seed": seed, "realised_coverage": coverage, "structured": s, "controllable": c}
            )
    runs = pd.DataFrame(rows)
    runs["effective"] = runs["structured"] & runs["controllable"]
    metrics = ["anchor_cos", "offplane_mean", "offplane_max", "winding", "monotone_fraction", "sextant_max_dev_deg"]
    for column in [*metrics, "mse_median", "mse_max", "suppression_r2", "ablation_r2"]:
        runs[column] = 0.5
    return runs


def test_c_star_of_each_classification_and_what_differs():
    runs = runs_table()
    critical = find_critical_coverage(summarise_sweep(runs), {"min_pass_rate": 0.8}, Schedule(), {"batch_size": 10})
    by = critical["by_criterion"]
    assert (by["controllable"]["coverage"], by["controllable"]["last_failing"]) == (0.001, 0.0001)
    assert by["structured"]["coverage"] == 0.01 and by["effective"]["coverage"] == 0.01
    assert critical["coverage"] == 0.01 and critical["expected_labels"] == 0.01 * 1000
    text = structure_and_control(critical, runs)
    assert "Reliable control comes first (c = 0.001), structure only at c = 0.01: structure is the binding" in text
    assert "0 of 6 runs are structured but not controllable and 2 controllable but not structured" in text
    assert reference_level(critical, runs["coverage"]) == (0.01, "c* of effective")
    assert reference_level({"by_criterion": {}}, runs["coverage"]) == (0.01, "no c*: the highest level")
