"""Noise schedules: α(t), σ(t), log-SNR λ(t) for continuous t ∈ [0, 1], their sampling grids and σ ↔ t.

All schedules are variance preserving (VP, docs/papers.md E1–E3): α² = sigmoid(λ), σ² = sigmoid(−λ). The
variance-exploding noise level that samplers and denoisers use (the denoiser contract of docs/architecture.md) is
``σ_VE = σ/α = exp(−λ/2)``; ``to_sigma`` and ``t_from_sigma`` convert. Discrete schedules (DDPM's β tables) are
made continuous by linear interpolation of λ (= of log σ_VE, as diffusers' ``_sigma_to_t`` does) between the grid
points t_i = i / (N − 1); the network's discrete timestep is then ``t · (N − 1)``.

Arithmetic runs in float64 and returns float32 (float64 for float64 inputs), so conversions round-trip to ~1e-7
whatever the input dtype.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..registry import BadInput, register
from ._common import check_unit_interval


__all__ = [
    "CosineSchedule",
    "DiscreteSchedule",
    "EDMSchedule",
    "LinearSchedule",
    "NoiseSchedule",
    "ScaledLinearSchedule",
    "ShiftedCosineSchedule",
    "karras_sigmas",
    "rescale_zero_terminal_snr",
]

SPACINGS = ("linspace", "leading", "trailing")
# diffusers' stand-in for ᾱ = 0 at the terminal step (EulerDiscreteScheduler): keeps σ_VE finite (≈ 4096)
TERMINAL_ALPHA_BAR = 2.0**-24


def _as_t(t) -> Tensor:
    return t if isinstance(t, Tensor) else torch.as_tensor(t, dtype=torch.float64)


def _out_dtype(t: Tensor) -> torch.dtype:
    return torch.float64 if t.dtype == torch.float64 else torch.float32


class NoiseSchedule:
    """Base class: subclasses give ``_log_snr(t)`` and ``_t_from_log_snr(lam)`` on float64 tensors."""

    continuous = True

    # -- the two maps every schedule defines (float64 in, float64 out, no checks)
    def _log_snr(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def _t_from_log_snr(self, lam: Tensor) -> Tensor:
        raise NotImplementedError

    # -- unchecked conveniences for code running inside sampler loops
    def _sigma_ve(self, t: Tensor) -> Tensor:
        return torch.exp(-0.5 * self._log_snr(t.double())).to(_out_dtype(t))

    def _alpha_from_sigma(self, sigma: Tensor) -> Tensor:
        """Signal scale α at VE level ``sigma`` (z = α x): 1/sqrt(1 + σ²) for VP schedules (in sigma's dtype)."""
        return torch.rsqrt(1 + sigma.square())

    def _t_from_sigma(self, sigma: Tensor) -> Tensor:
        """t for VE noise level ``sigma``, clamped to [0, 1] for levels outside the schedule's range."""
        lam = -2.0 * torch.log(sigma.double())
        return self._t_from_log_snr(lam).clamp(0.0, 1.0).to(_out_dtype(sigma))

    # -- public, checked API
    def log_snr(self, t) -> Tensor:
        """λ(t) = log(α²/σ²), strictly decreasing in t."""
        t = _as_t(t)
        check_unit_interval(t, "t", type(self).__name__)
        return self._log_snr(t.double()).to(_out_dtype(t))

    def alpha(self, t) -> Tensor:
        """Signal scale α(t) = sqrt(sigmoid(λ(t)))."""
        return torch.sigmoid(self.log_snr(_as_t(t).double())).sqrt().to(_out_dtype(_as_t(t)))

    def sigma(self, t) -> Tensor:
        """VP noise scale σ(t) = sqrt(sigmoid(−λ(t)))."""
        return torch.sigmoid(-self.log_snr(_as_t(t).double())).sqrt().to(_out_dtype(_as_t(t)))

    def snr(self, t) -> Tensor:
        """Signal-to-noise ratio α²/σ² = exp(λ)."""
        return torch.exp(self.log_snr(_as_t(t).double())).to(_out_dtype(_as_t(t)))

    def to_sigma(self, t) -> Tensor:
        """VE noise level σ_VE(t) = σ/α = exp(−λ/2)."""
        t = _as_t(t)
        check_unit_interval(t, "t", type(self).__name__)
        return self._sigma_ve(t)

    def t_from_sigma(self, sigma) -> Tensor:
        """The t whose VE noise level is ``sigma`` (inverse of ``to_sigma``; clamped to [0, 1])."""
        sigma = _as_t(sigma)
        if sigma.numel() and not bool((sigma >= 0).all()):
            raise ValueError(f"{type(self).__name__}: sigma must be non-negative, got minimum {float(sigma.min())}")
        return self._t_from_sigma(sigma)

    def t_from_log_snr(self, lam) -> Tensor:
        """The t whose log-SNR is ``lam`` (inverse of ``log_snr``; clamped to [0, 1] for λ outside the schedule's
        range): e.g. a noise-augmentation level given as an SNR, ``t_from_log_snr(log(snr))``."""
        lam = _as_t(lam)
        return self._t_from_log_snr(lam.double()).clamp(0.0, 1.0).to(_out_dtype(lam))

    def timesteps(self, num_steps: int, spacing: str = "linspace") -> Tensor:
        """``num_steps`` sampling times in [0, 1], descending (float64). ``spacing`` other than linspace: discrete only."""
        if int(num_steps) < 1:
            raise ValueError(f"{type(self).__name__}.timesteps: num_steps must be >= 1, got {num_steps}")
        if spacing != "linspace":
            raise ValueError(f"{type(self).__name__}.timesteps: spacing must be 'linspace' for a continuous "
                             f"schedule, got {spacing!r}")
        return torch.linspace(1.0, 0.0, int(num_steps), dtype=torch.float64)

    def sigmas(self, num_steps: int, spacing: str = "linspace") -> Tensor:
        """VE sampling grid: σ_VE at ``timesteps(num_steps)`` then a final 0 (length ``num_steps + 1``, float32)."""
        t = self.timesteps(num_steps, spacing)
        lam = self._log_snr_for_grid(t)
        return torch.cat([torch.exp(-0.5 * lam), lam.new_zeros(1)]).float()

    def _log_snr_for_grid(self, t: Tensor) -> Tensor:
        return self._log_snr(t)

    def __call__(self, t) -> tuple[Tensor, Tensor]:
        """``(alpha(t), sigma(t))`` for a tensor of times in [0, 1], each of t's shape."""
        t = _as_t(t)
        lam = self.log_snr(t.double())
        return torch.sigmoid(lam).sqrt().to(_out_dtype(t)), torch.sigmoid(-lam).sqrt().to(_out_dtype(t))


# ----------------------------------------------------------------------------------------------- continuous
@register(
    "schedule", "cosine", paper="Nichol & Dhariwal 2021; Kingma et al. 2021 (VDM), Ho et al. 2022 (Imagen Video)",
    tiny={}, inputs=lambda cfg, batch=2, generator=None: ((torch.rand(batch, generator=generator),), {}),
    bad_inputs=[
        BadInput(match=r"t must lie in \[0, 1\]", inputs=lambda cfg: ((torch.tensor([0.5, 1.5]),), {})),
        BadInput(match="logsnr_min", init={"logsnr_min": 30.0}),
    ],
)
class CosineSchedule(NoiseSchedule):
    """Continuous cosine schedule with log-SNR clipped to [logsnr_min, logsnr_max]: λ(t) = −2 log tan(a t + b).

    b = arctan(exp(−λ_max/2)), a = arctan(exp(−λ_min/2)) − b, so λ(0) = λ_max and λ(1) = λ_min exactly
    (VDM / Imagen Video use [−20, 20]). Called on t ``(...)`` it returns ``(alpha, sigma)`` of t's shape.
    """

    def __init__(self, logsnr_min: float = -20.0, logsnr_max: float = 20.0) -> None:
        if not logsnr_min < logsnr_max:
            raise ValueError(f"CosineSchedule: logsnr_min must be < logsnr_max, got {logsnr_min} >= {logsnr_max}")
        self.logsnr_min, self.logsnr_max = float(logsnr_min), float(logsnr_max)
        self._b = math.atan(math.exp(-0.5 * self.logsnr_max))
        self._a = math.atan(math.exp(-0.5 * self.logsnr_min)) - self._b

    def _log_snr(self, t: Tensor) -> Tensor:
        return -2.0 * torch.log(torch.tan(self._a * t + self._b))

    def _t_from_log_snr(self, lam: Tensor) -> Tensor:
        return (torch.atan(torch.exp(-0.5 * lam)) - self._b) / self._a

    def _t_from_sigma(self, sigma: Tensor) -> Tensor:
        # exp(-λ/2) = σ_VE, so t = (atan σ − b)/a; written as atan((σ − k)/(1 + σ k))/a with k = tan b, which
        # avoids the cancellation of two angles near π/2 in fp32 (a few ops, in sigma's dtype)
        s = sigma * self._sigma_scale
        k = math.exp(-0.5 * self.logsnr_max)
        return (torch.atan((s - k) / (1 + s * k)) / self._a).clamp(0.0, 1.0)

    _sigma_scale = 1.0


@register(
    "schedule", "shifted_cosine", paper="Hoogeboom et al. 2023 (simple diffusion); Imagen Video",
    tiny={"resolution": 128}, inputs=lambda cfg, batch=2, generator=None: ((torch.rand(batch, generator=generator),), {}),
    bad_inputs=[
        BadInput(match=r"t must lie in \[0, 1\]", inputs=lambda cfg: ((torch.tensor([-0.1]),), {})),
        BadInput(match="resolution must be positive", init={"resolution": 0}),
    ],
)
class ShiftedCosineSchedule(CosineSchedule):
    """Cosine schedule with log-SNR shifted for resolution and frame count: λ(t) = λ_cos(t) + shift.

    shift = 2 log(base_resolution / resolution) + log(base_frames / frames): the log of the ratio of pixel counts,
    so a larger (or longer) sample is noisier at the same t (simple diffusion's 2 log(64/d), extended to frames by
    the same averaging argument). The clipped range moves with it: [logsnr_min + shift, logsnr_max + shift].
    """

    def __init__(self, resolution: int = 64, base_resolution: int = 64, frames: int = 1, base_frames: int = 1,
                 logsnr_min: float = -20.0, logsnr_max: float = 20.0) -> None:
        for name, value in (("resolution", resolution), ("base_resolution", base_resolution),
                            ("frames", frames), ("base_frames", base_frames)):
            if not value > 0:
                raise ValueError(f"ShiftedCosineSchedule: {name} must be positive, got {value}")
        super().__init__(logsnr_min, logsnr_max)
        self.shift = 2.0 * math.log(base_resolution / resolution) + math.log(base_frames / frames)
        self._sigma_scale = math.exp(0.5 * self.shift)  # σ of the unshifted schedule at the same t

    def _log_snr(self, t: Tensor) -> Tensor:
        return super()._log_snr(t) + self.shift

    def _t_from_log_snr(self, lam: Tensor) -> Tensor:
        return super()._t_from_log_snr(lam - self.shift)


def karras_sigmas(num_steps: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0) -> Tensor:
    """Karras et al. (EDM) grid σ_i = (σ_max^{1/ρ} + i/(n−1)(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, then 0 (float32)."""
    return EDMSchedule(sigma_min, sigma_max, rho).sigmas(num_steps)


@register(
    "schedule", "edm", paper="Karras et al. 2022 (EDM); Blattmann et al. 2023 (SVD)",
    tiny={}, inputs=lambda cfg, batch=2, generator=None: ((torch.rand(batch, generator=generator),), {}),
    bad_inputs=[
        BadInput(match=r"t must lie in \[0, 1\]", inputs=lambda cfg: ((torch.tensor([2.0]),), {})),
        BadInput(match="sigma_min", init={"sigma_min": 0.0}),
        BadInput(match="rho", init={"rho": -1.0}),
    ],
)
class EDMSchedule(NoiseSchedule):
    """Karras σ schedule: σ_VE(t) = (σ_min^{1/ρ} + t (σ_max^{1/ρ} − σ_min^{1/ρ}))^ρ, t = 0 at σ_min.

    ``sigmas(n)`` is the Karras sampling grid (n levels from σ_max to σ_min, then 0). SVD samples with
    σ_max = 700, σ_min = 0.002, ρ = 7 (docs/papers.md §10.2).
    """

    def __init__(self, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0) -> None:
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"EDMSchedule: need 0 < sigma_min < sigma_max, got sigma_min={sigma_min}, "
                             f"sigma_max={sigma_max}")
        if not rho > 0:
            raise ValueError(f"EDMSchedule: rho must be positive, got {rho}")
        self.sigma_min, self.sigma_max, self.rho = float(sigma_min), float(sigma_max), float(rho)
        self._lo, self._hi = self.sigma_min ** (1 / self.rho), self.sigma_max ** (1 / self.rho)

    def _log_snr(self, t: Tensor) -> Tensor:
        return -2.0 * self.rho * torch.log(self._lo + t * (self._hi - self._lo))

    def _t_from_log_snr(self, lam: Tensor) -> Tensor:
        return (torch.exp(-0.5 * lam / self.rho) - self._lo) / (self._hi - self._lo)

    def _t_from_sigma(self, sigma: Tensor) -> Tensor:
        return ((sigma ** (1 / self.rho) - self._lo) / (self._hi - self._lo)).clamp(0.0, 1.0)


# ----------------------------------------------------------------------------------------------- discrete
def rescale_zero_terminal_snr(alphas_cumprod: Tensor) -> Tensor:
    """Lin et al. 2023, Algorithm 1: shift and scale sqrt(ᾱ) so the last step has SNR exactly 0, the first unchanged."""
    root = alphas_cumprod.double().sqrt()
    first, last = root[0].clone(), root[-1].clone()
    root = (root - last) * first / (first - last)
    return root.square()


class DiscreteSchedule(NoiseSchedule):
    """A DDPM table ᾱ_0..ᾱ_{N−1} as a continuous schedule (λ linear between t_i = i/(N−1)).

    ``snr_shift_scale`` s divides every step's SNR by s before the optional zero-terminal-SNR rescale,
    ᾱ ← ᾱ / (s + (1 − s) ᾱ) (CogVideoX: s = 3, noisier at every step for its larger latents [V-code: diffusers
    scheduling_ddim_cogvideox.py ``snr_shift_scale``]); s = 1 leaves the table unchanged."""

    continuous = False

    def __init__(self, alphas_cumprod: Tensor, zero_terminal_snr: bool = False, snr_shift_scale: float = 1.0) -> None:
        if not float(snr_shift_scale) > 0:
            raise ValueError(f"{type(self).__name__}: snr_shift_scale must be > 0, got {snr_shift_scale}")
        abar = alphas_cumprod.double()
        s = float(snr_shift_scale)
        abar = abar / (s + (1 - s) * abar)
        self.snr_shift_scale = s
        if zero_terminal_snr:
            abar = rescale_zero_terminal_snr(abar)
        self.num_train_timesteps = abar.numel()
        self.alphas_cumprod = abar
        lam = torch.log(abar) - torch.log1p(-abar)
        # interpolation table: a zero-SNR end is replaced by diffusers' finite stand-in, returned as -inf only at t=1
        self._lam_grid = lam.clone()
        if zero_terminal_snr:
            self._lam_grid[-1] = math.log(TERMINAL_ALPHA_BAR) - math.log1p(-TERMINAL_ALPHA_BAR)
        self.zero_terminal_snr = zero_terminal_snr
        self._log_sigma_tables: dict = {}

    def _interp(self, t: Tensor) -> Tensor:
        n = self.num_train_timesteps
        u = t * (n - 1)
        lo = u.floor().clamp(0, n - 2)
        w = u - lo
        table = self._lam_grid.to(t.device)
        lo = lo.long()
        return table[lo] + w * (table[lo + 1] - table[lo])

    def _log_snr(self, t: Tensor) -> Tensor:
        lam = self._interp(t)
        if self.zero_terminal_snr:
            lam = torch.where(t >= 1, torch.full_like(lam, -math.inf), lam)
        return lam

    def _log_snr_for_grid(self, t: Tensor) -> Tensor:
        return self._interp(t)

    def _index_from_sigma(self, sigma: Tensor) -> Tensor:
        """Fractional training-timestep index i ∈ [0, N − 1] of VE level ``sigma`` (log σ linear between indices)."""
        key = (sigma.device, sigma.dtype)
        table = self._log_sigma_tables.get(key)
        if table is None:
            table = self._log_sigma_tables[key] = (-0.5 * self._lam_grid).to(device=sigma.device, dtype=sigma.dtype)
        log_sigma = torch.log(sigma)
        hi = torch.searchsorted(table, log_sigma.contiguous()).clamp_(1, self.num_train_timesteps - 1)
        lo = hi - 1
        t_lo = table[lo]
        w = ((log_sigma - t_lo) / (table[hi] - t_lo)).clamp_(0.0, 1.0)  # σ = inf (zero SNR) gives the last index
        return lo + w

    def _t_from_sigma(self, sigma: Tensor) -> Tensor:
        return self._index_from_sigma(sigma) / (self.num_train_timesteps - 1)

    def _t_from_log_snr(self, lam: Tensor) -> Tensor:
        n = self.num_train_timesteps
        table = (-self._lam_grid).to(lam.device)  # increasing
        hi = torch.searchsorted(table, (-lam).contiguous()).clamp(1, n - 1)
        lo = hi - 1
        w = ((-lam) - table[lo]) / (table[hi] - table[lo])  # λ = -inf (zero SNR) gives w = inf -> t = 1
        return (lo + w.clamp(0.0, 1.0)) / (n - 1)

    def timesteps(self, num_steps: int, spacing: str = "linspace") -> Tensor:
        """Descending sampling times; ``leading``/``trailing`` give diffusers' integer timesteps divided by N − 1."""
        n, steps = self.num_train_timesteps, int(num_steps)
        if spacing not in SPACINGS:
            raise ValueError(f"{type(self).__name__}.timesteps: spacing must be one of {SPACINGS}, got {spacing!r}")
        if not 1 <= steps <= n:
            raise ValueError(f"{type(self).__name__}.timesteps: num_steps must be in [1, {n}], got {num_steps}")
        if spacing == "linspace":
            return torch.linspace(1.0, 0.0, steps, dtype=torch.float64)
        if spacing == "leading":
            idx = torch.arange(steps, dtype=torch.float64).flip(0) * (n // steps)
        else:
            idx = torch.round(torch.arange(n, 0, -n / steps, dtype=torch.float64)) - 1
        return idx / (n - 1)


def _discrete_inputs(cfg, batch=2, generator=None):
    return (torch.rand(batch, generator=generator),), {}


_DISCRETE_BAD = [
    BadInput(match=r"t must lie in \[0, 1\]", inputs=lambda cfg: ((torch.tensor([0.2, -0.5]),), {})),
    BadInput(match="beta_start", init={"beta_start": 0.5, "beta_end": 0.1}),
]


def _check_betas(where: str, beta_start: float, beta_end: float, num_train_timesteps: int) -> None:
    if not 0 < beta_start < beta_end < 1:
        raise ValueError(f"{where}: need 0 < beta_start < beta_end < 1, got beta_start={beta_start}, "
                         f"beta_end={beta_end}")
    if int(num_train_timesteps) < 2:
        raise ValueError(f"{where}: num_train_timesteps must be >= 2, got {num_train_timesteps}")


@register("schedule", "linear", paper="Ho et al. 2020 (DDPM); Peebles & Xie 2023 (DiT)", tiny={},
          inputs=_discrete_inputs, bad_inputs=_DISCRETE_BAD)
class LinearSchedule(DiscreteSchedule):
    """DDPM's linear β schedule (1e-4 → 2e-2 over 1000 steps), ᾱ_i = Π(1 − β_j), optionally zero-terminal-SNR."""

    def __init__(self, beta_start: float = 1e-4, beta_end: float = 2e-2, num_train_timesteps: int = 1000,
                 zero_terminal_snr: bool = False, snr_shift_scale: float = 1.0) -> None:
        _check_betas("LinearSchedule", beta_start, beta_end, num_train_timesteps)
        betas = torch.linspace(beta_start, beta_end, int(num_train_timesteps), dtype=torch.float64)
        super().__init__(torch.cumprod(1.0 - betas, 0), zero_terminal_snr, snr_shift_scale)


@register("schedule", "scaled_linear", paper="Rombach et al. 2022 (Stable Diffusion)", tiny={},
          inputs=_discrete_inputs, bad_inputs=_DISCRETE_BAD)
class ScaledLinearSchedule(DiscreteSchedule):
    """Stable Diffusion's schedule: sqrt(β) linear from sqrt(0.00085) to sqrt(0.012) over 1000 steps."""

    def __init__(self, beta_start: float = 0.00085, beta_end: float = 0.012, num_train_timesteps: int = 1000,
                 zero_terminal_snr: bool = False, snr_shift_scale: float = 1.0) -> None:
        _check_betas("ScaledLinearSchedule", beta_start, beta_end, num_train_timesteps)
        betas = torch.linspace(beta_start**0.5, beta_end**0.5, int(num_train_timesteps), dtype=torch.float64) ** 2
        super().__init__(torch.cumprod(1.0 - betas, 0), zero_terminal_snr, snr_shift_scale)
