"""EDM preconditioning (Karras et al. 2022) and SVD's v-with-EDM-c_noise variant, in VE σ space.

A preconditioned network F gives the denoiser D(x; σ) = c_skip(σ) x + c_out(σ) F(c_in(σ) x; c_noise(σ)) with
x = x0 + σ n. ``target(x0, noise, sigma)`` is what F is regressed on: (x0 − c_skip x)/c_out.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..registry import BadInput, register
from ._common import check_same_shape, expand_to, upcast


__all__ = ["EDMPreconditioning", "EDMVPreconditioning", "Preconditioning"]


class Preconditioning:
    """Base class of the EDM-style preconditionings: subclasses give ``_coefficients(sigma)``."""

    def coefficients(self, sigma) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(c_skip, c_out, c_in, c_noise)`` at VE level ``sigma`` (fp32 or float64, sigma's shape)."""
        (sigma,) = upcast(sigma)
        return self._coefficients(sigma)

    def to_x0(self, pred: Tensor, x: Tensor, sigma) -> Tensor:
        """D = c_skip x + c_out F for the network output ``pred`` = F(c_in x; c_noise) at the VE sample ``x``."""
        check_same_shape(pred, x, "pred", "x", self.key)
        pred, x, sigma = upcast(pred, x, sigma)
        c_skip, c_out, _, _ = self._coefficients(sigma)
        return expand_to(c_skip, x, "sigma") * x + expand_to(c_out, x, "sigma") * pred

    def target(self, x0: Tensor, noise: Tensor, sigma) -> Tensor:
        """F's regression target for clean ``x0`` noised to x = x0 + σ n: (x0 − c_skip x)/c_out."""
        check_same_shape(x0, noise, "x0", "noise", self.key)
        x0, noise, sigma = upcast(x0, noise, sigma)
        c_skip, c_out, _, _ = self._coefficients(sigma)
        x = x0 + expand_to(sigma, x0, "sigma") * noise
        return (x0 - expand_to(c_skip, x0, "sigma") * x) / expand_to(c_out, x0, "sigma")

    def __call__(self, pred: Tensor, x: Tensor, sigma) -> Tensor:
        """Same as ``to_x0``."""
        return self.to_x0(pred, x, sigma)


def _inputs(cfg, batch=2, generator=None):
    pred = torch.randn(batch, 3, 2, 4, 4, generator=generator)
    x = torch.randn(batch, 3, 2, 4, 4, generator=generator) * 3
    return (pred, x, torch.rand(batch, generator=generator) * 5 + 0.1), {}


_BAD = [BadInput(match="pred and x must have the same shape",
                 inputs=lambda cfg: ((torch.zeros(2, 3), torch.zeros(2, 5), torch.ones(2)), {}))]


@register("preconditioning", "edm", paper="Karras et al. 2022 (EDM), Table 1", tiny={"sigma_data": 0.5},
          inputs=_inputs, bad_inputs=[*_BAD, BadInput(match="sigma_data must be positive",
                                                      init={"sigma_data": 0.0})])
class EDMPreconditioning(Preconditioning):
    """EDM: c_skip = σ_d²/(σ²+σ_d²), c_out = σ σ_d/sqrt(σ²+σ_d²), c_in = 1/sqrt(σ²+σ_d²), c_noise = ln(σ)/4.

    Called as ``(pred, x, sigma) -> x0`` with x ``(B, ...)`` and sigma scalar or ``(B,)``.
    """

    key = "preconditioning/edm"

    def __init__(self, sigma_data: float = 0.5) -> None:
        if not sigma_data > 0:
            raise ValueError(f"EDMPreconditioning: sigma_data must be positive, got {sigma_data}")
        self.sigma_data = float(sigma_data)

    def _coefficients(self, sigma):
        sd2 = self.sigma_data**2
        norm = (sigma.square() + sd2).sqrt()
        return sd2 / norm.square(), sigma * self.sigma_data / norm, 1 / norm, 0.25 * torch.log(sigma)


@register("preconditioning", "edm_v", paper="Blattmann et al. 2023 (SVD), VScalingWithEDMcNoise", tiny={},
          inputs=_inputs, bad_inputs=_BAD)
class EDMVPreconditioning(Preconditioning):
    """SVD's v-with-EDM-c_noise: c_skip = 1/(σ²+1), c_out = −σ/sqrt(σ²+1), c_in = 1/sqrt(σ²+1), c_noise = ln(σ)/4.

    With these, F predicts the VP v-target α n − s x0 (α = 1/sqrt(1+σ²), s = σ α), docs/papers.md §10.1.
    """

    key = "preconditioning/edm_v"

    def _coefficients(self, sigma):
        norm = (sigma.square() + 1).sqrt()
        return 1 / norm.square(), -sigma / norm, 1 / norm, 0.25 * torch.log(sigma)
