"""Linear multistep (LMS) in VE σ: Adams–Bashforth on the probability-flow ODE dx/dσ = (x − D)/σ, variable steps.

x_{i+1} = x_i + Σ_j c_ij d_{i−j},  d = (x − D(x, σ))/σ,  c_ij = ∫_{σ_i}^{σ_{i+1}} ℓ_j(τ) dτ

with ℓ_j the Lagrange basis polynomial through σ_i, σ_{i−1}, …, σ_{i−p+1} that is 1 at σ_{i−j} (p = min(i + 1, order)).
The integrals are exact: each ℓ_j is expanded to monomial coefficients and integrated term by term, in float64, once
per grid before the loop (k-diffusion's ``sample_lms`` integrates them numerically with scipy's ``quad``; both are exact
to rounding for polynomials of this degree).
"""

from __future__ import annotations

import torch

from ..registry import BadInput
from .samplers import _entry
from .sampling import Sampler


__all__ = ["LMSSampler", "lagrange_integrals", "lms_coefficients", "multistep"]


def _poly_mul(a: list[float], b: list[float]) -> list[float]:
    out = [0.0] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i + j] += x * y
    return out


def _integral(coeffs: list[float], lo: float, hi: float) -> float:
    """∫_lo^hi Σ_k coeffs[k] τ^k dτ."""
    return sum(c * (hi ** (k + 1) - lo ** (k + 1)) / (k + 1) for k, c in enumerate(coeffs))


def lagrange_integrals(nodes: list[float], integrate) -> list[float]:
    """[∫ ℓ_j] for the Lagrange basis ℓ_j on ``nodes`` (ℓ_j(nodes[k]) = δ_jk), each integrated by
    ``integrate(coeffs)`` over the step (``coeffs``: the polynomial's coefficients, constant first)."""
    row = []
    for j in range(len(nodes)):
        basis = [1.0]
        for k in range(len(nodes)):
            if k != j:  # (τ − τ_k) / (τ_j − τ_k)
                den = nodes[j] - nodes[k]
                basis = _poly_mul(basis, [-nodes[k] / den, 1.0 / den])
        row.append(integrate(basis))
    return row


def lms_coefficients(sigmas: list[float], order: int) -> list[list[float]]:
    """``c[i][j]`` for every step i of the grid (``len(sigmas) − 1`` rows, ``order`` columns, zeros past step i's p)."""
    rows = []
    for i in range(len(sigmas) - 1):
        p = min(i + 1, order)
        row = lagrange_integrals([sigmas[i - k] for k in range(p)],
                                 lambda c, i=i: _integral(c, sigmas[i], sigmas[i + 1]))
        rows.append(row + [0.0] * (order - p))
    return rows


def multistep(run, x, sigmas, coeffs: torch.Tensor, order: int):
    """x_{i+1} = x_i + Σ_j c_ij d_{i−j} with d = (x − D)/σ the ODE's slope at the last ``order`` levels (LMS, DEIS)."""
    slopes: list[torch.Tensor] = []
    for i in run.steps(len(sigmas) - 1):
        denoised = run.denoise(x, sigmas[i])
        run.report(i, x, sigmas[i], sigmas[i + 1], denoised)
        slopes.insert(0, (x - denoised) / sigmas[i])
        del slopes[order:]
        for j, d in enumerate(slopes):
            x = x + coeffs[i, j] * d
    return x


@_entry("lms", "k-diffusion sample_lms (Crowson); Karras et al. 2022 §3 (linear multistep)", tiny={"order": 4},
        bad=[BadInput(match="order must be an integer in", init={"order": 5})])
class LMSSampler(Sampler):
    """Linear multistep of ``order`` (1–4; 4 by default) on the PF-ODE; N denoiser calls, deterministic.

    ``(denoiser, x, sigmas) -> x``; the first steps use the orders the history allows (1, 2, 3, …).
    """

    key = "sampler/lms"

    def __init__(self, order: int = 4, progress: bool = False) -> None:
        super().__init__(progress)
        if not 1 <= int(order) <= 4 or int(order) != order:
            raise ValueError(f"sampler/lms: order must be an integer in [1, 4], got {order}")
        self.order = int(order)

    def _sample(self, run, x, sigmas):
        coeffs = torch.tensor(lms_coefficients(sigmas.double().tolist(), self.order), dtype=x.dtype,
                              device=x.device)
        return multistep(run, x, sigmas, coeffs, self.order)
