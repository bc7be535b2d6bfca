"""DEIS (Zhang & Chen 2023, "Fast Sampling of Diffusion Models with Exponential Integrator"), the log-ρ multistep
variant diffusers ships as ``DEISMultistepScheduler``.

In VE form the probability-flow ODE is dx/dρ = ε(x, ρ) with ρ = σ_VE (ε = (x − D)/ρ). DEIS integrates it exactly
over each step after replacing ε by its Lagrange polynomial through the last p evaluations *in u = log ρ*:

    x_{i+1} = x_i + Σ_j c_ij ε_{i−j},   c_ij = ∫_{ρ_i}^{ρ_{i+1}} ℓ_j(log ρ) dρ

(ℓ_j the Lagrange basis on the nodes log ρ_{i−k}); with ρ = e^u, ∫ u^k dρ = e^u P_k(u), P_0 = 1, P_k = u^k − k P_{k−1},
so every coefficient is exact. Order 1 is Euler in ρ (= DDIM). Orders warm up on the first steps and, on grids of
fewer than 15 steps, the last two steps use orders 1 and ≤ 2 (diffusers' ``lower_order_final``). A step to ρ = 0
(log ρ = −∞) is taken at order 1: x = D, the limit of every order.
"""

from __future__ import annotations

import math

import torch

from ..registry import BadInput
from .lms import lagrange_integrals, multistep
from .samplers import _entry
from .sampling import Sampler


__all__ = ["DEISSampler", "deis_coefficients"]


def _log_integral(coeffs: list[float], lo: float, hi: float) -> float:
    """∫_lo^hi Σ_k coeffs[k] (log ρ)^k dρ for 0 < lo, hi."""

    def antiderivative(rho: float) -> float:
        u, total, p = math.log(rho), 0.0, 1.0  # P_0
        for k, c in enumerate(coeffs):
            if k:
                p = u**k - k * p
            total += c * p
        return rho * total

    return antiderivative(hi) - antiderivative(lo)


def step_orders(steps: int, order: int, final_lower_below: int = 15) -> list[int]:
    """The order of every step: warm-up 1, 2, …; on grids of fewer than ``final_lower_below`` steps the last step
    is first order and the one before at most second (diffusers' ``lower_order_final``)."""
    orders = [min(order, i + 1) for i in range(steps)]
    if steps < final_lower_below:
        orders[-1] = 1
        if steps > 1:
            orders[-2] = min(orders[-2], 2)
    return orders


def deis_coefficients(sigmas: list[float], order: int) -> list[list[float]]:
    """``c[i][j]`` for every step i (``len(sigmas) − 1`` rows, ``order`` columns, zeros past step i's order)."""
    rows = []
    orders = step_orders(len(sigmas) - 1, order)
    for i, p in enumerate(orders):
        if sigmas[i + 1] == 0:  # the limit of every order: x = x − ρ_i ε_i = D
            rows.append([-sigmas[i]] + [0.0] * (order - 1))
            continue
        row = lagrange_integrals([math.log(sigmas[i - k]) for k in range(p)],
                                 lambda c, i=i: _log_integral(c, sigmas[i], sigmas[i + 1]))
        rows.append(row + [0.0] * (order - p))
    return rows


@_entry("deis", "Zhang & Chen 2023 (DEIS), log-ρ multistep; diffusers DEISMultistepScheduler", tiny={"order": 3},
        bad=[BadInput(match="order must be an integer in", init={"order": 4})])
class DEISSampler(Sampler):
    """DEIS log-ρ multistep of ``order`` (1–3; 2 by default, as diffusers); N denoiser calls, deterministic.

    ``(denoiser, x (B, ...), sigmas (N+1,)) -> x`` at sigmas[-1]; x_{i+1} = x_i + Σ_j c_ij ε_{i−j} (module docstring).
    """

    key = "sampler/deis"

    def __init__(self, order: int = 2, progress: bool = False) -> None:
        super().__init__(progress)
        if int(order) != order or not 1 <= int(order) <= 3:
            raise ValueError(f"sampler/deis: order must be an integer in [1, 3], got {order}")
        self.order = int(order)

    def _sample(self, run, x, sigmas):
        coeffs = torch.tensor(deis_coefficients(sigmas.double().tolist(), self.order), dtype=x.dtype,
                              device=x.device)
        return multistep(run, x, sigmas, coeffs, self.order)  # ε = (x − D)/ρ is the slope dx/dρ
