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
from ex_coverage.science.errors import ForeignModelError, StaleResultsError


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


#: A model file (``data/06_models/<level>/seed_<s>.pt``) holds the weights under ``state_dict`` and, under ``run``,
#: the identity of the run that made them (coverage, seed, fingerprint; a budget-map run also its label
#: coverages): ``torch.load(path, weights_only=True)["state_dict"]`` is the plain ``state_dict``.
MODEL_WEIGHTS, MODEL_RUN = "state_dict", "run"


def run_identity(record: Mapping[str, Any]) -> dict[str, Any]:
    """What identifies a run: its coverage, seed and fingerprint (and a budget-map run's label coverages)."""
    identity = {
        "coverage": float(record["coverage"]),
        "seed": int(record["seed"]),
        "fingerprint": record["fingerprint"],
    }
    if record.get("label_coverages") is not None:
        identity["label_coverages"] = {name: float(c) for name, c in record["label_coverages"].items()}
    return identity


def bind_model(state_dict: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    """A model file's contents: the weights and the identity of the run (its record) that made them."""
    return {MODEL_WEIGHTS: dict(state_dict), MODEL_RUN: run_identity(record)}


def model_weights(model: Mapping[str, Any]) -> dict[str, Any]:
    """The ``state_dict`` of a model file's contents (see :data:`MODEL_WEIGHTS`)."""
    return dict(model[MODEL_WEIGHTS])


def describe_run(identity: Mapping[str, Any]) -> str:
    """``coverage 0.002 seed 3`` (``red coverage 0.001, vibrant coverage 0 seed 3`` for a budget-map run)."""
    label_coverages = identity.get("label_coverages")
    where = (
        ", ".join(f"{name} coverage {c:g}" for name, c in label_coverages.items())
        if label_coverages
        else f"coverage {identity['coverage']:g}"
    )
    return f"{where} seed {identity['seed']}"


def check_model_binding(
    model: Mapping[str, Any],
    record: Mapping[str, Any],
    place: str,
    retrain: str,
    expected: Mapping[str, Any] | None = None,
) -> None:
    """Raise :class:`ForeignModelError` unless ``model`` was made by the run of ``record``.

    ``place`` names where both were found (e.g. ``level coverage_0p002, seed 3``), ``retrain`` the command that
    makes them again. With ``expected`` (the place's ``seed`` and ``coverage``, or a budget cell's
    ``label_coverages``), the record must also be that place's run: a model and record copied together from elsewhere are refused too.
    """
    run = model.get(MODEL_RUN) if isinstance(model, Mapping) else None
    advice = f"delete it (or its level's results) and run `{retrain}`"
    if not isinstance(run, Mapping) or MODEL_WEIGHTS not in model:
        raise ForeignModelError(
            f"{place}: the model file does not say which run made it (saved before models were bound to their "
            f"run records, or not by this project): {advice}"
        )
    if run_identity(run) != run_identity(record):
        raise ForeignModelError(
            f"{place}: the model file belongs to {describe_run(run)} (fingerprint {run.get('fingerprint')}), not to "
            f"the run record beside it ({describe_run(record)}, fingerprint {record.get('fingerprint')}): {advice}"
        )
    if expected is not None and _place_key(record, expected) != _place_key(expected, expected):
        raise ForeignModelError(
            f"{place}: the model and run record there belong to {describe_run(run)}, another place's run: {advice}"
        )


def _place_key(run: Mapping[str, Any], keys: Iterable[str]) -> tuple[Any, ...]:
    """The ``keys`` of a run that say where its results are filed (``coverage``, ``seed``, ``label_coverages``),
    coverages as they appear in names."""
    values = {
        "coverage": lambda c: coverage_token(c),
        "seed": int,
        "label_coverages": lambda coverages: sorted((name, coverage_token(c)) for name, c in (coverages or {}).items()),
    }
    return tuple(values[key](run.get(key)) for key in keys)


def environment() -> dict[str, str]:
    """Library versions, recorded for information (not part of the fingerprint)."""
    return {
        "python": platform.python_version(),
        "torch": version("torch"),
        "lightning-fabric": version("lightning-fabric"),
    }
