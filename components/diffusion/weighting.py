"""Loss weightings, all expressed as the weight w(λ) on the x0-space error ‖x̂0 − x0‖².

Errors of the other targets are fixed multiples of the x0 error at the same level (E6): ‖ε̂ − ε‖² = SNR ‖x̂0 − x0‖²
and ‖v̂ − v‖² = (1 + SNR) ‖x̂0 − x0‖². So "uniform on ε" is the SNR weighting, "uniform on v" is 1 + SNR, and EDM's
weighting with σ_data = 1 is 1 + SNR as well (SVD's ``VWeighting``). ``for_target(log_snr, target)`` gives the
multiplier to put on the MSE of ``target`` ("x0", "eps" or "v") for the same loss.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..registry import BadInput, register
from ._common import upcast


__all__ = ["EDMWeighting", "LossWeighting", "MinSNRWeighting", "SNRWeighting", "UniformWeighting",
           "target_error_factor"]

TARGETS = ("x0", "eps", "v", "flow")


def target_error_factor(log_snr: Tensor, target: str) -> Tensor:
    """f with ‖target̂ − target‖² = f · ‖x̂0 − x0‖²: 1 for x0, SNR for eps, 1 + SNR for v (VP levels), and
    1/t² = (1 + sqrt(SNR))² for the rectified-flow velocity u = ε − x0 (x̂0 − x0 = −t (û − u), t = 1/(1 + e^{λ/2}))."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    (log_snr,) = upcast(log_snr)
    if target == "x0":
        return torch.ones_like(log_snr)
    if target == "flow":
        return (1 + torch.exp(0.5 * log_snr)).square()
    snr = torch.exp(log_snr)
    return snr if target == "eps" else 1 + snr


class LossWeighting:
    """Base class: ``__call__(log_snr)`` is the x0-space weight; subclasses give ``_weight``."""

    def __call__(self, log_snr: Tensor) -> Tensor:
        """Weight on ‖x̂0 − x0‖² at log-SNR ``log_snr`` (any shape; fp32 or float64)."""
        (log_snr,) = upcast(log_snr)
        return self._weight(log_snr)

    def for_target(self, log_snr: Tensor, target: str) -> Tensor:
        """Multiplier for the MSE of ``target`` that gives the same loss as ``self(log_snr)`` on the x0 error."""
        return self(log_snr) / target_error_factor(log_snr, target)


def _inputs(cfg, batch=2, generator=None):
    return (torch.rand(batch, generator=generator) * 20 - 10,), {}


_BAD_TARGET = BadInput(match="target must be one of", init={"target": "epsilon_hat"})


@register("weighting", "uniform", paper="Ho et al. 2020 (L_simple)", tiny={}, inputs=_inputs,
          bad_inputs=[_BAD_TARGET], dtypes=("float32",))
class UniformWeighting(LossWeighting):
    """Uniform weight on the MSE of ``target``: x0-space weight 1 (x0), SNR (eps, DDPM's L_simple) or 1 + SNR (v)."""

    def __init__(self, target: str = "eps") -> None:
        if target not in TARGETS:
            raise ValueError(f"UniformWeighting: target must be one of {TARGETS}, got {target!r}")
        self.target = target

    def _weight(self, log_snr):
        return target_error_factor(log_snr, self.target)


@register("weighting", "snr", paper="Kingma et al. 2021 (VDM); Hang et al. 2023", tiny={}, inputs=_inputs,
          dtypes=("float32",))
class SNRWeighting(LossWeighting):
    """w = SNR = exp(λ) on the x0 error (equals uniform weighting of the ε error)."""

    def _weight(self, log_snr):
        return torch.exp(log_snr)


@register("weighting", "min_snr", paper="Hang et al. 2023 (Min-SNR-γ)", tiny={"gamma": 5.0}, inputs=_inputs,
          bad_inputs=[BadInput(match="gamma must be positive", init={"gamma": -1.0})], dtypes=("float32",))
class MinSNRWeighting(LossWeighting):
    """w = min(SNR, γ) on the x0 error; on the ε error that is min(SNR, γ)/SNR, on the v error min(SNR, γ)/(SNR+1)."""

    def __init__(self, gamma: float = 5.0) -> None:
        if not gamma > 0:
            raise ValueError(f"MinSNRWeighting: gamma must be positive, got {gamma}")
        self.gamma = float(gamma)

    def _weight(self, log_snr):
        return torch.exp(log_snr).clamp(max=self.gamma)


@register("weighting", "edm", paper="Karras et al. 2022 (EDM)", tiny={"sigma_data": 0.5}, inputs=_inputs,
          bad_inputs=[BadInput(match="sigma_data must be positive", init={"sigma_data": 0.0})], dtypes=("float32",))
class EDMWeighting(LossWeighting):
    """λ(σ) = (σ² + σ_d²)/(σ σ_d)² with σ = exp(−λ/2) the VE level; = 1/c_out², so F's loss is uniform."""

    def __init__(self, sigma_data: float = 0.5) -> None:
        if not sigma_data > 0:
            raise ValueError(f"EDMWeighting: sigma_data must be positive, got {sigma_data}")
        self.sigma_data = float(sigma_data)

    def _weight(self, log_snr):
        sigma2 = torch.exp(-log_snr)
        return (sigma2 + self.sigma_data**2) / (sigma2 * self.sigma_data**2)
