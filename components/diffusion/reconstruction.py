"""Conditional sampling from a joint model (VDM §3.1, E8/E9): replacement and reconstruction guidance.

Both are denoiser wrappers, ``G(x, sigma, *, known=None, mask=None, generator=None, **cond) -> x0``, so any sampler
runs them. ``known`` has the shape of the sample (``B C T H W``; batch 1 broadcasts) with the conditioning values
x_a filled in, ``mask`` (boolean, broadcastable: ``(1, 1, T, 1, 1)`` for whole frames) is True where they are
known. One mechanism covers continuation (first frames known), interpolation (every k-th frame known) and any
other pattern; ``downsample=`` switches to the spatial super-resolution form (``known`` is then the low-res video).

Replacement: the known part of the input is overwritten by a fresh forward sample z_a ~ q(z_t^a | x_a), in VE form
x_a + σ ε, and the known part of x0 is x_a.

Reconstruction guidance, E9 in VP coordinates (z = α x + σ_VP ε):
    x̃_b = x̂_b − (w_r α_t / 2) ∇_{z_t^b} ‖x_a − x̂_a(z_t)‖².
The sampler works in VE coordinates x = z / α (α = 1/sqrt(1 + σ²)), so ∇_z = ∇_x / α and the α_t cancels:
    x̃_b = x̂_b − (w_r / 2) ∇_{x_b} ‖x_a − x̂_a(x)‖².
(The same follows from Tweedie in VE form, E[x_b | x, x_a] = x̂_b + σ² ∇_{x_b} log q(x_a | x) with
q(x_a | x) ≈ N(x̂_a, σ² I); w_r = 1 is that approximation, w_r > 1 makes up for its too-large variance.)
Super-resolution: x̃ = x̂ − (w_r / 2) ∇_x ‖x_a − down(x̂(x))‖² on every entry, no replacement.
The gradient goes through the wrapped denoiser even under ``torch.no_grad()``; one denoiser call with its backward
per step. The wrapped denoiser, ``known``, ``mask`` and generators are data, not configuration: ``config_of``
keeps ``weight`` and ``downsample`` (a mode name or registry config; a callable is recorded as ``"callable"`` and
must be rebound with ``build(config, downsample=fn)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from ..registry import BadInput, build, register
from ._common import upcast
from ._video import check_mask, draw, level, toy_video_denoiser
from .step import Step, call_denoiser


__all__ = ["ReconstructionGuidance", "Replacement", "reconstruction", "replacement", "resize"]

RESIZE_MODES = ("bilinear", "bicubic", "area", "nearest")


class Replacement:
    """Replacement conditioning (VDM §3.1); see the module docstring and ``replacement``."""

    key = "wrapper/replacement"
    takes_step = True  # forwarded to the wrapped denoiser (components.diffusion.step)

    def __init__(self, denoiser: Callable | None, known: Tensor | None, mask: Tensor | None,
                 generator: torch.Generator | None, noise_sampler: Callable[[int], Tensor] | None) -> None:
        self.denoiser, self.known, self.mask = denoiser, known, mask
        self.generator, self.noise_sampler, self.draws = generator, noise_sampler, 0

    # ------------------------------------------------------------------ inputs
    def bound(self, x: Tensor, known, mask, denoiser) -> tuple[Callable, Tensor, Tensor]:
        net = denoiser if denoiser is not None else self.denoiser
        known = known if known is not None else self.known
        mask = mask if mask is not None else self.mask
        if net is None:
            raise ValueError(f"{self.key}: no denoiser bound; build('{self.key}', denoiser=D, ...) or pass denoiser=")
        if known is None or mask is None:
            raise ValueError(f"{self.key}: known and mask are needed (at build or per call: G(x, sigma, known=..., "
                             f"mask=...))")
        if not isinstance(known, Tensor):
            raise ValueError(f"{self.key}: known must be a tensor, got {type(known).__name__}")
        self.check_known(known, x)
        return net, known.to(device=x.device, dtype=x.dtype), check_mask(mask, known, where=self.key).to(x.device)

    def check_known(self, known: Tensor, x: Tensor) -> None:
        if known.ndim != x.ndim or known.shape[1:] != x.shape[1:] or known.shape[0] not in (1, x.shape[0]):
            raise ValueError(f"{self.key}: known must have the shape of the sample {tuple(x.shape)} (batch 1 "
                             f"broadcasts), got {tuple(known.shape)}")

    def noise(self, x: Tensor, generator) -> Tensor:
        k, self.draws = self.draws, self.draws + 1
        gen = generator if generator is not None else self.generator
        return draw(x.shape, like=x, generator=gen, noise_sampler=self.noise_sampler, k=k)

    def replace(self, x: Tensor, sigma, known: Tensor, mask: Tensor, generator) -> Tensor:
        """x with its known entries overwritten by a fresh forward sample x_a + σ ε (VE form of q(z_t^a | x_a))."""
        return torch.where(mask, known + level(sigma, x) * self.noise(x, generator), x)

    def __call__(self, x: Tensor, sigma, *, known: Tensor | None = None, mask: Tensor | None = None,
                 generator: torch.Generator | None = None, denoiser: Callable | None = None,
                 step: Step | None = None, **cond) -> Tensor:
        x, sigma = upcast(x, sigma)
        net, known, mask = self.bound(x, known, mask, denoiser)
        x0 = call_denoiser(net, self.replace(x, sigma, known, mask, generator), sigma, step, **cond).to(x.dtype)
        return torch.where(mask, known, x0)


class ReconstructionGuidance(Replacement):
    """Reconstruction guidance (VDM E9), temporal or super-resolution form; see ``reconstruction``."""

    key = "wrapper/reconstruction"

    def __init__(self, denoiser, known, mask, generator, noise_sampler, weight: float,
                 downsample: Callable | str | None) -> None:
        super().__init__(denoiser, known, mask, generator, noise_sampler)
        self.weight, self.downsample = float(weight), downsample

    def check_known(self, known: Tensor, x: Tensor) -> None:
        if self.downsample is None:
            return super().check_known(known, x)
        if known.ndim != x.ndim or known.shape[0] not in (1, x.shape[0]):
            raise ValueError(f"{self.key}: known (the low-res video) must have the rank and batch of the sample "
                             f"{tuple(x.shape)}, got {tuple(known.shape)}")

    def project(self, x0: Tensor, known: Tensor) -> Tensor:
        """The prediction in the space of ``known``: x0 itself, or its down-sampled version."""
        if self.downsample is None:
            return x0
        if isinstance(self.downsample, str):
            return resize(x0, known.shape[-2:], self.downsample)
        return self.downsample(x0)

    def __call__(self, x: Tensor, sigma, *, known: Tensor | None = None, mask: Tensor | None = None,
                 generator: torch.Generator | None = None, denoiser: Callable | None = None,
                 step: Step | None = None, **cond) -> Tensor:
        x, sigma = upcast(x, sigma)
        net, known, mask = self.bound(x, known, mask, denoiser)
        start = x if self.downsample is not None else self.replace(x, sigma, known, mask, generator)
        with torch.enable_grad():
            x_in = start.detach().requires_grad_(True)
            x0 = call_denoiser(net, x_in, sigma, step, **cond).to(x.dtype)
            pred = self.project(x0, known)
            if pred.shape[1:] != known.shape[1:]:
                raise ValueError(f"{self.key}: downsample maps the prediction {tuple(x0.shape)} to "
                                 f"{tuple(pred.shape)}, which does not match known {tuple(known.shape)}")
            error = ((known - pred).square() * mask).sum()
            (grad,) = torch.autograd.grad(error, x_in)
        x0 = x0.detach() - (0.5 * self.weight) * grad
        return x0 if self.downsample is not None else torch.where(mask, known, x0)


def resize(video: Tensor, size: tuple[int, int], mode: str) -> Tensor:
    """Differentiable per-frame resize ``(B, C, T, H, W) -> (B, C, T, *size)`` (``mode`` of ``F.interpolate``)."""
    frames = rearrange(video, "b c t h w -> (b t) c h w")
    kw = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    small = F.interpolate(frames, size=tuple(size), mode=mode, **kw)
    return rearrange(small, "(b t) c h w -> b c t h w", b=video.shape[0])


def _resolve_downsample(downsample, where: str):
    """(callable or None, its config value)."""
    if downsample is None:
        return None, None
    if isinstance(downsample, str) and downsample in RESIZE_MODES:
        return downsample, downsample
    if isinstance(downsample, str) and "/" in downsample:
        return build(downsample), downsample
    if isinstance(downsample, Mapping):
        return build(dict(downsample)), dict(downsample)
    if callable(downsample) and not isinstance(downsample, str):
        return downsample, "callable"
    raise ValueError(f"{where}: downsample must be None, one of {RESIZE_MODES}, a registry key or config dict, or a "
                     f"callable video -> low-res video, got {downsample!r}"
                     + (" (rebind the callable: build(config, downsample=fn))" if downsample == "callable" else ""))


# ------------------------------------------------------------------------------------ registry entries
def _inputs(cfg, batch=2, generator=None):
    x = torch.randn(batch, 3, 4, 2, 2, generator=generator) * 2
    sigma = torch.rand(batch, generator=generator) + 0.2
    known = torch.randn(batch, 3, 4, 2, 2, generator=generator)
    mask = torch.tensor([True, True, False, False]).reshape(1, 1, 4, 1, 1)
    return (x, sigma), {"known": known, "mask": mask}


def _fixed_noise(k: int) -> Tensor:
    """The examples' replacement noise: the same draw every call, so the entry is deterministic (conformance)."""
    return torch.randn(2, 3, 4, 2, 2, generator=torch.Generator().manual_seed(0))


def _bad_mask(cfg):
    (x, sigma), kw = _inputs(cfg, generator=torch.Generator().manual_seed(0))
    return (x, sigma), {**kw, "mask": torch.ones(1, 1, 3, 1, 1, dtype=torch.bool)}


def _bad_known(cfg):
    (x, sigma), kw = _inputs(cfg, generator=torch.Generator().manual_seed(0))
    return (x, sigma), {**kw, "known": torch.zeros(2, 3, 5, 2, 2)}


_BAD = [BadInput(match="mask of shape", inputs=_bad_mask, why="mask not broadcastable to the sample"),
        BadInput(match="known must have the shape", inputs=_bad_known, why="known of another frame count")]


@register("wrapper", "replacement", paper="Ho et al. 2022 (VDM) §3.1, replacement method",
          tiny={"denoiser": toy_video_denoiser, "noise_sampler": _fixed_noise}, inputs=_inputs, bad_inputs=_BAD)
def replacement(denoiser: Callable | None = None, known: Tensor | None = None, mask: Tensor | None = None, *,
                generator: torch.Generator | None = None,
                noise_sampler: Callable[[int], Tensor] | None = None) -> Replacement:
    """Replacement conditioning: at every call the known entries of x become a fresh ``known + σ ε`` and x0 = known
    there (VDM §3.1; gives incoherent continuations, the baseline reconstruction guidance fixes).

    ``G(x (B, ...), sigma, *, known=None, mask=None, generator=None, **cond) -> x0`` of x's shape; call-time
    ``known``/``mask``/``generator`` override the bound ones. Noise: ``noise_sampler(k)`` for the k-th draw, else
    ``torch.randn`` from the generator.
    """
    g = Replacement(denoiser, known, mask, generator, noise_sampler)
    g._component_config = {"type": "wrapper/replacement"}
    return g


@register("wrapper", "reconstruction", paper="Ho et al. 2022 (VDM) §3.1, reconstruction guidance (E9)",
          tiny={"denoiser": toy_video_denoiser, "weight": 2.0, "noise_sampler": _fixed_noise}, inputs=_inputs,
          bad_inputs=[*_BAD, BadInput(match="downsample must be", init={"downsample": "lanczos"}),
                      BadInput(match="weight must be", init={"weight": -1.0})])
def reconstruction(denoiser: Callable | None = None, known: Tensor | None = None, mask: Tensor | None = None, *,
                   weight: float = 9.0, downsample=None, generator: torch.Generator | None = None,
                   noise_sampler: Callable[[int], Tensor] | None = None) -> ReconstructionGuidance:
    """Reconstruction guidance (VDM E9): replacement plus x̃_b = x̂_b − (w_r/2) ∇_{x_b}‖x_a − x̂_a‖² (VE form; the
    paper's VP factor α_t cancels, see the module docstring).

    ``weight`` is w_r (paper: 9 on Kinetics-600, 50 on BAIR; w_r > 1 helps). ``downsample``: None (temporal form:
    ``known`` has the sample's shape), ``"bilinear"``/``"bicubic"``/``"area"``/``"nearest"`` (per-frame resize to
    ``known``'s H, W), a registry key/config of a fixed module, or a callable: then ``known`` is the low-res video
    and the guidance is x̃ = x̂ − (w_r/2) ∇_x ‖x_a − down(x̂)‖² on every entry (spatial super-resolution).
    """
    if not weight >= 0:
        raise ValueError(f"wrapper/reconstruction: weight must be >= 0 (w_r), got {weight}")
    down, down_cfg = _resolve_downsample(downsample, "wrapper/reconstruction")
    g = ReconstructionGuidance(denoiser, known, mask, generator, noise_sampler, weight, down)
    g._component_config = {"type": "wrapper/reconstruction", "weight": g.weight, "downsample": down_cfg}
    return g
