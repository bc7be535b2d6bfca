"""Error budgets for comparing two implementations along a chained (multi-step, guided) sampler run.

Two fp32 implementations of one network (ours and diffusers', or one network through two adapters) differ on the
same input only by kernel rounding: the order of the reductions in convolutions, matmuls and attention, which the
BLAS / oneDNN / SDPA kernel picked on a given machine decides. That per-call difference δ is the one machine-dependent
quantity of a comparison. A test measures it on the machine it runs on, on the inputs the chain really gives the
network (re-running one implementation on the other's recorded calls), asserts it against ``CALL_ATOL`` (outputs
of unit scale: ε, v or EDM's F), and bounds the chained result by δ times what amplifies it. The amplification is
a property of the recipe and of the seeded weights, the same on every machine:

* the x0 prediction: x̂ = c_skip x + c_out F, so δ becomes |c_out(σ)| δ in x0 (``x0_gain``: σ for an ε network,
  σ/sqrt(1 + σ²) <= 1 for EDM's F with σ_data = 1);
* classifier-free guidance: x̃ = x̂_u + s (x̂_c − x̂_u) = (1 − s) x̂_u + s x̂_c, so independent branch errors add up to
  (|s| + |1 − s|) δ (``guidance_gain``: 17 for s = 9, not s: both branches contribute);
* the chain: DDIM with η = 0 and Euler both step x' = lerp(x̃, x, r) with r = σ'/σ ∈ [0, 1), so an error Δ already
  carried in x passes on with weight r + (1 − r) ‖∂x̃/∂x‖∞ <= 1 + ‖∂x̃/∂x − I‖∞ (``lerp_chain_bound``).

So the bound holds on a machine with other kernels: there δ is measured again, and only δ changes. It is a first-order
worst case (every error aligned); second-order terms are products of two errors of <= 1e-3 and negligible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch


__all__ = ["CALL_ATOL", "FP32_EPS", "guidance_gain", "lerp_chain_bound", "x0_gain"]

# max |Δ| of one fp32 network call between two implementations on identical inputs, outputs of unit scale
CALL_ATOL = 1e-4
FP32_EPS = torch.finfo(torch.float32).eps


def x0_gain(parameterization: str, sigma: float) -> float:
    """|∂x̂/∂F| at VE level σ: how much a network-output error grows in the x0 prediction."""
    if parameterization == "eps":  # x̂ = x − σ ε(x / sqrt(1 + σ²))
        return float(sigma)
    if parameterization == "edm":  # c_out = σ σ_d / sqrt(σ² + σ_d²), σ_d = 1 (EDM, SVD's v with EDM scalings)
        return float(sigma) / (1.0 + float(sigma) ** 2) ** 0.5
    raise ValueError(f"x0_gain: parameterization must be 'eps' or 'edm', got {parameterization!r}")


def guidance_gain(scales: float | Iterable[float]) -> float:
    """max over the guidance scales s of |s| + |1 − s|: the growth of independent branch errors through
    x̃ = x_u + s (x_c − x_u) (a per-frame ramp gives its largest frame's)."""
    values = torch.as_tensor(scales, dtype=torch.float64).flatten()
    return float((values.abs() + (1 - values).abs()).max())


def lerp_chain_bound(sigmas: Sequence[float], x0_errors: Sequence[float], jacobian_excess: float) -> float:
    """First-order bound on max |Δx_N| after the chain x_{k+1} = lerp(x̃_k, x_k, σ_{k+1}/σ_k) from a shared start.

    ``x0_errors[k]``: a bound on the error step k adds to its guided x0 prediction x̃_k (δ × ``x0_gain`` ×
    ``guidance_gain``, plus the rounding of the arithmetic both sides share); ``jacobian_excess``: a bound on
    ‖∂x̃_k/∂x_k − I‖∞ (the guided denoiser's growth of an error already carried in x_k). Recursion: Δ_0 = 0,
    Δ_{k+1} = (1 − r_k)(e_k + (1 + jacobian_excess) Δ_k) + r_k Δ_k.
    """
    sigmas = [float(s) for s in sigmas]
    if len(x0_errors) != len(sigmas) - 1:
        raise ValueError(f"lerp_chain_bound: one x0 error per step ({len(sigmas) - 1}), got {len(x0_errors)}")
    delta = 0.0
    for k, error in enumerate(x0_errors):
        r = sigmas[k + 1] / sigmas[k]
        delta = (1 - r) * (float(error) + (1 + jacobian_excess) * delta) + r * delta
    return delta
