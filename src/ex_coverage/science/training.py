"""Training: one coverage level's seeds as a vectorised ensemble, in a Lightning Fabric loop (SPEC §6).

Every seed owns three random streams — initial weights, batch draws, label draws — derived from
the seed alone. All batches and labels are drawn before the first step, so a seed's trajectory
does not depend on validation, logging, or which other seeds train beside it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from ex_coverage.science.errors import TrainingDiverged
from ex_coverage.science.model import AutoencoderEnsemble, torch_threads
from ex_coverage.science.regularizers import REGULARIZERS, Regularizer, affinity_total
from ex_coverage.science.schedule import Schedule

log = logging.getLogger(__name__)

STREAMS = ("init", "batches", "labels")


def stream_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for one of a run's independent random streams (``init``, ``batches``, ``labels``)."""
    state = np.random.SeedSequence([int(seed), STREAMS.index(stream)]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


@dataclass(frozen=True)
class TrainingConfig:
    """How to train, apart from the schedule and labels."""

    batch_size: int = 64
    validate_every: int = 250  # validation after every this many optimiser steps; 0: none
    accelerator: str = "cpu"
    threads: int = 1

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TrainingConfig:
        return cls(**{k: params[k] for k in cls.__dataclass_fields__ if k in params})


@dataclass(frozen=True)
class DrawnBatches:
    """One seed's training inputs for every step: grid indices ``(steps, batch)`` and labels ``(steps, batch, n_labels)``."""

    indices: Tensor
    labels: Tensor


def draw_batches(seed: int, n_steps: int, batch_size: int, probabilities: NDArray) -> DrawnBatches:
    """Draw every step's batch (uniform, with replacement) and its stochastic labels ``U(0,1) < p``.

    ``probabilities`` is ``(n_colours, n_labels)``; each label of each drawn sample is drawn afresh.
    """
    p = torch.as_tensor(np.asarray(probabilities), dtype=torch.float64)
    batches = torch.Generator().manual_seed(stream_seed(seed, "batches"))
    labels = torch.Generator().manual_seed(stream_seed(seed, "labels"))
    indices = torch.randint(0, p.shape[0], (n_steps, batch_size), generator=batches)
    uniforms = torch.rand((n_steps, batch_size, p.shape[1]), generator=labels, dtype=torch.float64)
    return DrawnBatches(indices, uniforms < p[indices])


def count_labels(drawn: DrawnBatches, label_names: Sequence[str], counted_steps: NDArray[np.bool_]) -> dict[str, int]:
    """Labelled samples per label and for any label, over the steps where a labelled term is active."""
    labels = drawn.labels[torch.as_tensor(counted_steps)]
    counts = {"n_samples": int(labels.shape[0] * labels.shape[1]), "any": int(labels.any(dim=-1).sum())}
    for k, name in enumerate(label_names):
        counts[name] = int(labels[..., k].sum())
    return counts


def labelled_steps(schedule: Schedule, regularizers: Sequence[Regularizer] = REGULARIZERS) -> NDArray[np.bool_]:
    """Steps at which at least one labelled regularizer has non-zero weight."""
    active = np.zeros(len(schedule), dtype=bool)
    for reg in regularizers:
        if reg.label_affinities is not None:
            active |= schedule.get(reg.name, 1.0) != 0
    return active


class EnsembleTrainingModule(nn.Module):
    """An :class:`AutoencoderEnsemble` with its pre-drawn batches; ``forward(step)`` is each member's loss at ``step``.

    Members are independent runs: each has its own seed and drawn labels (members may come from different
    coverage levels). Everything a step reads (batches, label affinities, validation set) is a buffer, so
    Fabric moves it to the device with the weights; the history of every loss term stays on the CPU.
    """

    def __init__(
        self,
        seeds: Sequence[int],
        colours: Tensor,
        drawn: Sequence[DrawnBatches],
        label_names: Sequence[str],
        schedule: Schedule,
        validation_colours: Tensor,
        validation_labels: Mapping[str, Tensor],
        regularizers: Sequence[Regularizer] = REGULARIZERS,
    ) -> None:
        super().__init__()
        self.seeds = list(seeds)
        self.label_names = list(label_names)
        self.regularizers = list(regularizers)
        self.ensemble = AutoencoderEnsemble([stream_seed(s, "init") for s in seeds])
        n_steps = len(schedule)
        # Step-major layouts so that each step reads one contiguous slice.
        self.register_buffer("batch_x", torch.stack([colours[d.indices] for d in drawn], dim=1), persistent=False)
        # Labels are drawn up front, so each labelled regularizer's per-sample affinity α and its batch total
        # are too: (steps, members, batch) and (steps, members).
        labels = torch.stack([d.labels for d in drawn], dim=1)
        by_name = {name: labels[..., k] for k, name in enumerate(self.label_names)}
        self._affinity_buffers = [(f"affinity_{k}", f"affinity_total_{k}") for k in range(len(self.regularizers))]
        for reg, (name, total_name) in zip(self.regularizers, self._affinity_buffers):
            affinity = reg.affinity(by_name)
            self.register_buffer(name, affinity, persistent=False)
            self.register_buffer(total_name, None if affinity is None else affinity_total(affinity), persistent=False)
        self.register_buffer(
            "validation_x", validation_colours.expand(len(seeds), -1, -1).contiguous(), persistent=False
        )
        self.register_buffer(
            "validation_labels",
            torch.stack([validation_labels[name] for name in self.label_names])
            .unsqueeze(1)
            .expand(-1, len(seeds), -1)
            .contiguous(),
            persistent=False,
        )
        self.learning_rates = schedule.get("lr", 1e-3).tolist()
        self.reg_weights = [schedule.get(r.name, 1.0).tolist() for r in self.regularizers]
        self.history = torch.full((n_steps, len(seeds), 2 + len(self.regularizers)), float("nan"))
        self.register_buffer(
            "not_computed", torch.full((len(seeds),), float("nan")), persistent=False
        )  # a term with weight 0
        self.validation_records: list[dict[str, Any]] = []

    def forward(self, step: int) -> Tensor:
        """Each member's total loss at ``step``; records every term in the history."""
        x = self.batch_x[step]
        y, z = self.ensemble(x)
        recon = ((y - x) ** 2).mean(dim=(1, 2))
        total, terms = recon, [recon]
        for k, reg in enumerate(self.regularizers):
            weight = self.reg_weights[k][step]
            if weight == 0:
                terms.append(self.not_computed)
                continue
            name, total_name = self._affinity_buffers[k]
            affinity, affinity_sum = getattr(self, name), getattr(self, total_name)
            if affinity is not None:
                affinity, affinity_sum = affinity[step], affinity_sum[step]
            term = reg.reduce(reg.per_sample(z), affinity, affinity_sum)
            terms.append(term)
            total = total + weight * term
        record = torch.stack([total, *terms], dim=-1).detach()
        self.history[step] = record.cpu()
        if not torch.isfinite(total).all():
            self._raise_divergence(step, record)
        return total

    def _labels(self, stacked: Tensor) -> dict[str, Tensor]:
        return {name: stacked[k] for k, name in enumerate(self.label_names)}

    def _raise_divergence(self, step: int, record: Tensor) -> None:
        names = ["reconstruction"] + [r.name for r in self.regularizers]
        for column, name in enumerate(names, start=1):
            bad = ~torch.isfinite(record[:, column])
            if bad.any():
                member = int(bad.nonzero()[0, 0])
                raise TrainingDiverged(
                    f"loss term {name!r} became {record[member, column].item()} at step {step} "
                    f"(seed {self.seeds[member]}, learning rate {self.learning_rates[step]:.3g})",
                    member=member,
                )
        raise TrainingDiverged(f"total loss became non-finite at step {step}")

    @torch.no_grad()
    def validate(self, steps_done: int) -> None:
        """Losses on the validation set (eval mode, no gradients), recorded after ``steps_done`` optimiser steps."""
        was_training = self.training
        self.eval()
        try:
            y, z = self.ensemble(self.validation_x)
            recon = ((y - self.validation_x) ** 2).mean(dim=(1, 2))
            labels = self._labels(self.validation_labels)
            terms = {reg.name: reg(z, labels) for reg in self.regularizers if reg.label_affinities}
        finally:
            self.train(was_training)
        for member, seed in enumerate(self.seeds):
            row = {"step": steps_done, "member": member, "seed": seed, "val_reconstruction": float(recon[member])}
            row.update({f"val_{name}": float(value[member]) for name, value in terms.items()})
            self.validation_records.append(row)

    def validation_frame(self) -> pd.DataFrame:
        """Every validation pass, one row per (step, member); the columns exist even when there was none."""
        columns = ["step", "member", "seed", "val_reconstruction"] + [
            f"val_{r.name}" for r in self.regularizers if r.label_affinities
        ]
        return pd.DataFrame(self.validation_records, columns=columns)

    def history_frame(self, member: int) -> pd.DataFrame:
        """The member's per-step losses, learning rate and regularizer weights."""
        columns = ["loss_total", "loss_reconstruction"] + [f"loss_{r.name}" for r in self.regularizers]
        frame = pd.DataFrame(self.history[:, member].numpy(), columns=columns)
        frame.insert(0, "step", np.arange(len(frame)))
        frame["lr"] = self.learning_rates
        for reg, weights in zip(self.regularizers, self.reg_weights):
            frame[f"weight_{reg.name}"] = weights
        return frame


@dataclass
class RunResult:
    """Everything one (coverage, seed) training run produced."""

    seed: int
    state_dict: dict[str, Tensor]
    history: pd.DataFrame
    validation: pd.DataFrame
    label_counts: dict[str, int]
    wall_time_s: float


@contextmanager
def deterministic(accelerator: str) -> Iterator[None]:
    """Deterministic kernels while training (restored afterwards); on a GPU this needs a fixed cuBLAS workspace."""
    if accelerator != "cpu":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    previous = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])


#: How often training says how far it is: every this fraction of its steps.
PROGRESS_EVERY = 0.05


def fit(
    module: EnsembleTrainingModule, config: TrainingConfig, on_steps: Callable[[int, int], None] | None = None
) -> None:
    """Exactly one optimiser step per schedule step, in order, with the step's learning rate; validation
    after every ``config.validate_every`` steps (never when it is 0). ``on_steps(steps_done, steps)`` is called
    every :data:`PROGRESS_EVERY` of the steps and at the end."""
    import lightning_fabric  # on use: importing it takes about 2 s (it imports torch._dynamo)

    fabric = lightning_fabric.Fabric(accelerator=config.accelerator, devices=1, precision="32-true")
    optimiser = torch.optim.Adam(module.ensemble.parameters(), lr=module.learning_rates[0], foreach=True)
    model, optimiser = fabric.setup(module, optimiser)
    model.train()
    every = config.validate_every
    steps = len(module.learning_rates)
    report_every = max(1, round(steps * PROGRESS_EVERY))
    for step, lr in enumerate(module.learning_rates):
        for group in optimiser.param_groups:
            group["lr"] = lr
        optimiser.zero_grad()
        fabric.backward(model(step).sum())
        optimiser.step()
        if every > 0 and (step + 1) % every == 0:
            module.validate(step + 1)
        if on_steps is not None and ((step + 1) % report_every == 0 or step + 1 == steps):
            on_steps(step + 1, steps)


@dataclass(frozen=True)
class Member:
    """One run of an ensemble: its seed and its labels' per-colour probabilities ``(n_colours, n_labels)``."""

    seed: int
    probabilities: NDArray


def train_members(
    members: Sequence[Member],
    colours: NDArray,
    label_names: Sequence[str],
    schedule: Schedule,
    validation_colours: NDArray,
    validation_labels: Mapping[str, NDArray],
    config: TrainingConfig = TrainingConfig(),
    on_steps: Callable[[int, int], None] | None = None,
) -> list[RunResult]:
    """Train one model per member, all together, and return each member's result (in order).

    A member's result depends on its seed and probabilities alone, not on the members beside it, so
    several coverage levels can share one ensemble (and its per-step cost). Probability columns are in
    ``label_names`` order. ``on_steps(steps_done, steps)``: how far training is (see :func:`fit`).
    """
    start = time.perf_counter()
    n_steps = len(schedule)
    seeds = [m.seed for m in members]
    with torch_threads(config.threads):
        drawn = [draw_batches(m.seed, n_steps, config.batch_size, m.probabilities) for m in members]
        module = EnsembleTrainingModule(
            seeds,
            torch.tensor(np.asarray(colours), dtype=torch.float32),  # a copy: arrays read from Parquet are read-only
            drawn,
            label_names,
            schedule,
            torch.tensor(np.asarray(validation_colours), dtype=torch.float32),
            {k: torch.tensor(np.asarray(v)) for k, v in validation_labels.items()},
        )
        with deterministic(config.accelerator):
            fit(module, config, on_steps)
    wall = time.perf_counter() - start
    counted = labelled_steps(schedule)
    ensemble = module.ensemble.cpu()
    validation = module.validation_frame()
    return [
        RunResult(
            seed=int(seed),
            state_dict=ensemble.member_state_dict(member),
            history=module.history_frame(member),
            validation=validation[validation["member"] == member].drop(columns="member").reset_index(drop=True),
            label_counts=count_labels(drawn[member], label_names, counted),
            wall_time_s=wall / len(members),
        )
        for member, seed in enumerate(seeds)
    ]


def train_ensemble(
    seeds: Sequence[int],
    colours: NDArray,
    probabilities: NDArray,
    label_names: Sequence[str],
    schedule: Schedule,
    validation_colours: NDArray,
    validation_labels: Mapping[str, NDArray],
    config: TrainingConfig = TrainingConfig(),
) -> list[RunResult]:
    """Train one model per seed of one coverage level, all together (:func:`train_members` with shared
    ``probabilities``, ``(n_colours, n_labels)``)."""
    members = [Member(int(seed), probabilities) for seed in seeds]
    return train_members(members, colours, label_names, schedule, validation_colours, validation_labels, config)
