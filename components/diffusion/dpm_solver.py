"""Second-order single-step samplers of k-diffusion in VE σ: DPM-Solver-2, its ancestral form, DPM-Solver++(2S) a.

Each is a registry entry with the contract of ``sampling.py`` and k-diffusion's knob names. The midpoint of a step
σ → σ' is the geometric mean σ_mid = sqrt(σ σ') (half-way in log σ). Per-step coefficients are tensors computed once;
which steps fall back to Euler (those whose target level is 0) is read from the grid once, before the loop.
"""

from __future__ import annotations

import torch

from ..registry import BadInput
from .samplers import _entry, ancestral_split, churn_levels
from .sampling import Sampler


__all__ = ["DPM2AncestralSampler", "DPM2Sampler", "DPMpp2SAncestralSampler"]


def _check_eta(eta: float, key: str) -> float:
    if not eta >= 0:
        raise ValueError(f"{key}: eta must be >= 0, got {eta}")
    return float(eta)


@_entry("dpm_2", "Lu et al. 2022 (DPM-Solver-2); k-diffusion sample_dpm_2 (Crowson), with EDM churn",
        bad=[BadInput(match="s_churn must be >= 0", init={"s_churn": -1.0})])
class DPM2Sampler(Sampler):
    """DPM-Solver-2 with EDM churn: d = (x − D(x, σ̂))/σ̂, x_mid = x + d (σ_mid − σ̂), σ_mid = sqrt(σ̂ σ'),
    x' = x + d(x_mid, σ_mid) (σ' − σ̂); Euler on a final step to σ' = 0. 2N − 1 denoiser calls.

    Noise draws (``noise_sampler(k)``), only when ``s_churn > 0``: one per step, before its first denoiser call
    (k-diffusion draws ``torch.randn_like(x)`` at every step, scaled by 0 outside [s_tmin, s_tmax]).
    """

    key = "sampler/dpm_2"

    def __init__(self, s_churn: float = 0.0, s_tmin: float = 0.0, s_tmax: float = float("inf"),
                 s_noise: float = 1.0, progress: bool = False) -> None:
        super().__init__(progress)
        if not s_churn >= 0:
            raise ValueError(f"sampler/dpm_2: s_churn must be >= 0, got {s_churn}")
        self.s_churn, self.s_tmin, self.s_tmax, self.s_noise = float(s_churn), float(s_tmin), float(s_tmax), s_noise

    def _sample(self, run, x, sigmas):
        n = len(sigmas) - 1
        s_hat, churn = churn_levels(sigmas, self.s_churn, self.s_tmin, self.s_tmax, self.s_noise)
        s_next = sigmas[1:]
        mid = (s_hat * s_next).sqrt()
        euler = (s_next == 0).tolist()  # one host read, before the loop
        for i in run.steps(n):
            if self.s_churn > 0:
                x = x + churn[i] * run.noise(x)
            denoised = run.denoise(x, s_hat[i])
            run.report(i, x, s_hat[i], s_next[i], denoised)
            d = (x - denoised) / s_hat[i]
            if euler[i]:
                x = x + d * (s_next[i] - s_hat[i])
                continue
            x_mid = x + d * (mid[i] - s_hat[i])
            d_mid = (x_mid - run.denoise(x_mid, mid[i])) / mid[i]
            x = x + d_mid * (s_next[i] - s_hat[i])
        return x


@_entry("dpm_2_ancestral", "Lu et al. 2022 (DPM-Solver-2); k-diffusion sample_dpm_2_ancestral (Crowson)",
        tiny={"eta": 1.0}, bad=[BadInput(match="eta must be >= 0", init={"eta": -0.5})])
class DPM2AncestralSampler(Sampler):
    """DPM-Solver-2 down to the ancestral level σ_down, then noise of scale σ_up (VE ancestral split with ``eta``).

    A step whose σ_down is 0 is an Euler step to 0 and adds no noise. Noise draws: one per step with σ_down > 0,
    after its second denoiser call (k-diffusion's order).
    """

    key = "sampler/dpm_2_ancestral"

    def __init__(self, eta: float = 1.0, s_noise: float = 1.0, progress: bool = False) -> None:
        super().__init__(progress)
        self.eta, self.s_noise = _check_eta(eta, "sampler/dpm_2_ancestral"), float(s_noise)

    def _sample(self, run, x, sigmas):
        ratio, up = ancestral_split(sigmas, self.eta)
        s = sigmas[:-1]
        down = ratio * s
        mid = (s * down).sqrt()
        euler = (down == 0).tolist()
        for i in run.steps(len(sigmas) - 1):
            denoised = run.denoise(x, s[i])
            run.report(i, x, s[i], sigmas[i + 1], denoised)
            d = (x - denoised) / s[i]
            if euler[i]:
                x = x + d * (down[i] - s[i])
                continue
            x_mid = x + d * (mid[i] - s[i])
            d_mid = (x_mid - run.denoise(x_mid, mid[i])) / mid[i]
            x = x + d_mid * (down[i] - s[i])
            x = x + run.noise(x, s[i], sigmas[i + 1]) * (self.s_noise * up[i])
        return x


@_entry("dpmpp_2s_ancestral", "Lu et al. 2022 (DPM-Solver++(2S)); k-diffusion sample_dpmpp_2s_ancestral",
        tiny={"eta": 1.0}, bad=[BadInput(match="eta must be >= 0", init={"eta": -0.5})])
class DPMpp2SAncestralSampler(Sampler):
    """DPM-Solver++(2S) to σ_down, then noise σ_up: with λ = −log σ, h = λ_down − λ and the midpoint σ_s = sqrt(σ σ_down),
    x_s = (σ_s/σ) x − expm1(−h/2) D(x, σ),  x' = (σ_down/σ) x − expm1(−h) D(x_s, σ_s).

    Euler where σ_down = 0. Noise draws: one per step whose σ' > 0, at its end.
    """

    key = "sampler/dpmpp_2s_ancestral"

    def __init__(self, eta: float = 1.0, s_noise: float = 1.0, progress: bool = False) -> None:
        super().__init__(progress)
        self.eta, self.s_noise = _check_eta(eta, "sampler/dpmpp_2s_ancestral"), float(s_noise)

    def _sample(self, run, x, sigmas):
        ratio, up = ancestral_split(sigmas, self.eta)
        s = sigmas[:-1]
        down = ratio * s
        euler = (down == 0).tolist()
        noisy = (sigmas[1:] > 0).tolist()
        safe_down = torch.where(down > 0, down, s)
        h = torch.log(s) - torch.log(safe_down)
        mid = (s * safe_down).sqrt()
        c_mid, c_end = torch.expm1(-0.5 * h), torch.expm1(-h)
        for i in run.steps(len(sigmas) - 1):
            denoised = run.denoise(x, s[i])
            run.report(i, x, s[i], sigmas[i + 1], denoised)
            if euler[i]:
                x = x + (x - denoised) / s[i] * (down[i] - s[i])
            else:
                x_mid = (mid[i] / s[i]) * x - c_mid[i] * denoised
                x = (down[i] / s[i]) * x - c_end[i] * run.denoise(x_mid, mid[i])
            if noisy[i]:
                x = x + run.noise(x, s[i], sigmas[i + 1]) * (self.s_noise * up[i])
        return x
