"""Run records: what produced a result, and a fingerprint to tell when it has gone stale."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import version
from typing import Any

import numpy as np

from ex_coverage import __version__
from ex_coverage.science.architecture import LAYERS
from ex_coverage.science.errors import StaleResultsError


def coverage_token(coverage: float) -> str:
    """``0p0015`` for 0.0015, ``0`` for 0: a coverage as it appears in namespace and folder names."""
    return np.format_float_positional(float(coverage), trim="-").replace(".", "p")


def level_namespace(coverage: float) -> str:
    """``coverage_0p0015`` for 0.0015, ``coverage_0`` for 0: the name a coverage level's results are filed under
    (its Kedro namespace)."""
    return "coverage_" + coverage_token(coverage)


def run_configuration(
    coverage: float,
    seed: int,
    training: Mapping[str, Any],
    labels: Mapping[str, Any],
    grids: Mapping[str, Any],
    schedule_digest: str,
    schedule_length: int,
    label_coverages: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Everything that determines a run's result, as plain JSON-able values.

    ``label_coverages`` (budget-map runs, SPEC §9b): each label's own target coverage; absent for sweep runs.
    """
    configuration = {
        "coverage": float(coverage),
        "seed": int(seed),
        "model": {"layers": [list(layer) for layer in LAYERS], "bottleneck": "l2-normalise"},
        "training": dict(training),
        "labels": {name: dict(spec) for name, spec in labels.items()},
        "training_grid_steps": int(grids["training_steps"]),
        "validation_grid_steps": int(grids["validation_steps"]),
        "schedule_sha256": schedule_digest,
        "schedule_length": int(schedule_length),
        "project_version": __version__,
    }
    if label_coverages is not None:
        configuration["label_coverages"] = {name: float(c) for name, c in label_coverages.items()}
    return configuration


def fingerprint(configuration: Mapping[str, Any]) -> str:
    """A short SHA-256 of the configuration; equal fingerprints mean the same run would be repeated."""
    return hashlib.sha256(json.dumps(configuration, sort_keys=True).encode()).hexdigest()[:16]


def current_fingerprints(
    training: Mapping[str, Any],
    labels: Mapping[str, Any],
    grids: Mapping[str, Any],
    schedule_digest: str,
    schedule_length: int,
) -> Callable[[float, int], str]:
    """``(coverage, seed[, label_coverages]) -> fingerprint`` under the current configuration (label coverages
    for budget-map runs)."""
    return lambda coverage, seed, label_coverages=None: fingerprint(
        run_configuration(coverage, seed, training, labels, grids, schedule_digest, schedule_length, label_coverages)
    )


def check_fresh(
    runs: Iterable[Mapping[str, Any]],
    current: Callable[[float, int], str],
    records: Iterable[Mapping[str, Any]] | None = None,
) -> None:
    """Raise :class:`StaleResultsError` listing every run that is not from the current configuration.

    ``runs`` carry ``coverage``, ``seed`` and ``fingerprint`` (run records, or rows of the per-level
    score tables). With ``records`` (the run records on disk beside the score tables), a row also counts
    as stale when no record of its run exists or the record's fingerprint differs from the row's (the
    table was made from other run records), and so does a record with no row.
    """
    runs = list(runs)
    stale = {(r["coverage"], r["seed"]) for r in runs if r["fingerprint"] != current(r["coverage"], r["seed"])}
    total = {(r["coverage"], r["seed"]) for r in runs}
    if records is not None:
        by_run = {(r["coverage"], r["seed"]): r["fingerprint"] for r in records}
        rows = {(r["coverage"], r["seed"]): r["fingerprint"] for r in runs}
        total |= by_run.keys()
        stale |= {run for run, print_ in by_run.items() if print_ != current(*run)}
        stale |= {run for run in rows.keys() | by_run.keys() if rows.get(run) != by_run.get(run)}
    if stale:
        stale = sorted(stale)
        raise StaleResultsError(
            f"{len(stale)} of {len(total)} runs were trained with a different configuration than the current one "
            f"(parameters, schedule or project version changed), or were scored from other run records: "
            f"{', '.join(f'coverage {c:g} seed {s}' for c, s in stale)} "
            f"(levels {', '.join(sorted({level_namespace(c) for c, _ in stale}))}). "
            "Refresh them with `kedro run --pipeline sweep` (without --only-missing-outputs)."
        )


def environment() -> dict[str, str]:
    """Library versions, recorded for information (not part of the fingerprint)."""
    return {
        "python": platform.python_version(),
        "torch": version("torch"),
        "lightning-fabric": version("lightning-fabric"),
    }
