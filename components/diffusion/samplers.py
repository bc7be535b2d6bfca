"""ODE and ancestral samplers in VE σ space: Euler, Euler ancestral, Heun (with churn), DPM-Solver++(2M).

Each is a registry entry with the contract of ``sampling.py``; knobs are constructor arguments
(``build("sampler/heun", s_churn=1.0)``). Per-step coefficients are precomputed tensors; an Euler-type update is
one fused ``lerp``: x' = D + (σ'/σ)(x − D).
"""

from __future__ import annotations

import torch

from ..registry import register
from .sampling import SAMPLER_BAD_INPUTS, SQRT2_MINUS_1, Sampler, safe_div, sampler_inputs, sampler_output_shape


__all__ = ["DPMpp2MSampler", "EulerAncestralSampler", "EulerSampler", "HeunSampler"]


def _entry(name: str, paper: str, tiny: dict | None = None, bad=()):
    return register("sampler", name, paper=paper, tiny=tiny or {}, inputs=sampler_inputs,
                    output_shape=sampler_output_shape, bad_inputs=[*SAMPLER_BAD_INPUTS, *bad])


@_entry("euler", "Karras et al. 2022 (EDM), Algorithm 1 without the Heun correction")
class EulerSampler(Sampler):
    """Euler on the probability-flow ODE dx/dσ = (x − D(x, σ))/σ: x' = D + (σ'/σ)(x − D) (= DDIM with η = 0).

    ``(denoiser, x (B, ...), sigmas (N+1,)) -> x`` at sigmas[-1]; N denoiser calls.
    """

    key = "sampler/euler"

    def _sample(self, run, x, sigmas):
        ratio = safe_div(sigmas[1:], sigmas[:-1])
        for i in run.steps(len(sigmas) - 1):
            denoised = run.denoise(x, sigmas[i])
            run.report(i, x, sigmas[i], sigmas[i + 1], denoised)
            x = torch.lerp(denoised, x, ratio[i])
        return x


def ancestral_split(sigmas, eta: float = 1.0):
    """(σ_down/σ, σ_up) per step of the VE ancestral step: σ_up² = η² σ'²(σ² − σ'²)/σ², σ_down² = σ'² − σ_up²."""
    s, s_next = sigmas[:-1], sigmas[1:]
    up = (eta * safe_div(s_next * (s.square() - s_next.square()).clamp_min(0).sqrt(), s)).minimum(s_next)
    down = (s_next.square() - up.square()).clamp_min(0).sqrt()
    return safe_div(down, s), up


@_entry("euler_ancestral", "k-diffusion sample_euler_ancestral (Crowson); Karras et al. 2022")
class EulerAncestralSampler(Sampler):
    """Euler step down to σ_down, then fresh noise of scale σ_up (VE ancestral split; η = 1 is the full posterior).

    ``(denoiser, x, sigmas) -> x``; one noise draw per step (also at a final σ' = 0, scaled by 0).
    """

    key = "sampler/euler_ancestral"

    def __init__(self, eta: float = 1.0, progress: bool = False) -> None:
        super().__init__(progress)
        if not eta >= 0:
            raise ValueError(f"sampler/euler_ancestral: eta must be >= 0, got {eta}")
        self.eta = float(eta)

    def _sample(self, run, x, sigmas):
        ratio, up = ancestral_split(sigmas, self.eta)
        for i in run.steps(len(sigmas) - 1):
            denoised = run.denoise(x, sigmas[i])
            run.report(i, x, sigmas[i], sigmas[i + 1], denoised)
            x = torch.lerp(denoised, x, ratio[i]) + up[i] * run.noise(x)
        return x


def churn_levels(sigmas, s_churn: float, s_tmin: float, s_tmax: float, s_noise: float):
    """EDM's churn per step: (σ̂ = σ(1 + γ), the std sqrt(σ̂² − σ²)·s_noise of the noise that raises σ to σ̂), with
    γ = min(s_churn/N, √2 − 1) for σ in [s_tmin, s_tmax], else 0."""
    n = len(sigmas) - 1
    s = sigmas[:-1]
    inside = (s >= s_tmin) & (s <= s_tmax)
    gamma = torch.where(inside, torch.full_like(s, min(s_churn / n, SQRT2_MINUS_1)), torch.zeros_like(s))
    s_hat = s * (1 + gamma)
    return s_hat, (s_hat.square() - s.square()).clamp_min(0).sqrt() * s_noise


@_entry("heun", "Karras et al. 2022 (EDM), Algorithm 2", tiny={"s_churn": 1.0})
class HeunSampler(Sampler):
    """Heun's second-order method with EDM's stochastic churn (s_churn = 0: deterministic Heun).

    Per step: σ̂ = σ(1 + γ), γ = min(s_churn/N, √2 − 1) for σ in [s_tmin, s_tmax]; x̂ = x + sqrt(σ̂² − σ²) s_noise ε;
    Euler to σ', then the trapezoid correction (skipped on a final step to σ' = 0). 2N − 1 denoiser calls.
    """

    key = "sampler/heun"

    def __init__(self, s_churn: float = 0.0, s_tmin: float = 0.0, s_tmax: float = float("inf"),
                 s_noise: float = 1.0, progress: bool = False) -> None:
        super().__init__(progress)
        if not s_churn >= 0:
            raise ValueError(f"sampler/heun: s_churn must be >= 0, got {s_churn}")
        self.s_churn, self.s_tmin, self.s_tmax, self.s_noise = float(s_churn), float(s_tmin), float(s_tmax), s_noise

    def _sample(self, run, x, sigmas):
        n = len(sigmas) - 1
        s_hat, churn = churn_levels(sigmas, self.s_churn, self.s_tmin, self.s_tmax, self.s_noise)
        dt = sigmas[1:] - s_hat
        final_is_zero = bool(sigmas[-1] == 0)  # one host read, before the loop
        for i in run.steps(n):
            if self.s_churn > 0:
                x = x + churn[i] * run.noise(x)
            denoised = run.denoise(x, s_hat[i])
            run.report(i, x, s_hat[i], sigmas[i + 1], denoised)
            d = (x - denoised) / s_hat[i]
            x_next = x + d * dt[i]
            if i < n - 1 or not final_is_zero:
                d_next = (x_next - run.denoise(x_next, sigmas[i + 1])) / sigmas[i + 1]
                x_next = x + (d + d_next) * (0.5 * dt[i])
            x = x_next
        return x


@_entry("dpmpp_2m", "Lu et al. 2022 (DPM-Solver++), multistep second order")
class DPMpp2MSampler(Sampler):
    """DPM-Solver++(2M) in VE form: with h = ln(σ/σ'), r = h_prev/h,
    x' = (σ'/σ) x + (1 − σ'/σ) [(1 + 1/2r) D − (1/2r) D_prev]; first order on the first step and a final σ' = 0.
    """

    key = "sampler/dpmpp_2m"

    def _sample(self, run, x, sigmas):
        ratio = safe_div(sigmas[1:], sigmas[:-1])
        h = torch.log(sigmas[:-1]) - torch.log(sigmas[1:])  # inf on a final step to 0
        rho = torch.cat([h.new_zeros(1), h[:-1] / h[1:]])
        second = torch.isfinite(h) & (rho > 0)
        weight = torch.where(second, (1 - ratio) / (2 * torch.where(second, rho, torch.ones_like(rho))),
                             torch.zeros_like(rho))
        prev = None
        for i in run.steps(len(sigmas) - 1):
            denoised = run.denoise(x, sigmas[i])
            run.report(i, x, sigmas[i], sigmas[i + 1], denoised)
            x = torch.lerp(denoised, x, ratio[i])
            if prev is not None:
                x = torch.addcmul(x, denoised - prev, weight[i])
            prev = denoised
        return x
