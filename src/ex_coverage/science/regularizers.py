"""The three selective regularizers and their reduction (SPEC §4).

Per-sample losses take latents ``z`` of shape ``(..., batch, 4)`` and return ``(..., batch)``, so
the same functions serve a single model and a stacked ensemble.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from ex_coverage.science.architecture import ANCHOR, REGULARIZER_LABELS


def anchor_loss(z: Tensor, anchor: tuple[float, ...] = ANCHOR) -> Tensor:
    """``1 − cos(z_i, a)``: pulls labelled samples towards the anchor direction."""
    a = z.new_tensor(anchor)
    return 1.0 - F.cosine_similarity(z, a.expand_as(z), dim=-1)


class _Power(torch.autograd.Function):
    """``x ** p`` for x ≥ 0, p > 1, whose backward reuses the forward result: ``p · x^p / x`` (one pow, not two)."""

    @staticmethod
    def forward(ctx, x: Tensor, p: float) -> Tensor:  # type: ignore[override]
        y = x.pow(p)
        ctx.save_for_backward(x, y)
        ctx.p = p
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        x, y = ctx.saved_tensors
        return grad * ctx.p * torch.where(x > 0, y / x, torch.zeros_like(x)), None


def separate_loss(z: Tensor, power: float = 100.0) -> Tensor:
    """Angular repulsion within the batch: ``Σ_j ((C_ij + 1) / 2) ** power``, ``C = ẑ ẑᵀ``.

    Entries of C numerically equal to 1 (self-pairs and duplicate draws) are zeroed before the shift.
    """
    unit = z / (z.norm(dim=-1, keepdim=True) + 1e-8)
    cos = unit @ unit.transpose(-1, -2)
    self_pairs = (cos - 1.0).abs() <= 1e-8 + 1e-5  # torch.isclose(cos, 1) with its default tolerances, faster
    cos = cos.masked_fill(self_pairs, 0.0)
    return _Power.apply((cos + 1.0) / 2.0, power).sum(dim=-1)


def planar_loss(z: Tensor) -> Tensor:
    """Energy outside latent dims 0 and 1: ``z_2² + z_3²``."""
    return (z[..., 2:] ** 2).sum(dim=-1)


def label_affinity(labels: Mapping[str, Tensor], affinities: Mapping[str, float]) -> Tensor:
    """``α_i = clamp(Σ_label affinity · label_i, 0, 1)`` over the labels the regularizer reads."""
    total = sum(float(weight) * labels[name].to(torch.float32) for name, weight in affinities.items())
    return torch.clamp(total, 0.0, 1.0)


def affinity_total(affinity: Tensor) -> Tensor:
    """``Σ α_i + 1e-8`` over the batch (last) axis: the denominator of :func:`selective_mean`."""
    return affinity.sum(dim=-1) + 1e-8


def selective_mean(per_sample: Tensor, affinity: Tensor, total: Tensor | None = None) -> Tensor:
    """``Σ α_i l_i / (Σ α_i + 1e-8)`` over the batch (last) axis: 0 when no sample is labelled.

    ``total`` is :func:`affinity_total` of ``affinity`` when already known (training draws every label up front).
    """
    return (affinity * per_sample).sum(dim=-1) / (affinity_total(affinity) if total is None else total)


@dataclass(frozen=True)
class Regularizer:
    """A loss term on the latents; with ``label_affinities`` it only sees labelled samples."""

    name: str
    per_sample: Callable[[Tensor], Tensor]
    label_affinities: Mapping[str, float] | None = field(default=None)

    def __call__(self, z: Tensor, labels: Mapping[str, Tensor]) -> Tensor:
        return self.reduce(self.per_sample(z), self.affinity(labels))

    def affinity(self, labels: Mapping[str, Tensor]) -> Tensor | None:
        """Each sample's ``α`` (None for an unlabelled regularizer, which sees every sample alike)."""
        return None if self.label_affinities is None else label_affinity(labels, self.label_affinities)

    def reduce(self, losses: Tensor, affinity: Tensor | None, total: Tensor | None = None) -> Tensor:
        """The batch's loss from per-sample ``losses``: their mean, or their selective mean under ``affinity``."""
        if affinity is None:
            return losses.mean(dim=-1)
        return selective_mean(losses, affinity, total)


_PER_SAMPLE = {"reg-anchor": anchor_loss, "reg-separate": separate_loss, "reg-planar": planar_loss}

#: The experiment's regularizers (``architecture.REGULARIZER_LABELS``); their names are the schedule's weight columns.
REGULARIZERS = tuple(Regularizer(name, _PER_SAMPLE[name], labels) for name, labels in REGULARIZER_LABELS.items())
