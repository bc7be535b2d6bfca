"""Denoisers D(x, sigma, **cond) -> x0 in VE σ space (the contract of docs/architecture.md) and the adapters that make them.

- ``denoiser/vp``: any network trained in VP form (ε, v or x0; continuous or discrete time) becomes a denoiser:
  x_vp = x / sqrt(1 + σ²), t = schedule.t_from_sigma(σ), x0 from its parameterization.
- ``denoiser/edm``: an EDM-preconditioned network F: D = c_skip x + c_out F(c_in x; c_noise) (EDM, SVD).
- ``denoiser/gaussian``: the exact denoiser of N(μ, Σ) data, E[x0 | x] = μ + Σ(Σ + σ²I)⁻¹(x − μ), for tests.

The network is not part of a wrapper's config (weights are not configuration): ``config_of(D)`` describes the
adapter, and ``build(config, model=net)`` rebinds a network. Denoisers return fp32 (float64 for float64 input).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from ..registry import BadInput, build, config_of, register
from ._common import expand_to, upcast
from .forward import q_sample
from .parameterizations import get_parameterization
from .schedules import NoiseSchedule
from .step import Step, call_denoiser


__all__ = ["EDMDenoiser", "GaussianDenoiser", "VPDenoiser", "edm_denoiser", "gaussian_denoiser", "vp_denoiser"]

MODEL_TIMES = ("auto", "t", "timestep", "log_snr")


def resolve(value, kind: str):
    """A component given as a key ("cosine" or "schedule/cosine"), a config dict, or an instance."""
    if isinstance(value, str):
        return build(value if "/" in value else f"{kind}/{value}")
    if isinstance(value, Mapping):
        return build(dict(value))
    return value


def _per_sample(level: Tensor, x: Tensor) -> Tensor:
    return level.expand(x.shape[0]) if level.ndim == 0 else level


class VPDenoiser:
    """D(x, σ) for a VP network ``model(z, time, **cond)``; see ``vp_denoiser``."""

    def __init__(self, model, schedule: NoiseSchedule, parameterization, model_time: str, quantize: bool) -> None:
        self.model, self.schedule, self.quantize = model, schedule, quantize
        self.parameterization = get_parameterization(parameterization)
        if model_time not in MODEL_TIMES:
            raise ValueError(f"denoiser/vp: model_time must be one of {MODEL_TIMES}, got {model_time!r}")
        if model_time == "auto":
            model_time = "t" if schedule.continuous else "timestep"
        if model_time == "timestep" and schedule.continuous:
            raise ValueError("denoiser/vp: model_time='timestep' needs a discrete schedule (linear, scaled_linear)")
        self.model_time = model_time

    takes_step = True  # on the sampler's grid, α and the network time come from the run's tables (``_levels``)

    def model_time_of(self, sigma: Tensor) -> Tensor:
        """What the network is conditioned on at VE level ``sigma``: t, the discrete timestep, or λ."""
        if self.model_time == "log_snr":
            return -2.0 * torch.log(sigma)
        if self.model_time == "timestep":
            index = self.schedule._index_from_sigma(sigma)
            return index.round() if self.quantize else index
        return self.schedule._t_from_sigma(sigma)

    def time_at(self, t: Tensor) -> Tensor:
        """The network's time at training time ``t`` ∈ [0, 1] (``(B,)``): the convention ``model_time_of`` applies at
        the same level σ(t) — t, the log-SNR λ(t), or the table index t (N − 1), rounded: training draws t on the
        table's steps, and rounding keeps float error in t (N − 1) off the integers the network is trained on."""
        if self.model_time == "log_snr":
            return self.schedule.log_snr(t)
        if self.model_time == "timestep":
            return torch.round(t * (self.schedule.num_train_timesteps - 1))
        return t

    def training_inputs(self, x0: Tensor, t: Tensor, noise: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The training example at time ``t`` ``(B,)`` of clean ``x0`` with unit ``noise``: ``(z, time, target)`` —
        the network input z = α x0 + σ ε (VP), its time (``time_at``) and the parameterization's target, so the
        loss ‖F(z, time) − target‖² trains exactly the network this adapter samples with."""
        alpha, sigma = self.schedule(t)
        z, _ = q_sample(x0, alpha, sigma, noise=noise)
        return z, self.time_at(t), self.parameterization.target(x0, noise, alpha, sigma)

    def _levels(self, x: Tensor, sigma, step: Step | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(x upcast, σ broadcast to x, α(σ) broadcast, the network's time (B,))``.

        At a level on the sampler's grid (``step.on_grid``) α and the network time come from tables the run
        computes once over the whole grid (``Step.table``: one vectorised op each instead of a chain of small ops per
        call); any other level is computed directly."""
        if step is not None and step.on_grid:
            alpha, time = step.table(self, self._grid_tables)  # in the grid's dtype, the run's compute dtype
            s = step.sigmas[step.row]
            return x.to(s.dtype), s, alpha[step.row], time[step.row].expand(x.shape[0])
        x_up, level = upcast(x, sigma)
        s = expand_to(level, x_up, "sigma")
        alpha = self.schedule._alpha_from_sigma(s)  # VP: 1/sqrt(1 + σ²); rectified flow: 1/(1 + σ)
        return x_up, s, alpha, self.model_time_of(_per_sample(level, x_up))

    def _grid_tables(self, sigmas: Tensor) -> tuple[Tensor, Tensor]:
        """α(σ) and the network time at every level of a sampler's grid ``(N + 1,)``."""
        return self.schedule._alpha_from_sigma(sigmas), self.model_time_of(sigmas)

    def __call__(self, x: Tensor, sigma, *, model: Callable | None = None, step: Step | None = None,
                 **cond) -> Tensor:
        net = model if model is not None else self.model
        if net is None:
            raise ValueError("denoiser/vp: no model bound; build('denoiser/vp', model=net, ...) or pass model=")
        x, s, alpha, time = self._levels(x, sigma, step)
        z = x * alpha
        pred = call_denoiser(net, z, time, step, **cond)  # the step reaches a network that takes it (a step cache)
        if pred.shape != x.shape:
            raise ValueError(f"denoiser/vp: the network returned shape {tuple(pred.shape)} for a sample of shape "
                             f"{tuple(x.shape)}")
        return self.parameterization.x0_from_ve(pred.to(x.dtype), x, z, s, alpha)


class EDMDenoiser:
    """D(x, σ) = c_skip x + c_out F(c_in x; c_noise) for a preconditioned network ``model(x_in, c_noise, **cond)``."""

    def __init__(self, model, preconditioning) -> None:
        self.model, self.preconditioning = model, preconditioning

    takes_step = True  # accepted for the wrappers' sake; EDM's coefficients are a few ops per call

    def training_inputs(self, x0: Tensor, sigma: Tensor, noise: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The training example at level ``sigma`` ``(B,)``: ``(c_in x, c_noise, target, c_out)`` with x = x0 + σ n —
        the network's input and time exactly as ``__call__`` gives them, and the preconditioning's target
        (x0 − c_skip x)/c_out, whose unweighted MSE is EDM's λ(σ)-weighted loss (λ = 1/c_out²)."""
        c_skip, c_out, c_in, c_noise = self.preconditioning.coefficients(sigma)
        x = x0 + expand_to(sigma, x0, "sigma") * noise
        return (x * expand_to(c_in, x0, "sigma"), _per_sample(c_noise, x0),
                self.preconditioning.target(x0, noise, sigma), c_out)

    def __call__(self, x: Tensor, sigma, *, model: Callable | None = None, step: Step | None = None,
                 **cond) -> Tensor:
        net = model if model is not None else self.model
        if net is None:
            raise ValueError("denoiser/edm: no model bound; build('denoiser/edm', model=net, ...) or pass model=")
        x, sigma = upcast(x, sigma)
        c_skip, c_out, c_in, c_noise = self.preconditioning.coefficients(sigma)
        pred = call_denoiser(net, x * expand_to(c_in, x, "sigma"), _per_sample(c_noise, x), step, **cond)
        return expand_to(c_skip, x, "sigma") * x + expand_to(c_out, x, "sigma") * pred


class GaussianDenoiser:
    """Exact E[x0 | x] for x0 ~ N(μ, Σ) and x = x0 + σ n; samples ``(B, ...)`` with prod(...) = len(μ)."""

    def __init__(self, mean: Tensor, cov: Tensor) -> None:
        self.mean, self.cov = mean.double(), cov.double()
        d = self.mean.numel()
        if self.mean.ndim != 1 or self.cov.shape != (d, d):
            raise ValueError(f"denoiser/gaussian: mean must be 1-D (d,) and cov (d, d), got {tuple(mean.shape)} "
                             f"and {tuple(cov.shape)}")
        if not torch.allclose(self.cov, self.cov.T, atol=1e-10):
            raise ValueError("denoiser/gaussian: cov must be symmetric")
        self.eigvals, self.eigvecs = torch.linalg.eigh(self.cov)
        if bool((self.eigvals < 0).any()):
            raise ValueError(f"denoiser/gaussian: cov must be positive semi-definite, got eigenvalue "
                             f"{float(self.eigvals.min()):.3g}")

    def __call__(self, x: Tensor, sigma, **cond) -> Tensor:
        x, sigma = upcast(x, sigma)
        flat = x.reshape(x.shape[0], -1)
        if flat.shape[1] != self.mean.numel():
            raise ValueError(f"denoiser/gaussian: sample has {flat.shape[1]} features per item, the Gaussian "
                             f"{self.mean.numel()}")
        mean, vals, vecs = (v.to(x.dtype) for v in (self.mean, self.eigvals, self.eigvecs))
        s2 = _per_sample(sigma, x).reshape(-1, 1).square()
        gain = vals / (vals + s2)  # (B, d) shrinkage per eigen-direction
        coords = (flat - mean) @ vecs
        return (mean + (gain * coords) @ vecs.T).reshape(x.shape)


def _toy_network(z: Tensor, time: Tensor, **cond) -> Tensor:
    """A smooth deterministic stand-in for a network (conformance inputs and docs)."""
    time = time.reshape(-1, *([1] * (z.ndim - 1)))
    return 0.5 * torch.tanh(z) * torch.cos(time / 700.0) + 0.1 * z


def _video_inputs(cfg, batch=2, generator=None):
    x = torch.randn(batch, 3, 2, 4, 4, generator=generator) * 2
    return (x, torch.rand(batch, generator=generator) * 5 + 0.05), {}


@register(
    "denoiser", "vp", paper="Karras et al. 2022 (denoiser view); Ho et al. 2022 (VDM)",
    tiny={"model": _toy_network, "schedule": "schedule/linear", "parameterization": "v"}, inputs=_video_inputs,
    bad_inputs=[BadInput(match="parameterization must be one of", init={"parameterization": "velocity"}),
                BadInput(match="model_time must be one of", init={"model_time": "seconds"})],
)
def vp_denoiser(model: Callable | None = None, schedule="schedule/cosine", parameterization: str = "eps",
                model_time: str = "auto", quantize: bool = False) -> VPDenoiser:
    """Wrap a VP network ``model(z, time, **cond)`` as a VE-space denoiser D(x, sigma, **cond) -> x0.

    x ``(B, ...)`` and sigma (scalar, ``(B,)`` or broadcastable) -> x0 of x's shape. The network sees
    z = x / sqrt(1 + σ²) and ``time``: t ∈ [0, 1] (continuous schedules, ``model_time="t"``), the discrete timestep
    t·(N − 1) (discrete schedules, rounded if ``quantize``) or the log-SNR λ = −2 ln σ (``"log_snr"``, VDM).
    ``schedule``: key, config dict or schedule instance; ``parameterization``: eps / v / x0 (or diffusers' names).
    """
    sched = resolve(schedule, "schedule")
    den = VPDenoiser(model, sched, parameterization, model_time, quantize)
    den._component_config = {"type": "denoiser/vp", "schedule": config_of(sched),
                             "parameterization": den.parameterization.name, "model_time": model_time,
                             "quantize": bool(quantize)}
    return den


@register(
    "denoiser", "edm", paper="Karras et al. 2022 (EDM); Blattmann et al. 2023 (SVD)",
    tiny={"model": _toy_network, "preconditioning": "preconditioning/edm_v"}, inputs=_video_inputs,
    bad_inputs=[BadInput(match="preconditioning must be", init={"preconditioning": "parameterization/v"})],
)
def edm_denoiser(model: Callable | None = None, preconditioning="preconditioning/edm") -> EDMDenoiser:
    """Wrap an EDM-preconditioned network ``model(c_in x, c_noise, **cond)`` as D(x, sigma, **cond) -> x0.

    ``preconditioning``: ``preconditioning/edm`` (σ_data configurable) or ``preconditioning/edm_v`` (SVD).
    """
    pre = resolve(preconditioning, "parameterization")
    if not hasattr(pre, "coefficients"):
        raise ValueError(f"denoiser/edm: preconditioning must be preconditioning/edm or preconditioning/edm_v, "
                         f"got {preconditioning!r}")
    den = EDMDenoiser(model, pre)
    den._component_config = {"type": "denoiser/edm", "preconditioning": config_of(pre)}
    return den


_TINY_MEAN = [0.5, -1.0, 0.0, 2.0]
_TINY_COV = [[1.0, 0.3, 0.0, 0.0], [0.3, 0.5, 0.1, 0.0], [0.0, 0.1, 0.2, 0.0], [0.0, 0.0, 0.0, 2.0]]


@register(
    "denoiser", "gaussian", paper="Karras et al. 2022 (ideal denoiser); test oracle",
    tiny={"mean": _TINY_MEAN, "cov": _TINY_COV},
    inputs=lambda cfg, batch=2, generator=None: ((torch.randn(batch, 4, generator=generator) * 3,
                                                  torch.rand(batch, generator=generator) * 3 + 0.01), {}),
    bad_inputs=[BadInput(match="positive semi-definite", init={"cov": [[1.0, 0, 0, 0], [0, -1.0, 0, 0],
                                                                        [0, 0, 1.0, 0], [0, 0, 0, 1.0]]})],
)
def gaussian_denoiser(mean, cov) -> GaussianDenoiser:
    """The exact denoiser of Gaussian data N(μ, Σ): E[x0 | x] = μ + Σ(Σ + σ²I)⁻¹(x − μ), x ``(B, ...)``.

    The oracle for sampler tests: every correct sampler driven by it reproduces μ and Σ.
    """
    mean, cov = torch.as_tensor(mean, dtype=torch.float64), torch.as_tensor(cov, dtype=torch.float64)
    den = GaussianDenoiser(mean, cov)
    den._component_config = {"type": "denoiser/gaussian", "mean": mean.tolist(), "cov": cov.tolist()}
    return den
