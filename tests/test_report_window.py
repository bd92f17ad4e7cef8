"""The report leads with the fitted window (SPEC §9), checks every fit beside its numbers (§9c) and shows
refinement per edge and per round (§9a): on a constructed run table whose window is known."""

from __future__ import annotations

import pandas as pd

from ex_coverage.pipelines.reporting.estimate_nodes import estimate_ed80
from ex_coverage.pipelines.reporting.nodes import find_critical_coverage, summarise_sweep, write_report
from ex_coverage.pipelines.reporting.report_estimate import refinement_rounds
from ex_coverage.science.metrics import METRIC_COLUMNS

THRESHOLDS = {"anchor_cos_min": 0.95}


class Schedule:
    def __len__(self):
        return 100


def window_runs() -> pd.DataFrame:
    """A window from about 0.001 to 0.03 (20 seeds a level), then two refinement rounds: 8 runs at 0.002 for ED80,
    then 8 at 0.04 for the upper edge."""
    rows = []
    design = [(1e-4, 1, 0, "", 0), (3e-4, 6, 0, "", 0), (1e-3, 16, 0, "", 0), (3e-3, 19, 0, "", 0),
              (1e-2, 19, 0, "", 0), (3e-2, 15, 0, "", 0), (1e-1, 4, 0, "", 0)]  # fmt: skip
    for coverage, passing, _, _, _ in design:
        for seed in range(20):
            rows.append({"coverage": coverage, "seed": seed, "effective": seed < passing, "refinement": False})
    for coverage, passing, first, edge, round_number in ((0.002, 7, 100, "ed80", 1), (0.04, 5, 108, "upper", 2)):
        for seed in range(first, first + 8):
            rows.append(
                {"coverage": coverage, "seed": seed, "effective": seed - first < passing, "refinement": True,
                 "refinement_edge": edge, "refinement_round": round_number}
            )  # fmt: skip
    runs = pd.DataFrame(rows)
    runs["refinement_edge"] = runs["refinement_edge"].fillna("")
    runs["refinement_round"] = runs["refinement_round"].fillna(0).astype(int)
    runs["structured"] = runs["effective"]
    runs["controllable"] = True
    runs["realised_coverage"] = runs["coverage"]
    for column in METRIC_COLUMNS:
        runs[column] = 0.5
    for i in range(1, 6):
        runs[f"pass_m{i}"] = runs["effective"] if i < 5 else True
    return runs


def test_report_leads_with_the_window_and_checks_each_fit():
    runs = window_runs()
    summary = summarise_sweep(runs)
    critical = find_critical_coverage(summary, {"min_pass_rate": 0.8}, Schedule(), {"batch_size": 10})
    table, fits = estimate_ed80(runs)
    effective = table.set_index("criterion").loc["effective"]
    assert effective["model"] in ("quadratic", "cubic") and 0 < effective["gof_p"] <= 1
    assert not effective["ed80_extrapolated"] and not effective["upper_extrapolated"]
    deltas = pd.DataFrame({"coverage": [0.01], "seed": [0], "colour": ["red"], "delta": [0.1]})
    report = write_report(summary, critical, THRESHOLDS, runs, deltas, fits)
    answer = report.split("## Answer\n\n")[1]
    assert answer.startswith("**Working window (fitted, effective)**: from ED80 = ")
    assert f"{effective['ed80']:.3g} [{effective['ci_low']:.3g}, {effective['ci_high']:.3g}]" in answer.split("\n")[0]
    assert f"to the upper edge {effective['upper']:.3g}" in answer.split("\n")[0]
    assert "labelled samples per run" in answer.split("\n")[0] and "goodness of fit p = " in answer.split("\n")[0]
    conclusion = report.split("## Conclusion\n\n")[1]
    assert conclusion.startswith("**Working window (fitted, effective)**")
    assert conclusion.index("Working window") < conclusion.index("c = ")  # the window, then the grid's c*
    # M5 and controllable are one criterion in the report
    assert "| controllable (M5) |" in report and "| m5 |" not in report and "| controllable |" not in report
    assert "probit / cloglog" in report and "goodness of fit p" in report
    # refinement: runs per edge and each width per round
    assert "Runs per edge: 8 for ED80, 8 for the upper edge" in report
    rounds = refinement_rounds(runs)
    assert list(rounds["runs"]) == [140, 148, 156] and list(rounds["edge"]) == ["", "ed80", "upper"]
    assert rounds["ed80_width"].notna().all()
    last = rounds.iloc[-1]
    assert last["ed80"] == effective["ed80"] and last["upper"] == effective["upper"]
    assert "| 2 | 156 | upper edge |" in report
