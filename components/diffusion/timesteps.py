"""Training-time distributions of t ∈ [0, 1]: ``build("timesteps/KEY", **knobs)(batch, generator=g) -> t (B,)``.

The density π(t) the trainer draws its noise levels from is a loss weighting in disguise: E_{t∼π}[ℓ(t)] =
E_{t∼U}[π(t) ℓ(t)]. SD3 (Esser et al. 2024, §3.1 and Table 1) compares these for rectified flow; logit-normal
(m = 0, s = 1) was best, paired with the unweighted velocity MSE (``weighting/uniform`` with target "flow").

- ``uniform``: t = u, u ∼ U(0, 1) (DDPM / VDM; the trainer's default, one ``torch.rand`` draw).
- ``logit_normal``: t = sigmoid(m + s n), n ∼ N(0, 1) (SD3 eq. 19).
- ``mode``: t = 1 − u − s (cos²(π u / 2) − 1 + u) (SD3's mode sampling with heavy tails, eq. 20; s = 0 is uniform;
  s must lie in [−1, 2/(π − 2)] for the map to stay monotone).
- ``cosine_map``: t = 1 − 1 / (tan(π u / 2) + 1) (SD3's CosMap, eq. 21: the cosine schedule's log-SNR, mapped onto
  the rectified-flow path).

Every entry takes ``shift`` (default 1: none), applied after drawing as t' = s t / (1 + (s − 1) t) — the same shift as
the sampling grid of ``schedule/rectified_flow``. Draws are in float32 from ``generator`` in a fixed order (one
``rand`` or one ``randn`` of shape (B,)), so a trainer seeded by (seed, step) repeats them exactly on resume.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..registry import BadInput, register
from .rectified_flow import flow_shift


__all__ = ["CosineMapTimesteps", "LogitNormalTimesteps", "ModeTimesteps", "TimestepSampler", "UniformTimesteps"]


class TimestepSampler:
    """Base class: subclasses give ``_draw(batch, generator, device) -> t (B,)`` in [0, 1]."""

    def __init__(self, shift: float = 1.0) -> None:
        if not float(shift) > 0:
            raise ValueError(f"{type(self).__name__}: shift must be > 0, got {shift}")
        self.shift = float(shift)

    def __call__(self, batch: int, generator: torch.Generator | None = None, device=None) -> Tensor:
        """``batch`` training times ``(batch,)`` in [0, 1] (float32)."""
        if int(batch) < 1:
            raise ValueError(f"{type(self).__name__}: batch must be >= 1, got {batch}")
        t = self._draw(int(batch), generator, device).clamp(0.0, 1.0)
        return t if self.shift == 1.0 else flow_shift(t, self.shift)

    def _draw(self, batch: int, generator, device) -> Tensor:
        raise NotImplementedError


def _inputs(cfg, batch=2, generator=None):
    return (8,), {"generator": generator}


def _entry(name: str, paper: str, tiny: dict | None = None, bad: list | None = None):
    return register("timesteps", name, paper=paper, tiny=tiny or {}, inputs=_inputs,
                    output_shape=lambda cfg, batch, *args, **kwargs: (batch,), dtypes=("float32",),
                    bad_inputs=[BadInput(match="shift must be > 0", init={"shift": -1.0}),
                                BadInput(match="batch must be >= 1", inputs=lambda cfg: ((0,), {})), *(bad or [])])


@_entry("uniform", "Ho et al. 2020 (DDPM); Kingma et al. 2021 (VDM)")
class UniformTimesteps(TimestepSampler):
    """t ∼ U(0, 1): ``(batch, generator) -> (batch,)``, exactly ``torch.rand(batch, generator=generator)``."""

    def _draw(self, batch, generator, device):
        return torch.rand(batch, generator=generator, device=device)


@_entry("logit_normal", "Esser et al. 2024 (SD3), eq. 19", tiny={"mean": 0.0, "std": 1.0},
        bad=[BadInput(match="std must be > 0", init={"std": 0.0})])
class LogitNormalTimesteps(TimestepSampler):
    """t = sigmoid(mean + std · n), n ∼ N(0, 1): ``(batch, generator) -> (batch,)`` (SD3's best: mean 0, std 1)."""

    def __init__(self, mean: float = 0.0, std: float = 1.0, shift: float = 1.0) -> None:
        super().__init__(shift)
        if not float(std) > 0:
            raise ValueError(f"LogitNormalTimesteps: std must be > 0, got {std}")
        self.mean, self.std = float(mean), float(std)

    def _draw(self, batch, generator, device):
        return torch.sigmoid(self.mean + self.std * torch.randn(batch, generator=generator, device=device))


@_entry("mode", "Esser et al. 2024 (SD3), eq. 20", tiny={"scale": 1.29},
        bad=[BadInput(match="scale must lie in", init={"scale": 3.0})])
class ModeTimesteps(TimestepSampler):
    """Mode sampling with heavy tails: t = 1 − u − scale (cos²(π u/2) − 1 + u), u ∼ U(0, 1)."""

    def __init__(self, scale: float = 1.29, shift: float = 1.0) -> None:
        super().__init__(shift)
        top = 2 / (math.pi - 2)
        if not -1.0 <= float(scale) <= top:
            raise ValueError(f"ModeTimesteps: scale must lie in [-1, {top:.4f}] (monotone map), got {scale}")
        self.scale = float(scale)

    def _draw(self, batch, generator, device):
        u = torch.rand(batch, generator=generator, device=device)
        return 1 - u - self.scale * (torch.cos(0.5 * math.pi * u).square() - 1 + u)


@_entry("cosine_map", "Esser et al. 2024 (SD3), eq. 21 (CosMap)")
class CosineMapTimesteps(TimestepSampler):
    """t = 1 − 1 / (tan(π u/2) + 1), u ∼ U(0, 1): the cosine schedule's noise levels on the rectified-flow path."""

    def _draw(self, batch, generator, device):
        u = torch.rand(batch, generator=generator, device=device)
        return 1 - 1 / (torch.tan(0.5 * math.pi * u) + 1)
