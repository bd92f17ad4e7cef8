"""Reporting nodes of the continuous answer (SPEC §9): ED80 per criterion and threshold sensitivity."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from ex_coverage.science.estimate import (
    ED80_COLUMNS,
    NOT_MEASURED,
    DoseResponse,
    ed80_row,
    fit_criteria,
    fit_dose_response,
)
from ex_coverage.science.metrics import Thresholds, critical_coverage, passes, summarise_levels

SENSITIVITY_COLUMNS = [
    "threshold", "setting", "value", "c_star", "c_star_below", "grid_upper", "ed80", "ci_low", "ci_high",
    "upper", "model", "note",
]  # fmt: skip


def estimate_ed80(coverage_runs: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """ed80.csv (one row per criterion, empty cells where not estimable) and every fit in full (reasons,
    coefficients and covariance for the figure's band)."""
    present = {c: coverage_runs[c].astype(bool).to_numpy() for c in coverage_runs.columns}
    fits = fit_criteria(coverage_runs["coverage"].to_numpy(), present)
    table = pd.DataFrame([ed80_row(name, fit) for name, fit in fits.items()], columns=ED80_COLUMNS)
    table["runs"] = table["runs"].astype("Int64")
    details = {
        name: (fit.to_dict() if fit is not None else {"reason": NOT_MEASURED, "runs": 0, "passes": 0})
        for name, fit in fits.items()
    }
    return table, details


def _grid_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[~runs["refinement"]] if "refinement" in runs.columns else runs


def threshold_sensitivity(
    coverage_runs: pd.DataFrame, reporting: dict[str, Any], schedule: Any, training: dict[str, Any]
) -> pd.DataFrame:
    """c* and ED80 (effective) with each configured threshold moved to its looser and its stricter value.

    A threshold this version does not define (e.g. M5 before it is measured) gets a row saying so.
    """
    baseline = Thresholds.from_params(reporting["thresholds"])
    samples = len(schedule) * int(training["batch_size"])
    variants: list[tuple[str, str, Any]] = [("(none)", "baseline", None)]
    for name, (looser, stricter) in reporting.get("sensitivity", {}).items():
        variants += [(name, "looser", looser), (name, "stricter", stricter)]
    rows = []
    for name, setting, value in variants:
        row = dict.fromkeys(SENSITIVITY_COLUMNS, None) | {"threshold": name, "setting": setting, "value": value}
        if value is not None and name not in baseline.to_dict():
            rows.append(row | {"note": NOT_MEASURED})
            continue
        limits = replace(baseline, **{name: value}) if value is not None else baseline
        flags = [passes(r, limits)["effective"] for r in coverage_runs.to_dict("records")]
        runs = coverage_runs.assign(effective=flags)
        summary = summarise_levels(_grid_runs(runs), [])
        grid = critical_coverage(summary["coverage"], summary["pass_rate"], reporting["min_pass_rate"], samples)
        fit = fit_dose_response(runs["coverage"], runs["effective"])
        estimate = ed80_row("effective", fit)
        row.update(
            c_star=grid.coverage,
            c_star_below=grid.last_failing,
            grid_upper=None if grid.upper_beyond_grid else grid.upper,
            ed80=estimate["ed80"],
            ci_low=estimate["ci_low"],
            ci_high=estimate["ci_high"],
            upper=estimate["upper"],
            model=fit.model,
            note=fit.reason or "; ".join(fit.notes) or None,
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def effective_fit(ed80_fits: dict[str, Any]) -> DoseResponse | None:
    """The ``effective`` fit back as an object (None when not measured)."""
    data = ed80_fits.get("effective")
    return DoseResponse.from_dict(data) if data and "coefficients" in data else None
