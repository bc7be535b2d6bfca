"""The sampler contract and what every sampler shares (k-diffusion's, with tests).

``sample = build("sampler/KEY", **knobs)`` then ``sample(denoiser, x, sigmas, *, extra_args=None, callback=None,
generator=None, noise_sampler=None)``: ``denoiser(x, sigma, **extra_args) -> x0`` in VE σ space (plus ``step=``,
the explicit step context ``step.Step``, for a denoiser that declares ``takes_step``), ``x`` the sample at
``sigmas[0]`` (``B, ...``), ``sigmas`` a 1-D decreasing grid (usually ending in 0; increasing for inversion).

Rules every sampler keeps: arithmetic in fp32 (float64 for float64 input); no host synchronisation inside the
loop (the grid is checked once before it, per-step coefficients are precomputed as tensors, and the only python
branches are on knobs and step indices); no ``no_grad`` (samplers are differentiable, e.g. for guidance).
Fresh noise is ``torch.randn(x.shape, generator=generator)`` in draw order, or ``noise_sampler(k)`` for the k-th
draw (k = 0, 1, ...) so a run can be replayed against another implementation with the same noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..registry import BadInput
from ._common import check_sigmas, compute_dtype
from .step import Step, call_denoiser


__all__ = ["Sampler", "SAMPLER_BAD_INPUTS", "sampler_inputs"]


class _Run:
    """One call's state: the denoiser bound to its extra args, noise source, callback, progress, and the step
    context (``step.Step``) of each denoiser call: the sampler step index (set by ``steps``), the grid row of the
    call's level and the run's per-grid tables. All of it lives and dies with the call."""

    def __init__(self, denoiser, x: Tensor, sigmas: Tensor, extra_args, callback, generator, noise_sampler,
                 progress) -> None:
        self.denoiser, self.extra = denoiser, dict(extra_args or {})
        self.callback, self.generator, self.noise_sampler = callback, generator, noise_sampler
        self.progress, self.draws = progress, 0
        self.ones = x.new_ones(x.shape[0])
        # the grid's levels per sample, (N + 1, B), built once: the denoiser is handed its rows
        self.sigmas, self.levels = sigmas, sigmas[:, None] * self.ones
        self.index, self.num_steps, self.tables = 0, len(sigmas) - 1, {}

    def _row(self, sigma: Tensor) -> int | None:
        """The row of this run's grid that ``sigma`` is an element of (``sigmas[i]``), else None."""
        if sigma.ndim == 0 and sigma._base is self.sigmas:
            return (sigma.storage_offset() - self.sigmas.storage_offset()) // self.sigmas.stride(0)
        return None

    def denoise(self, x: Tensor, sigma: Tensor) -> Tensor:
        row = self._row(sigma)
        level = self.levels[row] if row is not None else sigma * self.ones
        step = Step(self.index, self.num_steps, row, self.sigmas, self.tables)
        return call_denoiser(self.denoiser, x, level, step, **self.extra).to(x.dtype)

    def noise(self, x: Tensor, sigma: Tensor | None = None, sigma_next: Tensor | None = None) -> Tensor:
        """The k-th fresh draw; a level-aware ``noise_sampler`` (``uses_levels``, e.g. ``brownian_noise``) also gets
        the step's levels σ → σ' (samplers that know them pass them)."""
        k, self.draws = self.draws, self.draws + 1
        if self.noise_sampler is not None:
            if getattr(self.noise_sampler, "uses_levels", False):
                if sigma is None:
                    raise ValueError("noise_sampler: this sampler does not pass its noise levels, which a level-aware "
                                     "noise source (brownian_noise) needs; use it with dpm_2_ancestral, "
                                     "dpmpp_2s_ancestral, dpmpp_sde, dpmpp_2m_sde or dpmpp_3m_sde")
                return self.noise_sampler(k, sigma, sigma_next).to(device=x.device, dtype=x.dtype)
            return self.noise_sampler(k).to(device=x.device, dtype=x.dtype)
        return torch.randn(x.shape, generator=self.generator, dtype=x.dtype, device=x.device)

    def steps(self, n: int):
        """The sampler's step loop ``range(n)``; records each index for the step context."""
        indices = range(n)
        if self.progress:
            from tqdm.auto import tqdm

            indices = tqdm(indices)
        for i in indices:
            self.index = i
            yield i

    def report(self, i: int, x: Tensor, sigma: Tensor, sigma_next: Tensor, denoised: Tensor) -> None:
        if self.callback is not None:
            self.callback({"i": i, "x": x, "sigma": sigma, "sigma_next": sigma_next, "denoised": denoised})


class Sampler:
    """Base class: checks the grid, upcasts, sets up the run, then calls ``_sample(run, x, sigmas)``."""

    key = ""
    increasing = False  # ddim_inversion walks from data to noise

    def __init__(self, progress: bool = False) -> None:
        self.progress = bool(progress)

    def __call__(self, denoiser: Callable, x: Tensor, sigmas: Tensor, *, extra_args: dict | None = None,
                 callback: Callable[[dict], None] | None = None, generator: torch.Generator | None = None,
                 noise_sampler: Callable[[int], Tensor] | None = None, progress: bool | None = None) -> Tensor:
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.ndim < 1:
            raise ValueError(f"{self.key}: x must be a floating-point tensor (B, ...), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        sigmas = check_sigmas(sigmas, self.key, increasing=self.increasing)
        dtype = compute_dtype(x, sigmas)
        x, sigmas = x.to(dtype), sigmas.to(device=x.device, dtype=dtype)
        run = _Run(denoiser, x, sigmas, extra_args, callback, generator, noise_sampler,
                   self.progress if progress is None else progress)
        return self._sample(run, x, sigmas)

    def _sample(self, run: _Run, x: Tensor, sigmas: Tensor) -> Tensor:
        raise NotImplementedError


def vp_levels(sigma: Tensor) -> tuple[Tensor, Tensor]:
    """(α, σ_VP) of VE levels: α = 1/sqrt(1 + σ²), σ_VP = σ α (0 -> (1, 0))."""
    alpha = torch.rsqrt(1 + sigma.square())
    return alpha, sigma * alpha


def safe_div(num: Tensor, den: Tensor) -> Tensor:
    """num/den with 0 where den == 0 (coefficients of a final step to σ = 0)."""
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.zeros_like(num))


# ------------------------------------------------------------------- registry metadata shared by the samplers
def _tiny_denoiser():
    from .denoisers import _TINY_COV, _TINY_MEAN, gaussian_denoiser

    return gaussian_denoiser(_TINY_MEAN, _TINY_COV)


def sampler_inputs(cfg, batch=2, generator=None):
    """A 4-feature Gaussian data set's exact denoiser, x at σ_max = 20 and an 8-step Karras grid."""
    from .schedules import karras_sigmas

    sigmas = karras_sigmas(8, 0.01, 20.0)
    x = torch.randn(batch, 4, generator=generator) * sigmas[0]
    # noise from a stateless source, so two calls on the same inputs see the same noise
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    return (_tiny_denoiser(), x, sigmas), {"noise_sampler": _SeededNoise(tuple(x.shape), seed)}


def inversion_inputs(cfg, batch=2, generator=None):
    from .schedules import karras_sigmas

    sigmas = karras_sigmas(8, 0.01, 20.0).flip(0)
    return (_tiny_denoiser(), torch.randn(batch, 4, generator=generator), sigmas), {}


class _SeededNoise:
    """noise_sampler whose k-th draw is a fixed function of (seed, k)."""

    def __init__(self, shape: tuple[int, ...], seed: int) -> None:
        self.shape, self.seed = shape, seed

    def __call__(self, k: int) -> Tensor:
        return torch.randn(self.shape, generator=torch.Generator().manual_seed(self.seed + 7919 * k))


def sampler_output_shape(cfg, denoiser, x, sigmas, **kwargs):
    return tuple(x.shape)


SAMPLER_BAD_INPUTS = (
    BadInput(match="sigmas must be strictly decreasing",
             inputs=lambda cfg: ((_tiny_denoiser(), torch.zeros(2, 4), torch.tensor([1.0, 2.0, 0.0])), {})),
    BadInput(match="sigmas must be non-negative",
             inputs=lambda cfg: ((_tiny_denoiser(), torch.zeros(2, 4), torch.tensor([1.0, 0.5, -0.1])), {})),
)
INVERSION_BAD_INPUTS = (
    BadInput(match="sigmas must be strictly increasing",
             inputs=lambda cfg: ((_tiny_denoiser(), torch.zeros(2, 4), torch.tensor([0.0, 2.0, 1.0])), {})),
)
SQRT2_MINUS_1 = math.sqrt(2.0) - 1.0
