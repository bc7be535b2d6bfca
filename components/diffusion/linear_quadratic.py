"""Mochi 1's linear-quadratic sampling grid for rectified flow (``schedule/linear_quadratic``).

Genmo 2024 (Mochi 1) [V-code: genmoai/models src/mochi_preview/infer.py; diffusers pipeline_mochi.py
``linear_quadratic_schedule(num_steps, threshold_noise=0.025)``]. The process is rectified flow's (α = 1 − t, σ = t,
``schedule/rectified_flow``); only the sampling grid differs. With n steps, L = ⌊n/2⌋ linear steps and threshold τ:
the noise fraction removed after step i is

    u_i = τ·i / L                                       i < L          (slowly, through the first τ of the noise)
    u_i = a i² + b i + c                                 L ≤ i < n      (a quadratic reaching 1 at i = n)
    a = (L − τ n) / (L (n − L)²),   b = τ/L − 2 (L − τ n)/(n − L)²,   c = a L²

and the sampling times are ``t_i = 1 − u_i`` (t_0 = 1, descending, then 0 after the last step): half the steps are
spent on the first 2.5 % of the way from noise. Training times are not the grid's (``timesteps/*``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..registry import BadInput, register
from .rectified_flow import RectifiedFlowSchedule


__all__ = ["LinearQuadraticSchedule", "linear_quadratic_times"]


def linear_quadratic_times(num_steps: int, threshold_noise: float = 0.025, linear_steps: int | None = None) -> Tensor:
    """The ``num_steps`` sampling times ``t_i = 1 − u_i`` (float64, descending from 1; module docstring). One step is
    the grid ``[1]`` (noise straight to data; diffusers' formula divides by L = 0 there)."""
    n = int(num_steps)
    if n < 1:
        raise ValueError(f"linear_quadratic_times: num_steps must be >= 1, got {n}")
    if n == 1 and linear_steps is None:
        return torch.ones(1, dtype=torch.float64)
    lin = n // 2 if linear_steps is None else int(linear_steps)
    if not 1 <= lin < n:
        raise ValueError(f"linear_quadratic_times: linear_steps must be in [1, num_steps) = [1, {n}), got {lin}")
    if not 0.0 < threshold_noise < 1.0:
        raise ValueError(f"linear_quadratic_times: threshold_noise must be in (0, 1), got {threshold_noise}")
    i = torch.arange(n, dtype=torch.float64)
    diff = lin - threshold_noise * n
    quad_steps = n - lin
    a = diff / (lin * quad_steps ** 2)
    b = threshold_noise / lin - 2 * diff / quad_steps ** 2
    u = torch.where(i < lin, i * threshold_noise / lin, a * i ** 2 + b * i + a * lin ** 2)
    return 1.0 - u


@register(
    "schedule", "linear_quadratic", paper="Genmo 2024 (Mochi 1) linear-quadratic flow grid",
    tiny={}, inputs=lambda cfg, batch=2, generator=None: ((torch.rand(batch, generator=generator),), {}),
    bad_inputs=[
        BadInput(match=r"t must lie in \[0, 1\]", inputs=lambda cfg: ((torch.tensor([0.5, 1.5]),), {})),
        BadInput(match="threshold_noise must be in", init={"threshold_noise": 1.5}),
    ],
)
class LinearQuadraticSchedule(RectifiedFlowSchedule):
    """Rectified flow (α(t) = 1 − t, σ(t) = t) sampled on Mochi's linear-quadratic grid (module docstring).

    Args:
        threshold_noise: τ, the noise fraction the linear half of the steps covers (0.025).
        linear_steps: L (default ``⌊num_steps/2⌋`` of each grid).
        num_train_timesteps: as ``schedule/rectified_flow``.
    """

    def __init__(self, threshold_noise: float = 0.025, linear_steps: int | None = None,
                 num_train_timesteps: int = 1000) -> None:
        super().__init__(shift=1.0, num_train_timesteps=num_train_timesteps)
        if not 0.0 < float(threshold_noise) < 1.0:
            raise ValueError(f"LinearQuadraticSchedule: threshold_noise must be in (0, 1), got {threshold_noise}")
        self.threshold_noise, self.linear_steps = float(threshold_noise), linear_steps

    def timesteps(self, num_steps: int, spacing: str = "linspace") -> Tensor:
        """``num_steps`` sampling times descending from 1 (float64); ``spacing`` must be ``"linspace"`` (the grid is
        the schedule's own)."""
        if spacing != "linspace":
            raise ValueError(f"LinearQuadraticSchedule.timesteps: spacing must be 'linspace', got {spacing!r}")
        return linear_quadratic_times(num_steps, self.threshold_noise, self.linear_steps)
