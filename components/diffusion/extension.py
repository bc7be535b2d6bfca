"""Long videos from a fixed-length model by autoregressive extension (VDM §3.1 / §4.3.3, "E8").

Generate a window of frames, then repeatedly sample a new window whose first ``context_frames`` frames are the last
frames generated so far (known) with ``wrapper/reconstruction`` or ``wrapper/replacement``; keep its new frames.
VDM reports FVD 136.2 (reconstruction) vs 451.5 (replacement) for 64-frame extensions (docs/papers.md §3.3).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..registry import build
from ._video import check_video_sample, draw, frame_mask


__all__ = ["extend_video"]

GUIDANCE = ("reconstruction", "replacement")


def extend_video(
    denoiser: Callable,
    video: Tensor | None = None,
    *,
    new_frames: int,
    context_frames: int,
    window: int | None = None,
    sampler: Callable | str | None = None,
    sigmas: Tensor | None = None,
    guidance: str = "reconstruction",
    weight: float = 9.0,
    generator: torch.Generator | None = None,
    extra_args: dict | None = None,
    batch_size: int = 1,
    shape: tuple[int, int, int, int] | None = None,
) -> Tensor:
    """Extend ``video`` (``B C T H W``) by ``new_frames`` frames, ``window − context_frames`` per sampler run.

    Args:
        denoiser: D(x, sigma, **cond) -> x0 (VE). (A ``zoo`` pipeline extends with ``pipe.extend``, which fills in
            its denoiser, sampler, σ grid and frame count.)
        video: the clip to extend; None generates the first ``window`` frames from noise first (``batch_size``
            clips of ``shape`` = (C, T, H, W), T the window).
        new_frames: frames to append. context_frames: known frames per window (the last ones generated so far).
        window: frames per sampler run, the model's frame count (default: ``shape``'s T, else ``video``'s).
        sampler: a sampler (``build("sampler/ddim")``) or its key; sigmas: its decreasing grid.
        guidance: ``"reconstruction"`` (weight w_r) or ``"replacement"``.
        generator: noise for the start of every window and for the replacement of the known frames.
        extra_args: conditioning passed to the denoiser at every call (not sliced).

    Returns ``B C (T + new_frames) H W``; the given frames are returned unchanged.
    """
    where = "extend_video"
    if guidance not in GUIDANCE:
        raise ValueError(f"{where}: guidance must be one of {GUIDANCE}, got {guidance!r}")
    if not callable(denoiser):
        raise ValueError(f"{where}: denoiser must be a denoiser D(x, sigma, **cond), got {type(denoiser).__name__}")
    if isinstance(sampler, str | dict):
        sampler = build(sampler)
    if sampler is None or sigmas is None:
        raise ValueError(f"{where}: sampler and sigmas are needed (a zoo pipeline's pipe.extend supplies them)")
    sigmas = torch.as_tensor(sigmas)
    if window is None and shape is not None:
        window = shape[1]
    if video is None:
        if shape is None:
            raise ValueError(f"{where}: video=None (generate from scratch) needs shape=(C, T, H, W)")
        c, _, h, w = shape
        x = draw((batch_size, c, window, h, w), like=sigmas.float(), generator=generator) * sigmas[0]
        with torch.no_grad():
            video = sampler(denoiser, x, sigmas, extra_args=extra_args, generator=generator)
    check_video_sample(video, where, "video")
    window = video.shape[2] if window is None else int(window)
    if not 0 < context_frames < window:
        raise ValueError(f"{where}: context_frames must satisfy 0 < context_frames < window={window}, got "
                         f"{context_frames}")
    if context_frames > video.shape[2]:
        raise ValueError(f"{where}: context_frames={context_frames} is more than the video's {video.shape[2]} frames")
    if new_frames < 0:
        raise ValueError(f"{where}: new_frames must be >= 0, got {new_frames}")
    b, c, t0, h, w = video.shape
    mask = frame_mask(window, range(context_frames), device=video.device)
    knobs = {"weight": weight} if guidance == "reconstruction" else {}
    out = video
    while out.shape[2] < t0 + new_frames:
        known = torch.zeros(b, c, window, h, w, device=video.device, dtype=torch.float32)
        known[:, :, :context_frames] = out[:, :, -context_frames:]
        wrapped = build(f"wrapper/{guidance}", denoiser=denoiser, known=known, mask=mask, generator=generator,
                        **knobs)
        x = draw(known.shape, like=known, generator=generator) * sigmas[0].to(known)
        with torch.no_grad():  # reconstruction guidance takes its gradient with grad enabled locally
            window_out = sampler(wrapped, x, sigmas, extra_args=extra_args, generator=generator)
        out = torch.cat([out, window_out[:, :, context_frames:].to(out.dtype)], dim=2)
    return out[:, :, : t0 + new_frames]
