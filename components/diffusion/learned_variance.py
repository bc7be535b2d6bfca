"""The variational-bound term that trains a learned reverse-process variance (Nichol & Dhariwal 2021, improved DDPM).

A network with a learned Σ (DiT, ``out_channels = 2C``) outputs, besides its ε prediction, v ∈ [−1, 1] per element;
the reverse step's log-variance interpolates between the two DDPM extremes (improved DDPM, eq. 15):

    log Σ_θ = f log β_i + (1 − f) log β̃_i,   f = (v + 1) / 2,   β̃_i = β_i (1 − ᾱ_{i−1}) / (1 − ᾱ_i)

and is trained by the bound's term L_i = KL(q(x_{i−1} | x_i, x0) ‖ p_θ(x_{i−1} | x_i)) for i ≥ 1, and at i = 0 by the
decoder NLL −log p_θ(x0 | x_1) of a Gaussian discretised to 256 bins on [−1, 1]; both in bits per dimension. The
mean of p_θ uses the *detached* ε prediction, so this term moves Σ only and the MSE on ε moves the mean (L_hybrid =
L_simple + L_vlb; DiT uses the sum, unweighted).

Posterior q(x_{i−1} | x_i, x0) = N(μ̃, β̃ I), μ̃ = √ᾱ_{i−1} β_i / (1 − ᾱ_i) x0 + √α_i (1 − ᾱ_{i−1}) / (1 − ᾱ_i) x_i;
log β̃ is clipped at i = 0 (β̃_0 = 0) to log β̃_1, as in the reference code.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._common import expand_to


__all__ = ["learned_variance_vlb", "posterior"]


def _tables(alphas_cumprod: Tensor, device) -> tuple[Tensor, ...]:
    """(ᾱ, log β, log β̃ clipped, μ̃'s x0 and x_i coefficients) per step, float64 on ``device``."""
    abar = alphas_cumprod.double()
    prev = torch.cat([abar.new_ones(1), abar[:-1]])
    beta = 1 - abar / prev
    post_var = beta * (1 - prev) / (1 - abar)
    post_log_var = torch.log(torch.cat([post_var[1:2], post_var[1:]]))
    coef_x0 = beta * prev.sqrt() / (1 - abar)
    coef_xt = (1 - prev) * (1 - beta).sqrt() / (1 - abar)
    return tuple(v.to(device) for v in (abar, torch.log(beta), post_log_var, coef_x0, coef_xt))


def _at(table: Tensor, i: Tensor, like: Tensor) -> Tensor:
    return expand_to(table[i].to(like.dtype), like, "index")


def _posterior(tables, i: Tensor, x0: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
    _, _, post_log_var, coef_x0, coef_xt = tables
    return _at(coef_x0, i, z) * x0 + _at(coef_xt, i, z) * z, _at(post_log_var, i, z)


def posterior(alphas_cumprod: Tensor, index: Tensor, x0: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
    """(μ̃, log β̃ clipped) of q(x_{i−1} | x_i = z, x0) at integer steps ``index`` ``(B,)``; x0, z ``(B, ...)``."""
    return _posterior(_tables(alphas_cumprod, z.device), index.long(), x0, z)


def _normal_kl(mean1, log_var1, mean2, log_var2):
    return 0.5 * (-1.0 + log_var2 - log_var1 + torch.exp(log_var1 - log_var2) + (mean1 - mean2).square()
                  * torch.exp(-log_var2))


def _discretized_gaussian_nll(x0: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
    """−log P(x0) of N(mean, exp(log_var)) integrated over x0's 1/127.5-wide bin (edge bins open-ended), in nats."""
    inv_std = torch.exp(-0.5 * log_var)
    upper = torch.special.ndtr(inv_std * (x0 - mean + 1 / 255))
    lower = torch.special.ndtr(inv_std * (x0 - mean - 1 / 255))
    prob = torch.where(x0 < -0.999, upper, torch.where(x0 > 0.999, 1 - lower, upper - lower))
    return -torch.log(prob.clamp_min(1e-12))


def learned_variance_vlb(alphas_cumprod: Tensor, index: Tensor, x0: Tensor, z: Tensor, eps_pred: Tensor,
                         var_pred: Tensor) -> Tensor:
    """Per-sample L_vlb ``(B,)`` in bits/dim for a learned-range Σ (see the module docstring).

    alphas_cumprod: ᾱ_0..ᾱ_{N−1} ``(N,)``; index: integer steps ``(B,)`` in [0, N − 1]; x0, z = √ᾱ x0 + √(1−ᾱ) ε,
    eps_pred (detached inside: only Σ learns from this term) and var_pred (the network's v) all ``(B, C, ...)``.
    """
    if not (x0.shape == z.shape == eps_pred.shape == var_pred.shape):
        raise ValueError(f"learned_variance_vlb: x0, z, eps_pred and var_pred must have one shape, got "
                         f"{tuple(x0.shape)}, {tuple(z.shape)}, {tuple(eps_pred.shape)}, {tuple(var_pred.shape)}")
    n = alphas_cumprod.numel()
    if index.device.type == "cpu" and bool(((index < 0) | (index > n - 1) | (index != index.round())).any()):
        # checked where it costs no device sync; the objective passes rounded indices in [0, N − 1]
        raise ValueError(f"learned_variance_vlb: index must hold integers in [0, {n - 1}], got {index.tolist()}")
    tables = _tables(alphas_cumprod, z.device)
    abar, log_beta = tables[0], tables[1]
    i = index.long()
    a = _at(abar, i, z)
    x0_pred = (z - (1 - a).sqrt() * eps_pred.detach()) / a.sqrt()
    model_mean, _ = _posterior(tables, i, x0_pred, z)
    true_mean, true_log_var = _posterior(tables, i, x0, z)
    frac = (var_pred + 1) / 2
    model_log_var = frac * _at(log_beta, i, z) + (1 - frac) * true_log_var
    kl = _normal_kl(true_mean, true_log_var, model_mean, model_log_var).flatten(1).mean(1)
    nll = _discretized_gaussian_nll(x0, model_mean, model_log_var).flatten(1).mean(1)
    return torch.where(i == 0, nll, kl) / math.log(2.0)
