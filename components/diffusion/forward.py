"""The forward (noising) process: the marginal q(z_t | x) (E1) and the transition q(z_t | z_s) (E2/E3).

Coefficients are VP (α, σ) and may be scalars, per-sample ``(B,)`` or any shape of the sample's rank that
broadcasts (per-frame levels). Arithmetic is fp32 (float64 for float64 inputs); results are in that dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..registry import BadInput, register
from ._common import check_same_shape, expand_to, upcast


__all__ = ["ForwardMarginal", "ForwardTransition", "q_sample", "q_transition", "transition_std"]


def _noise_like(x: Tensor, noise: Tensor | None, generator: torch.Generator | None, where: str) -> Tensor:
    if noise is None:
        return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    check_same_shape(noise, x, "noise", "x", where)
    return noise.to(x.dtype)


def q_sample(x: Tensor, alpha, sigma, *, noise: Tensor | None = None,
             generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """z_t = α x + σ ε with ε ~ N(0, I) (E1). Returns ``(z_t, ε)``."""
    x, alpha, sigma = upcast(x, alpha, sigma)
    eps = _noise_like(x, noise, generator, "q_sample")
    return expand_to(alpha, x, "alpha") * x + expand_to(sigma, x, "sigma") * eps, eps


def transition_std(alpha_s, sigma_s, alpha_t, sigma_t) -> tuple[Tensor, Tensor]:
    """Mean scale α_t/α_s and standard deviation σ_{t|s} of q(z_t | z_s) for t noisier than s.

    σ²_{t|s} = σ_t² − (α_t/α_s)² σ_s² = (1 − e^{λ_t − λ_s}) σ_t² (E2/E3): the variance left after the part of
    σ_t² already present in z_s, not the σ_t² + (α_t σ_s/α_s)² a derivation with independent noises would give.
    """
    alpha_s, sigma_s, alpha_t, sigma_t = upcast(alpha_s, sigma_s, alpha_t, sigma_t)
    scale = alpha_t / alpha_s
    var = sigma_t.square() - (scale * sigma_s).square()
    if bool((var < -1e-6 * sigma_t.square().clamp_min(1e-30)).any()):
        raise ValueError(
            "q_transition: the target level t must be at least as noisy as s (λ_t <= λ_s); got "
            f"sigma_t/alpha_t={(sigma_t / alpha_t).flatten().tolist()} < sigma_s/alpha_s="
            f"{(sigma_s / alpha_s).flatten().tolist()}"
        )
    return scale, var.clamp_min(0).sqrt()


def q_transition(z_s: Tensor, alpha_s, sigma_s, alpha_t, sigma_t, *, noise: Tensor | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
    """Sample q(z_t | z_s) = N((α_t/α_s) z_s, σ²_{t|s} I) for t noisier than s (E2)."""
    (z_s,) = upcast(z_s)
    scale, std = transition_std(alpha_s, sigma_s, alpha_t, sigma_t)
    scale, std = scale.to(z_s.dtype), std.to(z_s.dtype)
    eps = _noise_like(z_s, noise, generator, "q_transition")
    return expand_to(scale, z_s, "alpha_t/alpha_s") * z_s + expand_to(std, z_s, "sigma_t|s") * eps


def _video(batch, generator):
    return torch.randn(batch, 3, 2, 4, 4, generator=generator)


def _marginal_inputs(cfg, batch=2, generator=None):
    x = _video(batch, generator)
    alpha = torch.rand(batch, generator=generator) * 0.9 + 0.05
    return (x, alpha, (1 - alpha**2).sqrt()), {"noise": torch.randn(x.shape, generator=generator)}


def _transition_inputs(cfg, batch=2, generator=None):
    z = _video(batch, generator)
    a_s = torch.rand(batch, generator=generator) * 0.3 + 0.65
    a_t = a_s * 0.5
    return (z, a_s, (1 - a_s**2).sqrt(), a_t, (1 - a_t**2).sqrt()), {"noise": torch.randn(z.shape, generator=generator)}


@register(
    "forward", "marginal", paper="Ho et al. 2022 (VDM), E1", tiny={}, inputs=_marginal_inputs,
    bad_inputs=[BadInput(match="alpha must be a scalar or have one entry per sample",
                         inputs=lambda cfg: ((torch.zeros(2, 3, 2, 4, 4), torch.ones(3), torch.ones(3)), {}))],
)
class ForwardMarginal:
    """Sample q(z_t | x) = N(α x, σ² I): ``(x, alpha, sigma) -> (z_t, eps)``, x ``(B, ...)``, levels scalar or ``(B,)``."""

    def __call__(self, x: Tensor, alpha, sigma, *, noise: Tensor | None = None,
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        return q_sample(x, alpha, sigma, noise=noise, generator=generator)


@register(
    "forward", "transition", paper="Kingma et al. 2021; Ho et al. 2022 (VDM), E2/E3", tiny={},
    inputs=_transition_inputs,
    bad_inputs=[BadInput(match="at least as noisy",
                         inputs=lambda cfg: ((torch.zeros(2, 3), 0.5, 0.75**0.5, 0.9, 0.19**0.5), {}))],
)
class ForwardTransition:
    """Sample q(z_t | z_s) = N((α_t/α_s) z_s, σ²_{t|s} I), t noisier than s: ``(z_s, α_s, σ_s, α_t, σ_t) -> z_t``."""

    def __call__(self, z_s: Tensor, alpha_s, sigma_s, alpha_t, sigma_t, *, noise: Tensor | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        return q_transition(z_s, alpha_s, sigma_s, alpha_t, sigma_t, noise=noise, generator=generator)
