"""ControlVideo's interleaved-frame smoother as a denoiser wrapper (Zhang et al. 2023, §3.3).

At chosen sampler steps the predicted clean video x̂0 is smoothed: on even steps every odd-indexed frame is replaced
by the interpolation of its two (even) neighbours, on odd steps every even-indexed frame by its odd neighbours, so
two consecutive smoothed steps touch every frame. ControlVideo interpolates decoded RGB frames with RIFE and
re-encodes; here the interpolator is pluggable, ``interpolator(prev, next) -> middle`` on ``(B, C, n, H, W)``
tensors (a user's can decode / interpolate / encode), with the linear mid-point (prev + next)/2 as the default.

Differences from the official code, on purpose: a frame with only one neighbour (the first or last frame) is left
as predicted (ControlVideo pads with the end frame), so a video linear in time is a fixed point of the linear
smoother. ControlVideo's step is x_{t−1} = √ᾱ' x̂0' + √(1 − ᾱ') ε̂ with ε̂ of the *unsmoothed* prediction. A plain
x0 wrapper makes the sampler recompute ε̂ from x̂0', which applies only (1 − σ'/σ) of the correction; with
``keep_eps=True`` the wrapper returns (S − r D)/(1 − r), r = σ'/σ, which makes an Euler / DDIM (η = 0) step exactly
ControlVideo's update S + σ' ε̂.

The step index and the grid (σ, σ') come from the step context every sampler passes (``step.Step``); nothing is
counted between calls, so a second run needs no reset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..registry import BadInput, register
from ._common import upcast
from ._video import check_video_sample, toy_video_denoiser
from .step import Step, call_denoiser


__all__ = ["InterleavedSmoother", "interleaved_smoother", "linear_interpolator", "smooth_frames"]

FRAMES = ("alternate", "odd", "even")


def linear_interpolator(prev: Tensor, nxt: Tensor) -> Tensor:
    """The mid-point of two frame stacks ``(B, C, n, H, W)``: (prev + next) / 2."""
    return torch.lerp(prev, nxt, 0.5)


def smooth_frames(x0: Tensor, parity: int, interpolator: Callable[[Tensor, Tensor], Tensor] = linear_interpolator
                  ) -> Tensor:
    """``x0`` ``(B, C, T, H, W)`` with every frame j ≡ ``parity`` (mod 2), 0 < j < T − 1, replaced by
    ``interpolator(x0[j − 1], x0[j + 1])``; the frames of the other parity and the end frames are unchanged."""
    first = 1 if parity % 2 else 2
    if first >= x0.shape[2] - 1:  # no frame of this parity has two neighbours
        return x0
    targets = torch.arange(first, x0.shape[2] - 1, 2, device=x0.device)
    middle = interpolator(x0[:, :, targets - 1], x0[:, :, targets + 1]).to(x0.dtype)
    if middle.shape != x0[:, :, targets].shape:
        raise ValueError(f"interleaved smoother: interpolator returned shape {tuple(middle.shape)} for neighbours of "
                         f"shape {tuple(x0[:, :, targets].shape)}")
    out = x0.clone()
    out[:, :, targets] = middle
    return out


class InterleavedSmoother:
    """Denoiser wrapper smoothing x̂0 at chosen steps; see ``interleaved_smoother``."""

    key = "wrapper/interleaved_smoother"

    takes_step = True

    def __init__(self, denoiser, steps, frames, interpolator, keep_eps) -> None:
        if frames not in FRAMES:
            raise ValueError(f"{self.key}: frames must be one of {FRAMES}, got {frames!r}")
        if steps is not None and (isinstance(steps, int) or not all(isinstance(s, int) and s >= 0 for s in steps)):
            raise ValueError(f"{self.key}: steps must be None (every step) or a list of step indices >= 0, got "
                             f"{steps!r}")
        if interpolator != "linear" and not callable(interpolator):
            raise ValueError(f"{self.key}: interpolator must be 'linear' or a callable (prev, next) -> middle, got "
                             f"{interpolator!r}")
        self.denoiser, self.frames, self.keep_eps = denoiser, frames, bool(keep_eps)
        self.steps = None if steps is None else sorted(set(steps))
        self.interpolator = linear_interpolator if interpolator == "linear" else interpolator

    def parity(self, step: int) -> int:
        """1 (replace odd frames) or 0 (even frames): ControlVideo's even step -> odd frames, odd step -> even."""
        if self.frames == "alternate":
            return 1 - step % 2
        return 1 if self.frames == "odd" else 0

    def __call__(self, x: Tensor, sigma, *, denoiser: Callable | None = None, step: Step | None = None,
                 **cond) -> Tensor:
        net = denoiser if denoiser is not None else self.denoiser
        if net is None:
            raise ValueError(f"{self.key}: no denoiser bound; build('{self.key}', denoiser=D, ...) or pass denoiser=")
        check_video_sample(x, self.key)
        if step is None:
            raise ValueError(f"{self.key}: step must be the sampler's step context (a sampler passes it; call it "
                             f"directly with step=components.diffusion.Step(index=i, num_steps=N)), got None")
        if self.keep_eps and step.sigmas is None:
            raise ValueError(f"{self.key}: keep_eps=True needs the step context's sigmas (the sampler's grid, for "
                             f"σ'/σ), got a step without them")
        x, sigma = upcast(x, sigma)
        x0 = call_denoiser(net, x, sigma, step, **cond).to(x.dtype)
        i = step.index
        if self.steps is not None and i not in self.steps:
            return x0
        smoothed = smooth_frames(x0, self.parity(i), self.interpolator)
        if not self.keep_eps:
            return smoothed
        r = (step.sigmas[i + 1] / step.sigmas[i]).to(x.dtype)
        return (smoothed - r * x0) / (1 - r)


def _inputs(cfg, batch=2, generator=None):
    x = torch.randn(batch, 3, 5, 2, 2, generator=generator) * 2
    sigmas = torch.tensor([3.0, 2.0, 1.0, 0.5, 0.0])
    return (x, torch.rand(batch, generator=generator) + 0.2), {"step": Step(index=1, num_steps=4, sigmas=sigmas)}


@register("wrapper", "interleaved_smoother", paper="Zhang et al. 2023 (ControlVideo), interleaved-frame smoother",
          tiny={"denoiser": toy_video_denoiser, "frames": "odd"}, inputs=_inputs,
          bad_inputs=[BadInput(match="frames must be one of", init={"frames": "all"}),
                      BadInput(match="steps must be None", init={"steps": 3}),
                      BadInput(match="step must be the sampler's step context",
                               inputs=lambda cfg: ((torch.zeros(2, 3, 5, 2, 2), torch.ones(2)), {})),
                      BadInput(match="5-D video", inputs=lambda cfg: ((torch.zeros(2, 3, 4), torch.ones(2)), {}))])
def interleaved_smoother(denoiser: Callable | None = None, steps: Sequence[int] | None = None,
                         frames: str = "alternate", interpolator="linear", keep_eps: bool = False
                         ) -> InterleavedSmoother:
    """Smooth the predicted x̂0 ``(B, C, T, H, W)`` at sampler steps ``steps`` (None: every step) by replacing
    interleaved frames with interpolations of their neighbours (ControlVideo).

    ControlVideo: 50 DDIM steps, ``steps=[30, 31]``, ``frames="alternate"`` (even step: odd frames; odd step: even
    frames); ``"odd"`` / ``"even"`` fix the parity. ``interpolator``: ``"linear"`` or ``fn(prev, next) -> middle``.
    ``keep_eps`` reproduces ControlVideo's update exactly under Euler / DDIM(η = 0) (σ'/σ from the step context).
    The step index and grid are the sampler's step context (``step=``), which every sampler passes.
    """
    g = InterleavedSmoother(denoiser, steps, frames, interpolator, keep_eps)
    g._component_config = {"type": "wrapper/interleaved_smoother", "steps": g.steps, "frames": frames,
                            "interpolator": "linear" if interpolator == "linear" else "callable",
                            "keep_eps": g.keep_eps}
    return g
