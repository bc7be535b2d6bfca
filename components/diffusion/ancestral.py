"""Samplers from the VP papers, run in VE σ space: DDPM ancestral (VDM's γ), DDIM (η), ancestral + Langevin
predictor–corrector (VDM), and DDIM inversion.

With x = z/α (VE) the VP posterior q(z_s | z_t, x̂) of VDM §2 becomes, for r = σ_s²/σ_t² (VE levels, = e^{λ_t − λ_s}):
mean r x_t + (1 − r) x̂ and, divided by α_s², variance (σ̃²_{s|t})^{1−γ} (σ²_{t|s})^{γ} with
σ̃²_{s|t} = (1 − r) σ_s², σ²_{t|s} = (1 − r) σ_t² (VP σ's). DDIM with η = 1 is the γ = 0 ancestral step.
"""

from __future__ import annotations

import torch

from ..registry import BadInput, register
from .sampling import (
    INVERSION_BAD_INPUTS,
    SAMPLER_BAD_INPUTS,
    Sampler,
    inversion_inputs,
    safe_div,
    sampler_inputs,
    sampler_output_shape,
    vp_levels,
)


__all__ = ["AncestralPCSampler", "DDIMInversion", "DDIMSampler", "DDPMSampler", "ddpm_coefficients"]


def ddpm_coefficients(sigmas, gamma: float = 0.0):
    """(r, std) per step of VDM's ancestral step in VE form: x' = lerp(x̂, x, r) + std ε."""
    s, s_next = sigmas[:-1], sigmas[1:]
    r = safe_div(s_next.square(), s.square())
    alpha_t, sig_t = vp_levels(s)
    alpha_s, sig_s = vp_levels(s_next)
    lower = (1 - r) * sig_s.square()   # σ̃²_{s|t}: the true posterior variance
    upper = (1 - r) * sig_t.square()   # σ²_{t|s}: the forward transition variance
    var = lower.clamp_min(0) ** (1 - gamma) * upper.clamp_min(0) ** gamma / alpha_s.square()
    std = torch.where(s_next > 0, var.sqrt(), torch.zeros_like(var))
    return r, std


def _entry(name, paper, tiny=None, bad=()):
    return register("sampler", name, paper=paper, tiny=tiny or {}, inputs=sampler_inputs,
                    output_shape=sampler_output_shape, bad_inputs=(*SAMPLER_BAD_INPUTS, *bad))


def _check_unit(where: str, name: str, value: float) -> float:
    if not 0 <= value <= 1:
        raise ValueError(f"{where}: {name} must lie in [0, 1], got {value}")
    return float(value)


@_entry("ddpm", "Ho et al. 2020 (DDPM); Ho et al. 2022 (VDM) γ-interpolated variance", tiny={"gamma": 0.3},
        bad=[BadInput(match="gamma must lie in", init={"gamma": 1.5})])
class DDPMSampler(Sampler):
    """Ancestral sampling from q(z_s | z_t, x̂) with variance (σ̃²_{s|t})^{1−γ}(σ²_{t|s})^γ (VDM; γ = 0: DDPM's β̃).

    ``(denoiser, x, sigmas) -> x``; one noise draw per step (zero-scaled on a final σ' = 0).
    """

    key = "sampler/ddpm"

    def __init__(self, gamma: float = 0.0, progress: bool = False) -> None:
        super().__init__(progress)
        self.gamma = _check_unit("sampler/ddpm", "gamma", gamma)

    def _sample(self, run, x, sigmas):
        r, std = ddpm_coefficients(sigmas, self.gamma)
        for i in run.steps(len(sigmas) - 1):
            denoised = run.denoise(x, sigmas[i])
            run.report(i, x, sigmas[i], sigmas[i + 1], denoised)
            x = torch.lerp(denoised, x, r[i]) + std[i] * run.noise(x)
        return x


def ddim_coefficients(sigmas, eta: float):
    """(ratio, std) per DDIM step in VE form: x' = x̂ + ratio (x − x̂) + std ε (Song et al. 2021, eq. 12)."""
    s, s_next = sigmas[:-1], sigmas[1:]
    _, sig_t = vp_levels(s)
    alpha_s, sig_s = vp_levels(s_next)
    alpha_t = torch.rsqrt(1 + s.square())
    var_vp = safe_div(sig_s.square(), sig_t.square()) * (1 - alpha_t.square() / alpha_s.square())
    std = eta * var_vp.clamp_min(0).sqrt() / alpha_s
    ratio = safe_div((s_next.square() - std.square()).clamp_min(0).sqrt(), s)
    return ratio, std


@_entry("ddim", "Song et al. 2021 (DDIM)", tiny={"eta": 0.5},
        bad=[BadInput(match="eta must be >= 0", init={"eta": -1.0})])
class DDIMSampler(Sampler):
    """DDIM: x' = x̂ + sqrt(σ'² − c²) ε̂ + c ε with ε̂ = (x − x̂)/σ (VE), c = η × the DDPM posterior std.

    η = 0 is deterministic (and equals Euler); η = 1 is DDPM's ancestral step. Noise is drawn only when η > 0.
    """

    key = "sampler/ddim"

    def __init__(self, eta: float = 0.0, progress: bool = False) -> None:
        super().__init__(progress)
        if not eta >= 0:
            raise ValueError(f"sampler/ddim: eta must be >= 0, got {eta}")
        self.eta = float(eta)

    def _sample(self, run, x, sigmas):
        ratio, std = ddim_coefficients(sigmas, self.eta)
        for i in run.steps(len(sigmas) - 1):
            denoised = run.denoise(x, sigmas[i])
            run.report(i, x, sigmas[i], sigmas[i + 1], denoised)
            x = torch.lerp(denoised, x, ratio[i])
            if self.eta > 0:
                x = x + std[i] * run.noise(x)
        return x


@_entry("ancestral_pc", "Ho et al. 2022 (VDM), predictor-corrector; Song et al. 2021 (score SDE)",
        tiny={"gamma": 0.0, "delta": 0.1},
        bad=[BadInput(match="delta must be positive", init={"delta": 0.0})])
class AncestralPCSampler(Sampler):
    """VDM's predictor–corrector: an ancestral step (γ), then ``corrector_steps`` Langevin corrections at σ'.

    Corrector (VP): z ← z − ½ δ σ_s ε̂(z) + √δ σ_s ε'; in VE: x ← x − ½ δ (x − D(x, σ')) + √δ σ' ε'.
    No correction after a final step to σ' = 0. Denoiser calls: N + corrector_steps × (N − 1).
    """

    key = "sampler/ancestral_pc"

    def __init__(self, gamma: float = 0.0, delta: float = 0.1, corrector_steps: int = 1,
                 progress: bool = False) -> None:
        super().__init__(progress)
        self.gamma = _check_unit("sampler/ancestral_pc", "gamma", gamma)
        if not delta > 0:
            raise ValueError(f"sampler/ancestral_pc: delta must be positive, got {delta}")
        if int(corrector_steps) < 0:
            raise ValueError(f"sampler/ancestral_pc: corrector_steps must be >= 0, got {corrector_steps}")
        self.delta, self.corrector_steps = float(delta), int(corrector_steps)

    def _sample(self, run, x, sigmas):
        n = len(sigmas) - 1
        r, std = ddpm_coefficients(sigmas, self.gamma)
        langevin = (self.delta**0.5) * sigmas[1:]
        final_is_zero = bool(sigmas[-1] == 0)  # one host read, before the loop
        for i in run.steps(n):
            denoised = run.denoise(x, sigmas[i])
            run.report(i, x, sigmas[i], sigmas[i + 1], denoised)
            x = torch.lerp(denoised, x, r[i]) + std[i] * run.noise(x)
            if i < n - 1 or not final_is_zero:
                for _ in range(self.corrector_steps):
                    corrected = run.denoise(x, sigmas[i + 1])
                    x = torch.lerp(x, corrected, 0.5 * self.delta) + langevin[i] * run.noise(x)
        return x


@register("sampler", "ddim_inversion", paper="Song et al. 2021 (DDIM), §4.3; Mokady et al. 2023",
          tiny={"fixed_point_steps": 2}, inputs=inversion_inputs, output_shape=sampler_output_shape,
          bad_inputs=[*INVERSION_BAD_INPUTS, BadInput(match="fixed_point_steps", init={"fixed_point_steps": -1})])
class DDIMInversion(Sampler):
    """DDIM run backwards, data to noise, over an increasing grid: x' = x + (σ' − σ) ε̂, ε̂ = (x − D(x, σ'))/σ'.

    ε̂ is evaluated at the target level σ' (so the grid may start at σ = 0, as diffusers' DDIMInverseScheduler
    does). ``fixed_point_steps`` > 0 refines x' by iterating x' ← x + (σ' − σ)(x' − D(x', σ'))/σ', whose fixed
    point inverts the η = 0 DDIM step exactly. Denoiser calls: N (1 + fixed_point_steps).
    """

    key = "sampler/ddim_inversion"
    increasing = True

    def __init__(self, fixed_point_steps: int = 0, progress: bool = False) -> None:
        super().__init__(progress)
        if int(fixed_point_steps) < 0:
            raise ValueError(f"sampler/ddim_inversion: fixed_point_steps must be >= 0, got {fixed_point_steps}")
        self.fixed_point_steps = int(fixed_point_steps)

    def _sample(self, run, x, sigmas):
        k = (sigmas[1:] - sigmas[:-1]) / sigmas[1:]
        for i in run.steps(len(sigmas) - 1):
            denoised = run.denoise(x, sigmas[i + 1])
            run.report(i, x, sigmas[i], sigmas[i + 1], denoised)
            x_next = torch.lerp(x, denoised, -k[i])
            for _ in range(self.fixed_point_steps):
                x_next = x + k[i] * (x_next - run.denoise(x_next, sigmas[i + 1]))
            x = x_next
        return x
