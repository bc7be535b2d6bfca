"""The continuous-time variational bound of a denoiser (VDM: Kingma, Salimans, Poole, Ho 2021, arXiv 2107.00630).

For data x (dimension d) and a denoiser D(x_σ, σ) ≈ E[x | x_σ] in VE form (x_σ = x + σ ε, σ = exp(−λ/2), λ the
log-SNR), the negative log-likelihood is bounded by three terms (VDM eq. 11 / 17, written on λ instead of t):

    −log p(x) ≤ KL(q(z_λmin | x) ‖ N(0, I))                                  prior      (λ = λ_min, t = 1)
              + ½ ∫_{λ_min}^{λ_max} e^λ E_ε ‖x − D(x + e^{−λ/2} ε, e^{−λ/2})‖² dλ   diffusion  (VDM's L_∞)
              + E_ε[−log p(x | z_λmax)]                                        reconstruction (t = 0)

The diffusion integral is estimated by importance sampling λ from the proposal p(λ) ∝ sigmoid(λ − c) on
[λ_min, λ_max] (the integrand of an isotropic Gaussian with variance e^{−c} is exactly d·sigmoid(λ − c), so the
proposal flattens it), with ``num_samples`` stratified (low-discrepancy) draws per example: u_i = (i + u₀)/n,
λ_i = F⁻¹(u_i), one uniform offset u₀ per example (VDM's low-discrepancy sampler, applied per example). Each draw is
marginally p-distributed, so the estimate is unbiased for any n.

Prior (VP form, α² = sigmoid(λ), σ² = sigmoid(−λ)): ½ Σ_i (α² x_i² + σ² − 1 − log σ²)
    = ½ Σ_i (sigmoid(λ_min)(x_i² − 1) + softplus(λ_min)).

Reconstruction, two decoders:

- ``bins=None`` (continuous data): p(x | z_0) = N(x; z_0/α_0, s_0²) with s_0 = exp(−λ_max/2), so
  −log p = ½ Σ_i (ε_i² + log 2π − λ_max). The bound is then on a density (nats w.r.t. Lebesgue measure).
- ``bins=K`` (K-level data on the grid c_k = −1 + 2k/(K − 1), e.g. 8-bit pixels scaled to [−1, 1]): VDM's
  factorized categorical decoder (their appendix, "discretized" likelihood) p(x_i = c_k | z_0) ∝
  exp(−(x_σ,i − c_k)² / (2 s_0²)) with x_σ = z_0/α_0 = x + s_0 ε; the normalizer sums the bins within 12 s_0 of
  x_σ (bins farther away carry < e^{−70} relative mass). The bound is then on a probability mass (a discrete NLL).

All terms are per example in nats; ``bits_per_dim`` divides by d·ln 2. Pure functions on a denoiser: no training code.

    terms = variational_bound(D, x, logsnr_min=-20.0, logsnr_max=13.3, num_samples=16, bins=256, generator=g)
    bpd = bits_per_dim(terms["total"], x[0].numel())      # (B,) bits per dimension
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


__all__ = ["bits_per_dim", "diffusion_loss", "logsnr_proposal", "prior_kl", "reconstruction_nll",
           "variational_bound"]


def _inverse_softplus(y: Tensor) -> Tensor:
    """softplus⁻¹(y) = log(expm1(y)) = y + log(−expm1(−y)) for y > 0 (stable for large and small y)."""
    return y + torch.log(-torch.expm1(-y))


def logsnr_proposal(u: Tensor, logsnr_min: float, logsnr_max: float, center: float = 0.0) -> tuple[Tensor, Tensor]:
    """λ = F⁻¹(u) and its density p(λ) for p(λ) ∝ sigmoid(λ − c) on [λ_min, λ_max]; ``u`` in [0, 1], any shape.

    F(λ) = (softplus(λ − c) − softplus(λ_min − c)) / Z,  Z = softplus(λ_max − c) − softplus(λ_min − c).
    """
    if not logsnr_min < logsnr_max:
        raise ValueError(f"logsnr_proposal: logsnr_min must be < logsnr_max, got {logsnr_min} and {logsnr_max}")
    u = u.double()
    lo = F.softplus(torch.tensor(logsnr_min - center, dtype=torch.float64))
    z = F.softplus(torch.tensor(logsnr_max - center, dtype=torch.float64)) - lo
    lam = (center + _inverse_softplus(lo + u * z)).clamp(logsnr_min, logsnr_max)
    return lam, torch.sigmoid(lam - center) / z


def _check(x: Tensor, where: str) -> None:
    if not isinstance(x, Tensor) or x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{where}: x must be a (B, ...) tensor with B >= 1, got "
                         f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")


def diffusion_loss(denoiser: Callable, x: Tensor, *, logsnr_min: float, logsnr_max: float, num_samples: int = 16,
                   center: float = 0.0, generator: torch.Generator | None = None, **cond) -> Tensor:
    """½ ∫ e^λ ‖x − D(x + e^{−λ/2} ε, e^{−λ/2})‖² dλ per example, ``(B, ...)`` -> ``(B,)`` nats (float64).

    Importance-sampled on λ (see the module docstring); ``num_samples`` stratified draws per example.
    """
    _check(x, "diffusion_loss")
    if not (isinstance(num_samples, int) and num_samples >= 1):
        raise ValueError(f"diffusion_loss: num_samples must be a positive int, got {num_samples!r}")
    b = x.shape[0]
    offset = torch.rand(b, 1, generator=generator, dtype=torch.float64)
    u = (torch.arange(num_samples, dtype=torch.float64)[None] + offset) / num_samples      # (B, n) stratified
    lam, density = logsnr_proposal(u, logsnr_min, logsnr_max, center)
    total = torch.zeros(b, dtype=torch.float64)
    for i in range(num_samples):
        sigma = torch.exp(-0.5 * lam[:, i]).to(x.dtype)                                      # (B,)
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        noisy = x + sigma.to(x.device).view(-1, *[1] * (x.ndim - 1)) * eps
        with torch.no_grad():
            x0 = denoiser(noisy, sigma.to(x.device), **cond)
        err = (x - x0).double().square().flatten(1).sum(1).cpu()                              # ‖x − D‖², (B,)
        total += 0.5 * torch.exp(lam[:, i]) * err / density[:, i]
    return total / num_samples


def prior_kl(x: Tensor, logsnr_min: float) -> Tensor:
    """KL(q(z_λmin | x) ‖ N(0, I)) = ½ Σ (sigmoid(λ)(x² − 1) + softplus(λ)): ``(B, ...)`` -> ``(B,)`` nats."""
    _check(x, "prior_kl")
    lam = torch.tensor(float(logsnr_min), dtype=torch.float64)
    xx = x.double().flatten(1).cpu()
    return 0.5 * (torch.sigmoid(lam) * (xx.square() - 1) + F.softplus(lam)).sum(1)


def reconstruction_nll(x: Tensor, logsnr_max: float, *, bins: int | None = 256,
                       generator: torch.Generator | None = None) -> Tensor:
    """E_ε[−log p(x | z_λmax)] (one ε per example), ``(B, ...)`` -> ``(B,)`` nats; decoders in the module docstring.

    With ``bins`` the data must lie on the grid c_k = −1 + 2k/(bins − 1) (within 1e-4 of a grid point).
    """
    _check(x, "reconstruction_nll")
    xx = x.double().flatten(1).cpu()
    eps = torch.randn(xx.shape, generator=generator, dtype=torch.float64)
    if bins is None:
        return 0.5 * (eps.square() + math.log(2 * math.pi) - logsnr_max).sum(1)
    if not (isinstance(bins, int) and bins >= 2):
        raise ValueError(f"reconstruction_nll: bins must be an int >= 2 or None, got {bins!r}")
    delta = 2.0 / (bins - 1)
    index = (xx + 1) / delta
    off_grid = (index - index.round()).abs().max() if xx.numel() else 0.0
    if xx.min() < -1 - 1e-4 or xx.max() > 1 + 1e-4 or off_grid * delta > 1e-4:
        raise ValueError(f"reconstruction_nll: x must lie on the {bins}-level grid in [-1, 1] (data quantized to "
                         f"{bins} levels, scaled to [-1, 1]); got range [{float(xx.min()):.4g}, "
                         f"{float(xx.max()):.4g}] and a largest distance to the grid of {float(off_grid) * delta:.3g}")
    index = index.round()
    s0 = math.exp(-0.5 * logsnr_max)
    reach = min(bins - 1, int(math.ceil(12 * s0 / delta)) + 1)
    k = torch.arange(-reach, reach + 1, dtype=torch.float64)                                   # bin offsets
    total = torch.zeros(xx.shape[0], dtype=torch.float64)
    for row in range(xx.shape[0]):
        neighbour = index[row, :, None] + k                                                    # (d, 2r+1)
        # logit of bin c_j: −(x_σ − c_j)²/(2 s0²) with x_σ − c_j = s0 ε − (j − true) Δ
        logits = -0.5 * (eps[row, :, None] - k * delta / s0).square()
        logits = logits.masked_fill((neighbour < 0) | (neighbour > bins - 1), float("-inf"))
        total[row] = (torch.logsumexp(logits, -1) + 0.5 * eps[row].square()).sum()
    return total


def variational_bound(denoiser: Callable, x: Tensor, *, logsnr_min: float, logsnr_max: float, num_samples: int = 16,
                      bins: int | None = 256, center: float = 0.0, generator: torch.Generator | None = None,
                      **cond) -> dict[str, Tensor]:
    """The three VLB terms and their sum per example (``(B,)`` float64 nats each): prior, diffusion, reconstruction."""
    terms = {"prior": prior_kl(x, logsnr_min),
             "diffusion": diffusion_loss(denoiser, x, logsnr_min=logsnr_min, logsnr_max=logsnr_max,
                                         num_samples=num_samples, center=center, generator=generator, **cond),
             "reconstruction": reconstruction_nll(x, logsnr_max, bins=bins, generator=generator)}
    terms["total"] = terms["prior"] + terms["diffusion"] + terms["reconstruction"]
    return terms


def bits_per_dim(nats: Tensor, dims: int) -> Tensor:
    """Nats per example -> bits per dimension: nats / (d ln 2)."""
    if not (isinstance(dims, int) and dims >= 1):
        raise ValueError(f"bits_per_dim: dims must be a positive int, got {dims!r}")
    return nats / (dims * math.log(2.0))
