"""MultiDiffusion over overlapping temporal windows (Lumiere §3.2, after Bar-Tal et al. 2023).

A model that sees ``window`` frames denoises a longer video window by window at every step; the windows' x0
predictions are reconciled by least squares, argmin_J Σ_i ‖F_i(J) − Φ(J_i)‖² with F_i the crop to window i, whose
solution is the per-frame average of the predictions of the windows that contain the frame. Lumiere applies it to
its spatial super-resolution stage; as a denoiser wrapper it works for any denoiser and sampler.

Windows start at 0, stride, 2·stride, ... and one more window ends at the last frame when the stride does not land
there, so every frame is covered and no window is cropped. Conditioning that is a 5-D video is sliced per window.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..registry import BadInput, register
from ._common import upcast
from ._video import check_video_sample, take_cond, take_frames, toy_video_denoiser
from .step import Step, call_denoiser


__all__ = ["MultiDiffusion", "multidiffusion", "sample_windows", "window_starts"]


def window_starts(frames: int, window: int, stride: int, where: str = "window_starts") -> list[int]:
    """First frame of every window: 0, stride, ... plus ``frames − window`` if the stride misses the end."""
    if window < 1 or stride < 1:
        raise ValueError(f"{where}: window and stride must be >= 1, got window={window}, stride={stride}")
    if stride > window:
        raise ValueError(f"{where}: stride={stride} must be <= window={window}, or frames between windows are never "
                         "denoised")
    if window > frames:
        raise ValueError(f"{where}: window={window} is larger than the sample's T={frames} frames")
    starts = list(range(0, frames - window + 1, stride))
    if starts[-1] != frames - window:
        starts.append(frames - window)
    return starts


def _stack(values: list) -> object:
    """Per-window values batched along dim 0 (tensors with a batch dim), or the shared value."""
    first = values[0]
    if isinstance(first, Tensor) and first.ndim >= 1:
        return torch.cat(values, dim=0)
    return first


class MultiDiffusion:
    """Denoiser wrapper averaging x0 over overlapping temporal windows; see ``multidiffusion``."""

    key = "wrapper/multidiffusion"
    takes_step = True  # forwarded to the wrapped denoiser (components.diffusion.step)

    def __init__(self, denoiser: Callable | None, window: int, stride: int, window_batch: int | None) -> None:
        window_starts(window, window, stride, self.key)  # checks window and stride
        if window_batch is not None and window_batch < 1:
            raise ValueError(f"{self.key}: window_batch must be None (all windows in one call) or >= 1, got "
                             f"{window_batch}")
        self.denoiser, self.window, self.stride, self.window_batch = denoiser, int(window), int(stride), window_batch

    def __call__(self, x: Tensor, sigma, *, denoiser: Callable | None = None, step: Step | None = None,
                 **cond) -> Tensor:
        net = denoiser if denoiser is not None else self.denoiser
        if net is None:
            raise ValueError(f"{self.key}: no denoiser bound; build('{self.key}', denoiser=D, ...) or pass denoiser=")
        check_video_sample(x, self.key)
        x, sigma = upcast(x, sigma)
        frames = x.shape[2]
        starts = window_starts(frames, self.window, self.stride, self.key)
        total = torch.zeros_like(x)
        count = x.new_zeros(1, 1, frames, 1, 1)
        chunk = self.window_batch or len(starts)
        sigma_b = sigma.expand(x.shape[0]) if sigma.ndim == 0 else sigma
        for first in range(0, len(starts), chunk):
            group = [slice(s, s + self.window) for s in starts[first:first + chunk]]
            xs = torch.cat([x[:, :, idx] for idx in group])
            sig = _stack([take_frames(sigma_b, idx, frames, "sigma", self.key) for idx in group])
            conds = [take_cond(cond, idx, frames, self.key) for idx in group]
            batched = {k: _stack([c[k] for c in conds]) for k in cond}
            out = call_denoiser(net, xs, sig, step, **batched).to(x.dtype).chunk(len(group))
            for idx, pred in zip(group, out):
                total[:, :, idx] += pred
                count[:, :, idx] += 1
        return total / count


def _inputs(cfg, batch=2, generator=None):
    x = torch.randn(batch, 3, 5, 2, 2, generator=generator) * 2
    sigma = torch.rand(batch, generator=generator) + 0.2
    return (x, sigma), {"context": torch.randn(batch, 4, generator=generator)}


@register("wrapper", "multidiffusion", paper="Bar-Tal et al. 2024 (Lumiere) §3.2; Bar-Tal et al. 2023 (MultiDiffusion)",
          tiny={"denoiser": toy_video_denoiser, "window": 3, "stride": 2}, inputs=_inputs,
          bad_inputs=[BadInput(match="window=3 is larger than the sample's T=2",
                               inputs=lambda cfg: ((torch.zeros(2, 3, 2, 2, 2), torch.ones(2)), {})),
                      BadInput(match="stride=4 must be <= window", init={"stride": 4}),
                      BadInput(match="5-D video", inputs=lambda cfg: ((torch.zeros(2, 3, 5), torch.ones(2)), {}))])
def multidiffusion(denoiser: Callable | None = None, window: int = 16, stride: int = 8,
                   window_batch: int | None = None) -> MultiDiffusion:
    """Run ``denoiser`` on overlapping temporal windows of ``window`` frames (step ``stride``) and average the x0
    predictions where windows overlap (the least-squares reconciliation of MultiDiffusion, Lumiere's SSR).

    ``G(x (B, C, T, H, W), sigma, **cond) -> x0`` of x's shape, T >= window; one window (T = window) is exactly the
    wrapped denoiser. ``window_batch``: windows per denoiser call (None: all in one batched call; 1: window by
    window, the memory of one window). 5-D conditioning (and per-frame σ) is sliced per window.
    """
    g = MultiDiffusion(denoiser, window, stride, window_batch)
    g._component_config = {"type": "wrapper/multidiffusion", "window": g.window, "stride": g.stride,
                            "window_batch": window_batch}
    return g


def sample_windows(denoiser: Callable, x: Tensor, sigmas: Tensor, *, sampler: Callable, window: int, stride: int,
                   window_batch: int | None = 1, **sampler_kwargs) -> Tensor:
    """Sample a video longer than the model's ``window`` frames: ``sampler`` over ``wrapper/multidiffusion``.

    ``x`` ``(B, C, T, H, W)`` at ``sigmas[0]``; the model is called window by window (``window_batch=1``).
    """
    wrapped = multidiffusion(denoiser, window=window, stride=stride, window_batch=window_batch)
    return sampler(wrapped, x, sigmas, **sampler_kwargs)
