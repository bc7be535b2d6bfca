"""Stochastic DPM-Solver++ samplers of k-diffusion in VE σ: DPM++ SDE (2S, r = 1/2), 2M SDE, 3M SDE.

Written with λ = −log σ and h = λ' − λ per step. ``eta`` scales the injected noise (0: the ODE solver), ``s_noise``
its standard deviation. Fresh noise comes from ``run.noise`` in k-diffusion's order (documented per class), so a
``noise_sampler(k)`` replays k-diffusion's draws one for one; ``brownian_noise`` (torchsde) gives draws that are
increments of one Brownian path, so results converge as the grid is refined with a fixed seed.
"""

from __future__ import annotations

import torch

from ..registry import BadInput
from .samplers import _entry, ancestral_split
from .sampling import Sampler, safe_div


__all__ = ["DPMpp2MSDESampler", "DPMpp3MSDESampler", "DPMppSDESampler"]

SOLVER_TYPES = ("midpoint", "heun")


def _knobs(key: str, eta: float, s_noise: float) -> tuple[float, float]:
    if not eta >= 0:
        raise ValueError(f"{key}: eta must be >= 0, got {eta}")
    return float(eta), float(s_noise)


_BAD_ETA = BadInput(match="eta must be >= 0", init={"eta": -1.0})


@_entry("dpmpp_sde", "Lu et al. 2022 (DPM-Solver++); k-diffusion sample_dpmpp_sde (Crowson)", tiny={"r": 0.5},
        bad=[_BAD_ETA, BadInput(match="r must lie in", init={"r": 1.5})])
class DPMppSDESampler(Sampler):
    """DPM-Solver++ SDE, two stages per step: an ancestral DPM-Solver++(1) step to σ_s = σ^(1−r) σ'^r (λ + r h), then
    one from σ to σ' using (1 − 1/2r) D(x) + (1/2r) D(x_s); each stage splits its target level into (σ_down, σ_up).

    Euler on a final step to σ' = 0. Noise draws: two per other step (after stage 1, then after stage 2).
    """

    key = "sampler/dpmpp_sde"

    def __init__(self, eta: float = 1.0, s_noise: float = 1.0, r: float = 0.5, progress: bool = False) -> None:
        super().__init__(progress)
        self.eta, self.s_noise = _knobs("sampler/dpmpp_sde", eta, s_noise)
        if not 0 < r < 1:
            raise ValueError(f"sampler/dpmpp_sde: r must lie in (0, 1), got {r}")
        self.r = float(r)

    def _sample(self, run, x, sigmas):
        s, s_next = sigmas[:-1], sigmas[1:]
        final = (s_next == 0).tolist()
        safe_next = torch.where(s_next > 0, s_next, s)
        s_mid = s ** (1 - self.r) * safe_next ** self.r
        ratio1, up1 = ancestral_split(torch.stack([s, s_mid], 1).reshape(-1), self.eta)  # pairs (σ, σ_s), (σ_s, σ)
        ratio1, up1 = ratio1[0::2], up1[0::2]
        ratio2, up2 = ancestral_split(torch.stack([s, safe_next], 1).reshape(-1), self.eta)
        ratio2, up2 = ratio2[0::2], up2[0::2]
        fac = 1 / (2 * self.r)
        # the levels the noise source is queried at, as k-diffusion computes them (σ = exp(−t), t = −log σ): a
        # Brownian path moves by ~sqrt(Δ) over a query-time difference Δ, so one ulp in a level shows at 1e-4
        t, t_next = -torch.log(s), -torch.log(safe_next)
        q, q_mid, q_next = torch.exp(-t), torch.exp(-(t + (t_next - t) * self.r)), torch.exp(-t_next)
        for i in run.steps(len(sigmas) - 1):
            denoised = run.denoise(x, s[i])
            run.report(i, x, s[i], s_next[i], denoised)
            if final[i]:
                x = x + (x - denoised) / s[i] * (s_next[i] - s[i])
                continue
            x_mid = torch.lerp(denoised, x, ratio1[i]) + run.noise(x, q[i], q_mid[i]) * (self.s_noise * up1[i])
            mixed = torch.lerp(denoised, run.denoise(x_mid, s_mid[i]), fac)
            x = torch.lerp(mixed, x, ratio2[i]) + run.noise(x, q[i], q_next[i]) * (self.s_noise * up2[i])
        return x


@_entry("dpmpp_2m_sde", "Lu et al. 2022 (DPM-Solver++(2M)); k-diffusion sample_dpmpp_2m_sde (Crowson)",
        tiny={"solver_type": "heun"},
        bad=[_BAD_ETA, BadInput(match="solver_type must be one of", init={"solver_type": "rk4"})])
class DPMpp2MSDESampler(Sampler):
    """DPM-Solver++(2M) SDE: x' = (σ'/σ) e^{−ηh} x + (1 − e^{−(1+η)h}) D + c (D − D_prev)/r + σ' sqrt(1 − e^{−2ηh}) s_noise ε,
    r = h_prev/h, c = ½(1 − e^{−(1+η)h}) ("midpoint") or 1 − (1 − e^{−(1+η)h})/((1+η)h) ("heun", k-diffusion's).

    A final step to σ' = 0 returns D. Noise draws (when eta > 0): one per other step, at its end.
    """

    key = "sampler/dpmpp_2m_sde"

    def __init__(self, eta: float = 1.0, s_noise: float = 1.0, solver_type: str = "midpoint",
                 progress: bool = False) -> None:
        super().__init__(progress)
        self.eta, self.s_noise = _knobs("sampler/dpmpp_2m_sde", eta, s_noise)
        if solver_type not in SOLVER_TYPES:
            raise ValueError(f"sampler/dpmpp_2m_sde: solver_type must be one of {SOLVER_TYPES}, got {solver_type!r}")
        self.solver_type = solver_type

    def _sample(self, run, x, sigmas):
        s, s_next = sigmas[:-1], sigmas[1:]
        final = (s_next == 0).tolist()
        h = torch.log(s) - torch.log(torch.where(s_next > 0, s_next, s))  # 0 on a final step (unused there)
        eta_h = self.eta * h
        decay = safe_div(s_next, s) * torch.exp(-eta_h)
        gain = -torch.expm1(-h - eta_h)
        if self.solver_type == "heun":
            corr = 1 - safe_div(gain, h + eta_h)  # (1 − e^{−(1+η)h})/(−(1+η)h) + 1
        else:
            corr = 0.5 * gain
        inv_r = torch.cat([h.new_zeros(1), safe_div(h[1:], h[:-1])])  # 1/r = h / h_prev
        std = s_next * (-torch.expm1(-2 * eta_h)).clamp_min(0).sqrt() * self.s_noise
        prev = None
        for i in run.steps(len(sigmas) - 1):
            denoised = run.denoise(x, s[i])
            run.report(i, x, s[i], s_next[i], denoised)
            if final[i]:
                x = denoised
            else:
                x = decay[i] * x + gain[i] * denoised
                if prev is not None:
                    x = x + (corr[i] * inv_r[i]) * (denoised - prev)
                if self.eta:
                    x = x + run.noise(x, s[i], s_next[i]) * std[i]
            prev = denoised
        return x


@_entry("dpmpp_3m_sde", "Lu et al. 2022 (DPM-Solver++(3M)); k-diffusion sample_dpmpp_3m_sde (Crowson)",
        tiny={"eta": 1.0}, bad=[_BAD_ETA])
class DPMpp3MSDESampler(Sampler):
    """DPM-Solver++(3M) SDE: x' = e^{−(1+η)h} x + (1 − e^{−(1+η)h}) D + φ₂ d₁ − φ₃ d₂ + σ' sqrt(1 − e^{−2ηh}) s_noise ε,
    with d₁, d₂ the first and second divided differences of the last three D over r₀ = h₋₁/h, r₁ = h₋₂/h and
    φ₂ = (e^{−(1+η)h} − 1)/((1+η)h) + 1, φ₃ = φ₂/((1+η)h) − ½ (second order on the second step, first on the first).

    A final step to σ' = 0 returns D. Noise draws (when eta > 0): one per other step, at its end.
    """

    key = "sampler/dpmpp_3m_sde"

    def __init__(self, eta: float = 1.0, s_noise: float = 1.0, progress: bool = False) -> None:
        super().__init__(progress)
        self.eta, self.s_noise = _knobs("sampler/dpmpp_3m_sde", eta, s_noise)

    def _sample(self, run, x, sigmas):
        s, s_next = sigmas[:-1], sigmas[1:]
        final = (s_next == 0).tolist()
        h = torch.log(s) - torch.log(torch.where(s_next > 0, s_next, s))
        h_eta = h * (self.eta + 1)
        decay, gain = torch.exp(-h_eta), -torch.expm1(-h_eta)
        phi2 = safe_div(torch.expm1(-h_eta), h_eta) + 1
        phi3 = safe_div(phi2, h_eta) - 0.5
        zero = h.new_zeros(1)
        r0 = torch.cat([zero, safe_div(h[:-1], h[1:])])  # h_{i-1} / h_i
        r1 = torch.cat([zero, zero, safe_div(h[:-2], h[2:])])  # h_{i-2} / h_i
        std = s_next * (-torch.expm1(-2 * h * self.eta)).clamp_min(0).sqrt() * self.s_noise
        d_1 = d_2 = None
        for i in run.steps(len(sigmas) - 1):
            denoised = run.denoise(x, s[i])
            run.report(i, x, s[i], s_next[i], denoised)
            if final[i]:
                x = denoised
            else:
                x = decay[i] * x + gain[i] * denoised
                if d_2 is not None:
                    d1_0 = (denoised - d_1) / r0[i]
                    d1_1 = (d_1 - d_2) / r1[i]
                    d1 = d1_0 + (d1_0 - d1_1) * (r0[i] / (r0[i] + r1[i]))
                    d2 = (d1_0 - d1_1) / (r0[i] + r1[i])
                    x = x + phi2[i] * d1 - phi3[i] * d2
                elif d_1 is not None:
                    x = x + phi2[i] * ((denoised - d_1) / r0[i])
                if self.eta:
                    x = x + run.noise(x, s[i], s_next[i]) * std[i]
            d_1, d_2 = denoised, d_1
        return x
