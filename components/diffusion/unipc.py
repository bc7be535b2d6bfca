"""UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of Diffusion Models"),
data-prediction form with the B(h) variants bh1 and bh2, as diffusers' ``UniPCMultistepScheduler``.

In VE σ space with λ = −log σ, h = λ_{i+1} − λ_i, the model's x0 predictions m_k and r_k = (λ_{i−k} − λ_i)/h,
D_k = (m_{i−k} − m_i)/r_k, one step from σ_i to σ_{i+1} of order p is

    predictor (UniP-p):  x̃ = (σ_{i+1}/σ_i) x_i − (e^{−h} − 1) m_i − B(h) Σ_{k<p} a_k D_k
    corrector (UniC-p):  x_{i+1} = (σ_{i+1}/σ_i) x_i − (e^{−h} − 1) m_i − B(h) (Σ_{k<p} c_k D_k + c_p (m̃ − m_i))

with m̃ = D(x̃, σ_{i+1}) — the model call the next step needs anyway, so the corrector is free. B(h) = −h (bh1) or
e^{−h} − 1 (bh2); the weights solve R a = b with R_{nk} = r_k^{n−1} (r_p = 1) and b_n = n! φ_{n+1}(−h)/B(h),
φ_1(z) = (e^z − 1)/z, φ_{n+1}(z) = (φ_n(z) − 1/n!)/z (UniPC eq. 5, Algorithm 2–3); a = 1/2 for p = 2. The
corrector runs after every step but the last (which has no next model call); orders warm up (1, 2, …) and step i
uses at most N − i (diffusers' ``lower_order_final``, on by default), so a final step to σ = 0 is x = m.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..registry import BadInput
from .samplers import _entry
from .sampling import Sampler


__all__ = ["UniPCSampler", "unipc_weights"]

VARIANTS = ("bh1", "bh2")


def unipc_weights(r: list[float], h: float, variant: str) -> tuple[float, list[float], list[float]]:
    """``(B(h), predictor weights a (p − 1), corrector weights c (p))`` for ratios ``r`` = [r_1 … r_{p−1}] and
    step h (float64 numpy solves)."""
    hh = -h
    b_h = hh if variant == "bh1" else math.expm1(hh)
    p = len(r) + 1
    nodes = np.array([*r, 1.0])
    rows, rhs = [], []
    h_phi_k, factorial = math.expm1(hh) / hh - 1, 1
    for n in range(1, p + 1):
        rows.append(nodes ** (n - 1))
        rhs.append(h_phi_k * factorial / b_h)
        factorial *= n + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    big_r, b = np.stack(rows), np.array(rhs)
    if p == 1:
        return b_h, [], [0.5]
    predictor = [0.5] if p == 2 else np.linalg.solve(big_r[:-1, :-1], b[:-1]).tolist()
    return b_h, list(predictor), np.linalg.solve(big_r, b).tolist()


@_entry("unipc", "Zhao et al. 2023 (UniPC), data prediction, bh1/bh2; diffusers UniPCMultistepScheduler",
        tiny={"order": 3, "variant": "bh1"},
        bad=[BadInput(match="order must be an integer in", init={"order": 4}),
             BadInput(match="variant must be one of", init={"variant": "bh3"})])
class UniPCSampler(Sampler):
    """UniPC multistep predictor-corrector of ``order`` (1–3; 2 by default) with ``variant`` bh1 or bh2 (default,
    as diffusers); ``corrector=False`` gives UniP alone. N denoiser calls, deterministic.

    ``(denoiser, x (B, ...), sigmas (N+1,)) -> x`` at sigmas[-1] (module docstring for the update).
    """

    key = "sampler/unipc"

    def __init__(self, order: int = 2, variant: str = "bh2", corrector: bool = True, progress: bool = False) -> None:
        super().__init__(progress)
        if int(order) != order or not 1 <= int(order) <= 3:
            raise ValueError(f"sampler/unipc: order must be an integer in [1, 3], got {order}")
        if variant not in VARIANTS:
            raise ValueError(f"sampler/unipc: variant must be one of {VARIANTS}, got {variant!r}")
        self.order, self.variant, self.corrector = int(order), variant, bool(corrector)

    def _sample(self, run, x, sigmas):
        s = sigmas.double().tolist()
        n = len(s) - 1
        lam = [-math.log(v) if v > 0 else math.inf for v in s]
        history: list[torch.Tensor] = []  # x0 predictions, newest first
        pending = None  # the last step's (x_i, base, B(h), [c_k D_k terms], c_p, m_i) for its corrector
        for i in run.steps(n):
            denoised = run.denoise(x, sigmas[i])
            run.report(i, x, sigmas[i], sigmas[i + 1], denoised)
            if pending is not None and self.corrector:
                base, b_h, correction, c_last, m_prev = pending
                x = base - b_h * (correction + c_last * (denoised - m_prev))
            history.insert(0, denoised)
            del history[self.order:]
            p = min(self.order, i + 1, n - i)
            ratio = s[i + 1] / s[i]
            h = lam[i + 1] - lam[i]
            if s[i + 1] == 0:  # h = inf: the step's limit, x = m_i (order 1 by lower_order_final)
                x, pending = denoised, None
                continue
            r = [(lam[i - k] - lam[i]) / h for k in range(1, p)]
            diffs = [(history[k] - denoised) / r[k - 1] for k in range(1, p)]
            b_h, a, c = unipc_weights(r, h, self.variant)
            base = ratio * x - math.expm1(-h) * denoised
            x = base - b_h * sum(w * d for w, d in zip(a, diffs, strict=True)) if diffs else base
            correction = sum(w * d for w, d in zip(c[:-1], diffs, strict=True)) if diffs else 0.0
            pending = (base, b_h, correction, c[-1], denoised)
        return x
