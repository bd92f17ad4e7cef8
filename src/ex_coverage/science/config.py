"""Checks of every parameter the experiment reads, each against its domain (before anything trains).

Each function raises :class:`ConfigurationError` naming the file and key, the value, and what is
allowed. Unknown keys are errors too: a typo would otherwise be ignored and a default used.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ex_coverage.science.colour import LABEL_SHAPES
from ex_coverage.science.errors import ConfigurationError

TRAINING_FILE = "conf/<env>/parameters_training.yml"
LABELS_FILE = GRIDS_FILE = "conf/<env>/parameters_data_engineering.yml"
REPORTING_FILE = "conf/<env>/parameters_reporting.yml"

#: Seeds are stored as 64-bit signed integers (run_scores.parquet, coverage_runs.csv); numpy's
#: SeedSequence, which derives each run's streams, accepts any non-negative integer.
MAX_SEED = 2**63 - 1
#: Lightning accelerators a training run may ask for.
ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "auto")
#: Training keys and their lowest allowed integer value.
TRAINING_INTEGERS = {"batch_size": 1, "validate_every": 0, "threads": 1}
TRAINING_KEYS = (*TRAINING_INTEGERS, "accelerator")
LABEL_KEYS = ("shape", "exponent", "base_probability")
GRID_SIZES = ("training_steps", "validation_steps", "hue_ring_hues", "rgb_fine_steps")
HSV_GRIDS = ("hsv_fine", "hsv_coarse")
HSV_KEYS = ("hues", "saturations", "values")
REPORTING_KEYS = ("min_pass_rate", "thresholds", "sensitivity")
REPORTING_REQUIRED = ("min_pass_rate", "thresholds")
#: ``refine`` (``kedro refine``, SPEC §9a) keys and their lowest allowed integer value.
REFINE_INTEGERS = {"seeds_per_level": 1}
REFINE_FILE = "conf/<env>/parameters_sweep.yml"
#: Allowed closed ranges of the thresholds (SPEC §8); a threshold not listed must be a finite number.
THRESHOLD_RANGES = {
    "anchor_cos_min": (-1.0, 1.0),
    "offplane_mean_max": (0.0, 1.0),
    "offplane_max_max": (0.0, 1.0),
    "monotone_fraction_min": (0.0, 1.0),
    "sextant_max_dev_deg": (0.0, 180.0),
    "mse_median_max": (0.0, math.inf),
    "mse_max_max": (0.0, math.inf),
    "suppression_r2_min": (-math.inf, 1.0),
}
#: Schedule columns of the seed's regularizers that this experiment does not use (SPEC §5): read, not applied.
UNUSED_PROPERTIES = ("reg-anti-anchor", "reg-unit")
#: The schedule column of the learning rate, and its value where the schedule has none (see training).
LEARNING_RATE = "lr"


def is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def reject_unknown_keys(
    params: Mapping[str, Any],
    key: str,
    allowed: Sequence[str],
    source: str,
    error: type[ConfigurationError] = ConfigurationError,
) -> None:
    """Raise ``error`` naming every key of the mapping ``params`` (found at ``key`` in ``source``) that is not
    ``allowed``: a misspelt key would otherwise be ignored and its default used. The one check and message for
    every parameter group."""
    unknown = sorted(set(params) - set(allowed), key=str)
    if unknown:
        raise error(
            f"{source}: unknown key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(f'{key}.{k}' for k in unknown)} (allowed: {', '.join(allowed)})"
        )


def _mapping(params: Any, key: str, source: str, keys: Sequence[str], required: Sequence[str] = ()) -> Mapping:
    if not isinstance(params, Mapping):
        raise ConfigurationError(f"{source}: {key} must be a mapping with keys {', '.join(keys)}, got {params!r}")
    reject_unknown_keys(params, key, keys, source)
    missing = [k for k in required if k not in params]
    if missing:
        raise ConfigurationError(f"{source}: missing {', '.join(f'{key}.{k}' for k in missing)}")
    return params


def _integer(value: Any, key: str, source: str, lowest: int, multiple_of: int = 1) -> None:
    if not is_integer(value) or value < lowest:
        raise ConfigurationError(f"{source}: {key} = {value!r} must be an integer ≥ {lowest}")
    if value % multiple_of:
        raise ConfigurationError(f"{source}: {key} = {value!r} must be a multiple of {multiple_of}")


def _in_range(value: Any, key: str, source: str, low: float, high: float, low_open: bool = False) -> None:
    if not is_number(value):
        raise ConfigurationError(f"{source}: {key} = {value!r} is not a finite number")
    below = value <= low if low_open else value < low
    if below or value > high:
        bracket = "(" if low_open else "["
        raise ConfigurationError(f"{source}: {key} = {value!r} is outside {bracket}{low:g}, {high:g}]")


def check_training(training: Any, source: str = TRAINING_FILE) -> None:
    """``training``: batch_size ≥ 1, validate_every ≥ 0 (0: no validation), threads ≥ 1 (integers),
    accelerator one of :data:`ACCELERATORS`."""
    _mapping(training, "training", source, TRAINING_KEYS, required=("batch_size",))
    for key, lowest in TRAINING_INTEGERS.items():
        if key in training:
            _integer(training[key], f"training.{key}", source, lowest)
    if "accelerator" in training and training["accelerator"] not in ACCELERATORS:
        raise ConfigurationError(
            f"{source}: training.accelerator = {training['accelerator']!r} is not one of {', '.join(ACCELERATORS)}"
        )


def check_labels(labels: Any, source: str = LABELS_FILE) -> None:
    """``labels``: each ``{shape, exponent, base_probability}`` with a known shape, exponent > 0 and
    base probability in (0, 1]."""
    if not isinstance(labels, Mapping) or not labels:
        raise ConfigurationError(f"{source}: labels must be a non-empty mapping name -> {{{', '.join(LABEL_KEYS)}}}")
    for name, spec in labels.items():
        key = f"labels.{name}"
        _mapping(spec, key, source, LABEL_KEYS, required=LABEL_KEYS)
        if spec["shape"] not in LABEL_SHAPES:
            raise ConfigurationError(
                f"{source}: {key}.shape = {spec['shape']!r} is not one of {', '.join(LABEL_SHAPES)}"
            )
        _in_range(spec["exponent"], f"{key}.exponent", source, 0.0, math.inf, low_open=True)
        _in_range(spec["base_probability"], f"{key}.base_probability", source, 0.0, 1.0, low_open=True)


def check_label_names(
    labels: Mapping[str, Any], read_by: Mapping[str, Sequence[str]], source: str = LABELS_FILE
) -> None:
    """Every label a regularizer reads (``read_by``: regularizer name -> label names) is defined."""
    for regularizer, names in read_by.items():
        missing = [n for n in names if n not in labels]
        if missing:
            raise ConfigurationError(
                f"{source}: regularizer {regularizer!r} reads label(s) {', '.join(missing)}, not defined under labels "
                f"(defined: {', '.join(labels) or 'none'})"
            )


def check_grids(grids: Any, source: str = GRIDS_FILE) -> None:
    """``grids``: every size an integer ≥ 2; the hue ring a multiple of 6 (M3 reads the six sextant hues)."""
    _mapping(grids, "grids", source, (*GRID_SIZES, *HSV_GRIDS), required=(*GRID_SIZES, *HSV_GRIDS))
    for key in GRID_SIZES:
        _integer(grids[key], f"grids.{key}", source, 6 if key == "hue_ring_hues" else 2,
                 multiple_of=6 if key == "hue_ring_hues" else 1)  # fmt: skip
    for grid in HSV_GRIDS:
        _mapping(grids[grid], f"grids.{grid}", source, HSV_KEYS, required=HSV_KEYS)
        for key in HSV_KEYS:
            _integer(grids[grid][key], f"grids.{grid}.{key}", source, 2)


def check_reporting(reporting: Any, known_thresholds: Sequence[str], source: str = REPORTING_FILE) -> None:
    """``reporting``: min_pass_rate in (0, 1]; thresholds known and within :data:`THRESHOLD_RANGES`
    (winding a positive integer); ``sensitivity``: for known thresholds, ``[looser, stricter]`` within range."""
    _mapping(reporting, "reporting", source, REPORTING_KEYS, required=REPORTING_REQUIRED)
    _in_range(reporting["min_pass_rate"], "reporting.min_pass_rate", source, 0.0, 1.0, low_open=True)
    thresholds = _mapping(reporting["thresholds"], "reporting.thresholds", source, known_thresholds)
    for name, value in thresholds.items():
        key = f"reporting.thresholds.{name}"
        if name == "winding":
            _integer(value, key, source, 1)
        else:
            _in_range(value, key, source, *THRESHOLD_RANGES.get(name, (-math.inf, math.inf)))
    sensitivity = _mapping(reporting.get("sensitivity", {}), "reporting.sensitivity", source, known_thresholds)
    for name, values in sensitivity.items():
        key = f"reporting.sensitivity.{name}"
        if not isinstance(values, Sequence) or isinstance(values, str) or len(values) != 2:
            raise ConfigurationError(f"{source}: {key} must be [looser, stricter], got {values!r}")
        for value, which in zip(values, ("looser", "stricter"), strict=True):
            _in_range(value, f"{key} ({which})", source, *THRESHOLD_RANGES.get(name, (-math.inf, math.inf)))


def check_refine(refine: Any, source: str = REFINE_FILE) -> None:
    """``refine`` (optional): seeds_per_level, an integer ≥ 1."""
    if refine is None:
        return
    _mapping(refine, "refine", source, tuple(REFINE_INTEGERS))
    for key, lowest in REFINE_INTEGERS.items():
        if key in refine:
            _integer(refine[key], f"refine.{key}", source, lowest)


def check_schedule(values: Mapping[str, np.ndarray], regularizers: Sequence[str], source: str = "dopesheet") -> None:
    """The schedule's per-step values (after interpolation): only known properties (``lr``, the regularizer
    weights, and the seed's columns for regularizers this experiment does not use), the learning rate > 0 and
    every weight ≥ 0 at every step."""
    known = (LEARNING_RATE, *regularizers, *UNUSED_PROPERTIES)
    unknown = [name for name in values if name not in known]
    if unknown:
        raise ConfigurationError(
            f"{source}: unknown column(s) {', '.join(repr(n) for n in unknown)} (known properties: {', '.join(known)})"
        )
    for name, series in values.items():
        series = np.asarray(series, dtype=np.float64)
        bad = np.flatnonzero(series <= 0) if name == LEARNING_RATE else np.flatnonzero(series < 0)
        if len(bad):
            rule = "the learning rate must be > 0" if name == LEARNING_RATE else "a regularizer weight must be ≥ 0"
            raise ConfigurationError(
                f"{source}, column {name!r}: value {series[bad[0]]:g} at step {bad[0]} (after interpolation); "
                f"{rule} at every step ({len(bad)} step{'s' if len(bad) > 1 else ''} violate it)"
            )
