"""The bottlenecked colour autoencoder (SPEC §3), single and as a vectorised ensemble.

:class:`ColourAutoencoder` is the model a researcher loads and inspects. :class:`AutoencoderEnsemble`
holds the weights of several independent autoencoders stacked along a leading axis, so that one
forward/backward pass trains them all; :meth:`AutoencoderEnsemble.member_state_dict` exports one
member as a :class:`ColourAutoencoder` state_dict.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ex_coverage.science.architecture import LATENT_DIM, LAYERS
from ex_coverage.science.records import MODEL_WEIGHTS


class ColourAutoencoder(nn.Module):
    """``Linear(3,16) → GELU → Linear(16,4) → L2-normalise → Linear(4,16) → GELU → Linear(16,3)``.

    ``forward`` returns ``(reconstruction, latent)``; in eval mode the reconstruction is clamped to [0, 1].
    """

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(3, 16), nn.GELU(), nn.Linear(16, LATENT_DIM))
        self.decoder = nn.Sequential(nn.Linear(LATENT_DIM, 16), nn.GELU(), nn.Linear(16, 3))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = F.normalize(self.encoder(x), dim=-1)
        y = self.decoder(z)
        return (y if self.training else y.clamp(0.0, 1.0)), z


def load_autoencoder(weights: Mapping[str, Any]) -> ColourAutoencoder:
    """A :class:`ColourAutoencoder` in eval mode with the given weights: a ``state_dict``, or a model file's
    contents (weights and run identity, :func:`~ex_coverage.science.records.bind_model`)."""
    model = ColourAutoencoder()
    model.load_state_dict(weights[MODEL_WEIGHTS] if MODEL_WEIGHTS in weights else weights)
    return model.eval()


class AutoencoderEnsemble(nn.Module):
    """Independent :class:`ColourAutoencoder` s with stacked weights; inputs are ``(members, batch, 3)``."""

    def __init__(self, init_seeds: Sequence[int]) -> None:
        super().__init__()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        members = [self._init_member(seed) for seed in init_seeds]
        for layer in range(len(LAYERS)):
            self.weights.append(nn.Parameter(torch.stack([m[layer][0] for m in members])))
            self.biases.append(nn.Parameter(torch.stack([m[layer][1] for m in members])))

    @staticmethod
    def _init_member(seed: int) -> list[tuple[Tensor, Tensor]]:
        """PyTorch's default ``nn.Linear`` initialisation, U(−1/√fan_in, 1/√fan_in), from its own stream."""
        generator = torch.Generator().manual_seed(seed)
        layers = []
        for _, fan_in, fan_out in LAYERS:
            bound = 1.0 / math.sqrt(fan_in)
            weight = torch.empty(fan_out, fan_in).uniform_(-bound, bound, generator=generator)
            bias = torch.empty(fan_out).uniform_(-bound, bound, generator=generator)
            layers.append((weight, bias))
        return layers

    def _linear(self, layer: int, x: Tensor) -> Tensor:
        return torch.baddbmm(self.biases[layer].unsqueeze(1), x, self.weights[layer].transpose(1, 2))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = F.normalize(self._linear(1, F.gelu(self._linear(0, x))), dim=-1)
        y = self._linear(3, F.gelu(self._linear(2, z)))
        return (y if self.training else y.clamp(0.0, 1.0)), z

    def member_state_dict(self, member: int) -> dict[str, Tensor]:
        """One member's weights as a :class:`ColourAutoencoder` state_dict (copies, plain tensors)."""
        state = {}
        for layer, (name, _, _) in enumerate(LAYERS):
            state[f"{name}.weight"] = self.weights[layer][member].detach().clone()
            state[f"{name}.bias"] = self.biases[layer][member].detach().clone()
        return state


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` intra-op threads (1 keeps CPU reductions, hence results, runner-independent)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
