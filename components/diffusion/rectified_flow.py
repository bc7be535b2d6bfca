"""Rectified flow / flow matching as a noise schedule: z_t = (1 − t) x + t ε, and the time shifts of SD3-era models.

Rectified flow (Liu et al. 2023) and flow matching with the optimal-transport path (Lipman et al. 2023) noise data
along a straight line: α(t) = 1 − t, σ(t) = t, so α + σ = 1 instead of VP's α² + σ² = 1. In the VE space that
samplers and denoisers share (the denoiser contract of docs/architecture.md) the same process is x = z/α = x0 + σ_VE ε with

    σ_VE = t / (1 − t),    t = σ_VE / (1 + σ_VE),    α = 1 / (1 + σ_VE),    λ = log SNR = 2 log((1 − t)/t),

so every VE sampler (Euler, Heun, DPM-Solver++, ...) runs a flow model unchanged through ``denoiser/vp``, which
asks the schedule for α at σ_VE (``_alpha_from_sigma``). Euler in VE σ is exactly the flow Euler step
z' = z + (t' − t) u of diffusers' ``FlowMatchEulerDiscreteScheduler``.

The time shift (SD3, Esser et al. 2024 §5.3.2; used by Flux, Wan, HunyuanVideo, Open-Sora) moves the sampling grid
towards noise for larger samples: t' = s t / (1 + (s − 1) t) (``flow_shift``); the dynamic ("exponential") form is
t' = e^μ / (e^μ + (1/t − 1)) (``exponential_shift``) with μ linear in the token count (``shift_mu``). A shift acts on
the sampling grid and on training times (``timesteps/*`` take a ``shift``), never on α(t), σ(t): the network always
sees the noise fraction t of its input, on both paths.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..registry import BadInput, register
from .schedules import NoiseSchedule, _as_t, _out_dtype


#: sampling-grid spacings the flow schedule takes (``Sampling.spacing``)
_FLOW_SPACINGS = ("linspace", "trailing")

__all__ = ["RectifiedFlowSchedule", "exponential_shift", "flow_shift", "shift_mu", "video_tokens"]

#: The grid's first level: t = 1 is σ_VE = ∞, so sampling starts at t = 1 − T_EPS (σ_VE ≈ 1e6). The network's first
#: input and time then differ from pure noise at t = 1 by one part in 10⁶.
T_EPS = 1e-6


def _check_shift(shift: float, where: str) -> float:
    if not float(shift) > 0:
        raise ValueError(f"{where}: shift must be > 0, got {shift}")
    return float(shift)


def flow_shift(t, shift: float) -> Tensor:
    """SD3's time shift t' = s t / (1 + (s − 1) t) for t in [0, 1] (s > 1: noisier; s = 1: identity)."""
    s = _check_shift(shift, "flow_shift")
    t = _as_t(t)
    return s * t / (1 + (s - 1) * t)


def exponential_shift(t, mu: float) -> Tensor:
    """The dynamic shift t' = e^μ / (e^μ + (1/t − 1)) (diffusers' ``time_shift_type="exponential"``, σ = 1).

    Equals ``flow_shift(t, e^μ)``; t = 0 maps to 0."""
    t = _as_t(t)
    e = math.exp(float(mu))
    return torch.where(t > 0, e / (e + (1 / t.clamp_min(1e-30) - 1)), torch.zeros_like(t))


def shift_mu(num_tokens: int, base_tokens: int = 256, max_tokens: int = 4096, base_shift: float = 0.5,
             max_shift: float = 1.15) -> float:
    """μ of the dynamic shift, linear in the number of tokens the network sees (Flux / diffusers' ``calculate_shift``):
    μ(base_tokens) = base_shift, μ(max_tokens) = max_shift."""
    if not 0 < base_tokens < max_tokens:
        raise ValueError(f"shift_mu: need 0 < base_tokens < max_tokens, got {base_tokens}, {max_tokens}")
    if int(num_tokens) < 1:
        raise ValueError(f"shift_mu: num_tokens must be >= 1, got {num_tokens}")
    m = (max_shift - base_shift) / (max_tokens - base_tokens)
    return float(num_tokens) * m + base_shift - m * base_tokens


def video_tokens(frames: int, height: int, width: int, patch: tuple[int, int, int] = (1, 2, 2)) -> int:
    """Tokens of a latent video ``(T, H, W)`` cut into ``patch`` = (pt, ph, pw) patches: the count ``shift_mu`` takes,
    so the shift grows with resolution and frame count alike."""
    for name, size, p in zip(("frames", "height", "width"), (frames, height, width), patch):
        if p < 1 or size < 1 or size % p:
            raise ValueError(f"video_tokens: {name}={size} must be a positive multiple of its patch size {p}")
    return (frames // patch[0]) * (height // patch[1]) * (width // patch[2])


def _inputs(cfg, batch=2, generator=None):
    return (torch.rand(batch, generator=generator),), {}


@register(
    "schedule", "rectified_flow", paper="Liu et al. 2023 (rectified flow); Lipman et al. 2023; Esser et al. 2024 (SD3)",
    tiny={}, inputs=_inputs,
    bad_inputs=[
        BadInput(match=r"t must lie in \[0, 1\]", inputs=lambda cfg: ((torch.tensor([0.5, 1.5]),), {})),
        BadInput(match="shift must be > 0", init={"shift": 0.0}),
        BadInput(match="num_train_timesteps must be >= 2", init={"num_train_timesteps": 1}),
        BadInput(match="shift_terminal must be in", init={"shift_terminal": 1.5}),
    ],
)
class RectifiedFlowSchedule(NoiseSchedule):
    """α(t) = 1 − t, σ(t) = t; called on t ``(...)`` it returns ``(alpha, sigma)`` of t's shape.

    Args:
        shift: static time shift s of the sampling grid (SD3: 3.0; 1.0 = none).
        mu: if given, the dynamic exponential shift with this μ replaces ``shift`` (see ``shift_mu``).
        num_train_timesteps: N of the discrete time grid the shifted grid is built from (diffusers' convention:
            ``timesteps(n)`` is n points evenly spaced from t = 1 to the shifted 1/N, then shifted — exactly the
            grid of ``FlowMatchEulerDiscreteScheduler.set_timesteps``).
        shift_terminal: if given, the shifted grid is stretched so that its last time is this value,
            t'' = 1 − (1 − t')·(1 − shift_terminal)/(1 − t'_last) (diffusers' ``shift_terminal``; LTX-Video: 0.1).

    Spacing of the n sampling times before the shift: ``"linspace"`` (above) or ``"trailing"``, the n times
    1, 1 − 1/n, ..., 1/n — what the HunyuanVideo and LTX-Video pipelines pass as ``sigmas`` (``np.linspace(1, 0,
    n + 1)[:-1]`` and ``np.linspace(1, 1/n, n)``) [V-code: diffusers pipeline_hunyuan_video.py, pipeline_ltx.py]; the
    flow analogue of the discrete schedules' trailing spacing (integer steps t = N − k N/n).
    """

    def __init__(self, shift: float = 1.0, mu: float | None = None, num_train_timesteps: int = 1000,
                 shift_terminal: float | None = None) -> None:
        self.shift = _check_shift(shift, "RectifiedFlowSchedule")
        self.mu = None if mu is None else float(mu)
        if shift_terminal is not None and not 0.0 < float(shift_terminal) < 1.0:
            raise ValueError(f"RectifiedFlowSchedule: shift_terminal must be in (0, 1), got {shift_terminal}")
        self.shift_terminal = None if shift_terminal is None else float(shift_terminal)
        if int(num_train_timesteps) < 2:
            raise ValueError(f"RectifiedFlowSchedule: num_train_timesteps must be >= 2, got {num_train_timesteps}")
        self.num_train_timesteps = int(num_train_timesteps)

    # -- the schedule maps (float64)
    def _log_snr(self, t: Tensor) -> Tensor:
        return 2.0 * (torch.log1p(-t) - torch.log(t))

    def _t_from_log_snr(self, lam: Tensor) -> Tensor:
        return torch.sigmoid(-0.5 * lam)

    def _sigma_ve(self, t: Tensor) -> Tensor:
        return (t.double() / (1 - t.double())).to(_out_dtype(t))

    def _t_from_sigma(self, sigma: Tensor) -> Tensor:
        return (sigma / (1 + sigma)).clamp(0.0, 1.0)

    def _alpha_from_sigma(self, sigma: Tensor) -> Tensor:
        return 1 / (1 + sigma)

    def __call__(self, t) -> tuple[Tensor, Tensor]:
        t = _as_t(t)
        self.log_snr(t)  # checks t ∈ [0, 1]
        return (1 - t).to(_out_dtype(t)), t.to(_out_dtype(t))

    def alpha(self, t) -> Tensor:
        return self(t)[0]

    def sigma(self, t) -> Tensor:
        return self(t)[1]

    # -- the sampling grid
    def _shifted(self, t: Tensor) -> Tensor:
        return exponential_shift(t, self.mu) if self.mu is not None else flow_shift(t, self.shift)

    def timesteps(self, num_steps: int, spacing: str = "linspace") -> Tensor:
        """``num_steps`` shifted sampling times, descending from 1 (float64); see the class docstring."""
        if int(num_steps) < 1:
            raise ValueError(f"RectifiedFlowSchedule.timesteps: num_steps must be >= 1, got {num_steps}")
        if spacing not in _FLOW_SPACINGS:
            raise ValueError(f"RectifiedFlowSchedule.timesteps: spacing must be one of {_FLOW_SPACINGS}, got "
                             f"{spacing!r}")
        n = int(num_steps)
        if spacing == "trailing":
            t = self._shifted(torch.linspace(1.0, 1.0 / n, n, dtype=torch.float64))
        else:
            floor = torch.tensor(1.0 / self.num_train_timesteps, dtype=torch.float64)
            t_min = floor if self.mu is not None else flow_shift(floor, self.shift)  # diffusers' sigma_min
            t = self._shifted(torch.linspace(1.0, float(t_min), n, dtype=torch.float64))
        if self.shift_terminal is not None and t[-1] < 1:  # stretch so that the last time is shift_terminal
            # (1 − t scaled); a one-step grid [1] has nothing to stretch (diffusers divides by zero there)
            t = 1 - (1 - t) * (1 - self.shift_terminal) / (1 - t[-1])
        return t

    def sigmas(self, num_steps: int, spacing: str = "linspace") -> Tensor:
        """VE grid σ_VE = t/(1 − t) at ``timesteps(num_steps)`` (t capped at 1 − ``T_EPS``) then 0 (float32)."""
        t = self.timesteps(num_steps, spacing).clamp_max(1 - T_EPS)
        return torch.cat([t / (1 - t), t.new_zeros(1)]).float()
