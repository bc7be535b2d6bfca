"""What a VP network predicts: ε, v or x0, and how to turn any prediction into x0 and ε (E4–E6).

Each parameterization has ``to_x0(pred, z, alpha, sigma)``, ``to_eps(pred, z, alpha, sigma)`` and
``target(x0, eps, alpha, sigma)``; z = α x0 + σ ε with α² + σ² = 1 (the v identities use it), except ``flow``,
whose identities use α + σ = 1 (rectified flow). Arithmetic runs in
fp32 (float64 for float64 inputs) and results stay in that dtype: a bf16 path loses ~5e-2 (docs/quality.md §1.7).
Levels may be scalars, ``(B,)`` or any broadcastable shape of the sample's rank.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..registry import BadInput, register
from ._common import check_same_shape, expand_to, upcast


__all__ = ["EpsParameterization", "FlowParameterization", "Parameterization", "VParameterization", "X0Parameterization",
           "get_parameterization", "PARAMETERIZATIONS"]


class Parameterization:
    """Base class: subclasses give ``_to_x0``, ``_to_eps`` and ``_target`` on upcast, broadcast tensors."""

    name = ""

    def _prepare(self, a: Tensor, b: Tensor, alpha, sigma, names=("pred", "z")):
        check_same_shape(a, b, *names, f"parameterization/{self.name}")
        a, b, alpha, sigma = upcast(a, b, alpha, sigma)
        return a, b, expand_to(alpha, a, "alpha"), expand_to(sigma, a, "sigma")

    def to_x0(self, pred: Tensor, z: Tensor, alpha, sigma) -> Tensor:
        """The x0 implied by the network output ``pred`` at the noisy sample ``z``."""
        return self._to_x0(*self._prepare(pred, z, alpha, sigma))

    def to_eps(self, pred: Tensor, z: Tensor, alpha, sigma) -> Tensor:
        """The ε implied by the network output ``pred`` at the noisy sample ``z``."""
        return self._to_eps(*self._prepare(pred, z, alpha, sigma))

    def target(self, x0: Tensor, eps: Tensor, alpha, sigma) -> Tensor:
        """The regression target for clean data ``x0`` noised with ``eps`` to level (alpha, sigma)."""
        return self._target(*self._prepare(x0, eps, alpha, sigma, names=("x0", "eps")))

    def x0_from_ve(self, pred: Tensor, x: Tensor, z: Tensor, sigma_ve: Tensor, alpha: Tensor) -> Tensor:
        """x0 from ``pred`` at the VE sample x = z/α with VE level σ_VE (broadcast, fp32): the adapters' fast path."""
        return self._to_x0(pred, z, alpha, sigma_ve * alpha)

    def __call__(self, pred: Tensor, z: Tensor, alpha, sigma) -> Tensor:
        """Same as ``to_x0``."""
        return self.to_x0(pred, z, alpha, sigma)


def _inputs(cfg, batch=2, generator=None):
    pred = torch.randn(batch, 3, 2, 4, 4, generator=generator)
    z = torch.randn(batch, 3, 2, 4, 4, generator=generator)
    alpha = torch.rand(batch, generator=generator) * 0.8 + 0.1
    return (pred, z, alpha, (1 - alpha**2).sqrt()), {}


_BAD = [BadInput(match="pred and z must have the same shape",
                 inputs=lambda cfg: ((torch.zeros(2, 3), torch.zeros(2, 4), 0.6, 0.8), {}))]


def _entry(name: str, paper: str):
    return register("parameterization", name, paper=paper, tiny={}, inputs=_inputs, bad_inputs=_BAD)


@_entry("eps", "Ho et al. 2020 (DDPM); Ho et al. 2022 (VDM)")
class EpsParameterization(Parameterization):
    """ε-prediction: x0 = (z − σ ε̂)/α. Inputs ``(pred, z, alpha, sigma)`` -> x0 of z's shape (fp32)."""

    name = "eps"

    def _to_x0(self, pred, z, alpha, sigma):
        return (z - sigma * pred) / alpha

    def _to_eps(self, pred, z, alpha, sigma):
        return pred

    def x0_from_ve(self, pred, x, z, sigma_ve, alpha):
        return torch.addcmul(x, pred, sigma_ve, value=-1)  # x0 = (z − σ ε)/α = x − σ_VE ε, one pass

    def _target(self, x0, eps, alpha, sigma):
        return eps


@_entry("v", "Salimans & Ho 2022 (progressive distillation); Imagen Video, E4/E6")
class VParameterization(Parameterization):
    """v-prediction, v = α ε − σ x0: x0 = α z − σ v̂, ε = σ z + α v̂ (E6, exact for VP levels)."""

    name = "v"

    def _to_x0(self, pred, z, alpha, sigma):
        return alpha * z - sigma * pred

    def _to_eps(self, pred, z, alpha, sigma):
        return sigma * z + alpha * pred

    def x0_from_ve(self, pred, x, z, sigma_ve, alpha):
        return torch.addcmul(z * alpha, pred, sigma_ve * alpha, value=-1)

    def _target(self, x0, eps, alpha, sigma):
        return alpha * eps - sigma * x0


@_entry("x0", "Ho et al. 2022 (VDM); Karras et al. 2022")
class X0Parameterization(Parameterization):
    """x0-prediction: the network output is x̂0; ε = (z − α x̂0)/σ."""

    name = "x0"

    def _to_x0(self, pred, z, alpha, sigma):
        return pred

    def _to_eps(self, pred, z, alpha, sigma):
        return (z - alpha * pred) / sigma

    def x0_from_ve(self, pred, x, z, sigma_ve, alpha):
        return pred.to(x.dtype)

    def _target(self, x0, eps, alpha, sigma):
        return x0


@_entry("flow", "Liu et al. 2023 (rectified flow); Lipman et al. 2023 (flow matching); Esser et al. 2024 (SD3)")
class FlowParameterization(Parameterization):
    """Velocity prediction of flow matching, u = ε − x0 (= dz/dt on the path z = (1 − t) x0 + t ε).

    Needs α + σ = 1 (``schedule/rectified_flow``): x0 = z − σ û, ε = z + α û. At the same VE level the VP v-target
    of the VP sample z_vp = z α_vp/α is v = (α_vp − σ_vp) z + (α_vp α + σ_vp σ) u (tested).
    """

    name = "flow"

    def _to_x0(self, pred, z, alpha, sigma):
        return z - sigma * pred

    def _to_eps(self, pred, z, alpha, sigma):
        return z + alpha * pred

    def _target(self, x0, eps, alpha, sigma):
        return eps - x0


PARAMETERIZATIONS = {
    "eps": EpsParameterization, "epsilon": EpsParameterization,
    "v": VParameterization, "v_prediction": VParameterization,
    "x0": X0Parameterization, "sample": X0Parameterization,
    "flow": FlowParameterization, "flow_prediction": FlowParameterization,
}


def get_parameterization(name) -> Parameterization:
    """A parameterization by name (diffusers' ``prediction_type`` names accepted) or passed through."""
    if isinstance(name, Parameterization):
        return name
    if name not in PARAMETERIZATIONS:
        raise ValueError(f"parameterization must be one of {sorted(PARAMETERIZATIONS)}, got {name!r}")
    return PARAMETERIZATIONS[name]()
