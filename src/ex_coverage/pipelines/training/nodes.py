"""Nodes of the per-level training template.

torch and Lightning are imported inside the nodes that use them, so that building the pipelines
(``kedro run`` start-up, ``kedro viz``) stays fast and spawned workers import them only where needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from ex_coverage.science.errors import TrainingDiverged
from ex_coverage.science.labels import label_probabilities, solve_multiplier
from ex_coverage.science.metrics import flatten_named_colours
from ex_coverage.science.records import (
    bind_model,
    check_model_binding,
    describe_run,
    environment,
    fingerprint,
    model_weights,
    run_configuration,
)
from ex_coverage.science.schedule import Schedule

log = logging.getLogger(__name__)

BASE_SUFFIX = "_base_probability"
#: Columns of the named-colour ΔMSE table (M5 diagnostic), per level and sweep-wide.


def base_probabilities(training_grid: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each label's per-colour probability at multiplier 1, from the training grid's columns."""
    return {
        c[: -len(BASE_SUFFIX)]: training_grid[c].to_numpy() for c in training_grid.columns if c.endswith(BASE_SUFFIX)
    }


def solve_label_multiplier(
    training_grid: pd.DataFrame, schedule: Schedule, training: dict[str, Any], *, coverage: float
) -> dict[str, Any]:
    """Solve C(m) = coverage for the label multiplier m (SPEC §7); also the labelled samples a run expects."""
    base = base_probabilities(training_grid)
    solution = solve_multiplier(coverage, base)
    if solution.saturated:
        log.warning(
            "coverage %g needs multiplier %.3g: some label is certain on its best colour; run flagged",
            coverage,
            solution.multiplier,
        )
    drawn = len(schedule) * int(training["batch_size"])
    return {
        **solution.to_dict(),
        "multipliers": dict.fromkeys(base, solution.multiplier),
        "expected_labelled_samples": solution.expected_coverage * drawn,
    }


def describe_level(label_multiplier: dict[str, Any]) -> str:
    """``coverage 0.002`` for a sweep level, ``red coverage 0.001, vibrant coverage 0.0005`` for a budget cell."""
    label_coverages = label_multiplier.get("label_coverages")
    if label_coverages:
        return ", ".join(f"{name} coverage {c:g}" for name, c in label_coverages.items())
    return f"coverage {label_multiplier['target_coverage']:g}"


def train_level(
    training_grid: pd.DataFrame,
    validation_grid: pd.DataFrame,
    schedule: Schedule,
    label_multiplier: dict[str, Any],
    training: dict[str, Any],
    labels: dict[str, Any],
    grids: dict[str, Any],
    *,
    seeds: Sequence[int],
) -> dict[str, Any]:
    """Train one model per seed at this level; return each seed's model, history and run record.

    ``label_multiplier["multipliers"]`` gives each label's multiplier (one value for all in the sweep).
    """
    levels = [(label_multiplier, seeds)]
    return train_levels(training_grid, validation_grid, schedule, training, labels, grids, levels)[0]


def train_levels(
    training_grid: pd.DataFrame,
    validation_grid: pd.DataFrame,
    schedule: Schedule,
    training: dict[str, Any],
    labels: dict[str, Any],
    grids: dict[str, Any],
    levels: Sequence[tuple[dict[str, Any], Sequence[int]]],
    on_steps: Callable[[int, int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """:func:`train_level` for several levels at once, given as ``(label_multiplier, seeds)``: every run of
    every level in one ensemble, so that they share its per-step cost. Each level's outputs are exactly
    those it gets alone (a run depends on its seed and label probabilities only). ``on_steps(runs, steps_done,
    steps)`` hears how far training is."""
    from ex_coverage.science.training import Member, TrainingConfig, train_members

    base = base_probabilities(training_grid)
    label_names = list(base)
    members, level_of_member = [], []
    for level, (label_multiplier, seeds) in enumerate(levels):
        multipliers = label_multiplier.get("multipliers", label_multiplier["multiplier"])
        probabilities = label_probabilities(base, multipliers)
        stacked = np.stack([probabilities[name] for name in label_names], axis=-1)
        members += [Member(int(seed), stacked) for seed in seeds]
        level_of_member += [level] * len(seeds)
    try:
        results = train_members(
            members,
            training_grid[["r", "g", "b"]].to_numpy(np.float32),
            label_names,
            schedule,
            validation_grid[["r", "g", "b"]].to_numpy(np.float32),
            {name: validation_grid[name].to_numpy() for name in label_names},
            TrainingConfig.from_params(training),
            None if on_steps is None else partial(on_steps, len(members)),
        )
    except TrainingDiverged as error:
        culprit = levels[level_of_member[error.member]][0] if error.member is not None else levels[0][0]
        raise TrainingDiverged(f"{describe_level(culprit)}: {error}", member=error.member) from error
    outputs: list[dict[str, Any]] = [{} for _ in levels]
    for level, result in zip(level_of_member, results):
        label_multiplier = levels[level][0]
        record = run_record(
            result,
            label_multiplier,
            run_configuration(
                label_multiplier["target_coverage"],
                result.seed,
                training,
                labels,
                grids,
                schedule.digest,
                len(schedule),
                label_multiplier.get("label_coverages"),
            ),
        )
        outputs[level][f"model_seed_{result.seed}"] = bind_model(result.state_dict, record)
        outputs[level][f"history_seed_{result.seed}"] = result.history.merge(
            result.validation.drop(columns="seed"), on="step", how="left"
        )
        outputs[level][f"run_record_seed_{result.seed}"] = record
    for (label_multiplier, seeds), level_outputs in zip(levels, outputs):
        realised = (level_outputs[f"run_record_seed_{seed}"]["realised_coverage"] for seed in seeds)
        log.info(
            "%s: trained %d seeds in %.1f s (realised coverage %s)",
            describe_level(label_multiplier),
            len(seeds),
            sum(level_outputs[f"run_record_seed_{seed}"]["wall_time_s"] for seed in seeds),
            ", ".join(f"{c:.5f}" for c in realised),
        )
    return outputs


def run_record(result: Any, label_multiplier: dict[str, Any], configuration: dict[str, Any]) -> dict[str, Any]:
    """What one run produced and what produced it, for ``run_record_seed_<s>.json``."""
    counts = result.label_counts
    final_losses = {
        column[len("loss_") :]: float(result.history[column].dropna().iloc[-1])
        for column in result.history.columns
        if column.startswith("loss_") and result.history[column].notna().any()
    }
    return {
        "coverage": label_multiplier["target_coverage"],
        "seed": result.seed,
        "multiplier": label_multiplier["multiplier"],
        "multipliers": label_multiplier.get("multipliers"),
        **({"label_coverages": label_multiplier["label_coverages"]} if "label_coverages" in label_multiplier else {}),
        "expected_coverage": label_multiplier["expected_coverage"],
        "saturated_labels": label_multiplier["saturated"],
        "label_counts": counts,
        "realised_coverage": counts["any"] / counts["n_samples"] if counts["n_samples"] else 0.0,
        "final_losses": final_losses,
        "final_lr": float(result.history["lr"].iloc[-1]),
        "wall_time_s": result.wall_time_s,
        "configuration": configuration,
        "fingerprint": fingerprint(configuration),
        "environment": environment(),
    }


def retrain_command(record: dict[str, Any]) -> str:
    """The command that trains a run's results again where they are missing: the budget map's or the sweep's."""
    pipeline = "budget_map" if record.get("label_coverages") else "sweep"
    return f"kedro run --pipeline {pipeline} --only-missing-outputs"


def score_level(
    hue_ring: pd.DataFrame,
    hsv_grid_fine: pd.DataFrame,
    hsv_grid_coarse: pd.DataFrame,
    rgb_grid_fine: pd.DataFrame,
    *runs: Any,
) -> dict[str, Any]:
    """Score every seed's model (M1–M5) and keep its latents, error profile and M5 suppression table; the
    run table carries each run's named-colour errors under suppression as flat columns (SPEC §8).

    ``runs`` alternates run record and model file, one pair per seed; a model that its record's run did not
    make is refused (:func:`~ex_coverage.science.records.check_model_binding`).
    """
    from ex_coverage.science.evaluation import evaluate_run

    grids = {
        "hue_ring": hue_ring,
        "hsv_grid_fine": hsv_grid_fine,
        "hsv_grid_coarse": hsv_grid_coarse,
        "rgb_grid_fine": rgb_grid_fine,
    }
    outputs: dict[str, Any] = {}
    rows = []
    for record, model in zip(runs[0::2], runs[1::2]):
        check_model_binding(model, record, describe_run(record), retrain_command(record))
        evaluation = evaluate_run(model_weights(model), grids)
        seed = record["seed"]
        outputs[f"latents_seed_{seed}"] = evaluation.latents
        outputs[f"error_profile_seed_{seed}"] = evaluation.error_profile
        outputs[f"suppression_seed_{seed}"] = evaluation.suppression
        rows.append(
            {
                "coverage": record["coverage"],
                "seed": seed,
                "multiplier": record["multiplier"],
                "realised_coverage": record["realised_coverage"],
                "saturated_labels": record["saturated_labels"],
                **{f"labelled_{name}": n for name, n in record["label_counts"].items() if name != "n_samples"},
                "counted_samples": record["label_counts"]["n_samples"],
                **evaluation.scores,
                **flatten_named_colours(evaluation.named_colours),
                "fingerprint": record["fingerprint"],
            }
        )
    outputs["run_scores"] = pd.DataFrame(rows)
    return outputs
