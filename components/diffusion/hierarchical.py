"""ControlVideo's hierarchical sampler for long videos (Zhang et al. 2023, ``generate_long_video``).

Key frames at 0, w − 1, 2(w − 1), ... and the last frame (w = clip length, ⌊√T⌋ by default) split the video into
clips that share their end frames. At every denoising step the key frames are denoised jointly, then each clip's
in-between frames are denoised with the clip's two key frames around them (``x[:, :, k_i : k_{i+1} + 1]``); the
key frames' x̂0 comes from the joint pass. The combined x̂0 drives any inner sampler, so the schedule of updates is
the inner sampler's. (In ControlVideo the model also changes its attention between the passes: fully cross-frame
over the key frames, then K/V from the clip's two key frames only — ``attention/fully_cross_frame`` with
``key_frames=[0, -1]``; pass a second denoiser for the clips to ``hierarchical_denoiser`` for that.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from ..registry import BadInput, build, register
from ._common import upcast
from ._video import AR1GaussianDenoiser, check_video_sample, take_cond, take_frames
from .multidiffusion import _stack
from .sampling import Sampler, sampler_output_shape


__all__ = ["HierarchicalSampler", "hierarchical_denoiser", "key_frame_indices"]


def key_frame_indices(frames: int, clip_length: int | None = None) -> list[int]:
    """Key frames 0, w − 1, 2(w − 1), ... plus the last frame; w = ``clip_length`` or ⌊√T⌋ (at least 2)."""
    w = clip_length if clip_length is not None else max(2, math.isqrt(frames))
    if w < 2:
        raise ValueError(f"sampler/hierarchical: clip_length must be >= 2 (a clip holds its two key frames), got {w}")
    keys = list(range(0, frames, w - 1))
    if keys[-1] != frames - 1:
        keys.append(frames - 1)
    return keys


def hierarchical_denoiser(denoiser: Callable, clip_length: int | None = None,
                          clip_denoiser: Callable | None = None) -> Callable:
    """D_h(x (B, C, T, H, W), sigma, **cond) -> x0: key frames jointly, then each clip with its two key frames.

    ``clip_denoiser`` (default ``denoiser``) runs the clip passes; clips of equal length share one batched call.
    """
    clip_net = clip_denoiser if clip_denoiser is not None else denoiser
    where = "sampler/hierarchical"

    def denoise(x: Tensor, sigma, **cond) -> Tensor:
        check_video_sample(x, where)
        x, sigma = upcast(x, sigma)
        frames = x.shape[2]
        keys = key_frame_indices(frames, clip_length)
        sigma_b = sigma.expand(x.shape[0]) if sigma.ndim == 0 else sigma
        out = torch.empty_like(x)
        key_index = torch.tensor(keys, device=x.device)
        out[:, :, key_index] = denoiser(x[:, :, key_index], take_frames(sigma_b, key_index, frames, "sigma", where),
                                        **take_cond(cond, key_index, frames, where)).to(x.dtype)
        clips: dict[int, list[slice]] = {}
        for a, b in zip(keys[:-1], keys[1:]):
            if b - a > 1:
                clips.setdefault(b - a + 1, []).append(slice(a, b + 1))
        for group in clips.values():
            xs = torch.cat([x[:, :, idx] for idx in group])
            sig = _stack([take_frames(sigma_b, idx, frames, "sigma", where) for idx in group])
            conds = [take_cond(cond, idx, frames, where) for idx in group]
            preds = clip_net(xs, sig, **{k: _stack([c[k] for c in conds]) for k in cond}).to(x.dtype)
            for idx, pred in zip(group, preds.chunk(len(group))):
                out[:, :, idx.start + 1:idx.stop - 1] = pred[:, :, 1:-1]
        return out

    return denoise


def _inputs(cfg, batch=2, generator=None):
    from .sampling import _SeededNoise
    from .schedules import karras_sigmas

    frames = 7
    den = AR1GaussianDenoiser(0.8)
    sigmas = karras_sigmas(8, 0.01, 20.0)
    x = torch.randn(batch, 1, frames, 1, 1, generator=generator) * sigmas[0]
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    return (den, x, sigmas), {"noise_sampler": _SeededNoise(tuple(x.shape), seed)}


@register("sampler", "hierarchical", paper="Zhang et al. 2023 (ControlVideo), hierarchical sampler",
          tiny={"sampler": "sampler/ddim", "clip_length": 3}, inputs=_inputs, output_shape=sampler_output_shape,
          bad_inputs=[BadInput(match="clip_length must be >= 2", init={"clip_length": 1}),
                      BadInput(match="5-D video", inputs=lambda cfg: ((_inputs(cfg)[0][0], torch.zeros(2, 7),
                                                                       torch.tensor([2.0, 1.0, 0.0])), {}))])
class HierarchicalSampler(Sampler):
    """Long-video sampling with key frames (ControlVideo): at every step the key frames are denoised jointly, then
    every clip between two key frames is denoised with those two key frames; an inner sampler takes the steps.

    ``(denoiser, x (B, C, T, H, W), sigmas) -> x``. ``sampler``: the inner sampler's key or config (ControlVideo:
    DDIM, 50 steps); ``clip_length``: frames per clip including its two key frames (default ⌊√T⌋; 2 makes every
    frame a key frame, which is plain joint sampling). Denoiser calls per step: 1 + one per distinct clip length.
    """

    key = "sampler/hierarchical"

    def __init__(self, sampler: str | Mapping = "sampler/ddim", clip_length: int | None = None,
                 progress: bool = False) -> None:
        super().__init__(progress)
        if clip_length is not None and int(clip_length) < 2:
            raise ValueError(f"{self.key}: clip_length must be >= 2 (a clip holds its two key frames), got "
                             f"{clip_length}")
        self.clip_length = None if clip_length is None else int(clip_length)
        self.inner = build(sampler if isinstance(sampler, str) else dict(sampler))
        if not isinstance(self.inner, Sampler) or self.inner.increasing:
            raise ValueError(f"{self.key}: sampler must be a (noise to data) sampler key such as 'sampler/ddim', got "
                             f"{sampler!r}")

    def _sample(self, run, x, sigmas):
        check_video_sample(x, self.key)
        den = hierarchical_denoiser(run.denoiser, self.clip_length)
        return self.inner(den, x, sigmas, extra_args=run.extra, callback=run.callback, generator=run.generator,
                          noise_sampler=run.noise_sampler, progress=run.progress)
