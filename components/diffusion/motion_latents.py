"""Text2Video-Zero's training-free video from an image model: motion dynamics in the latents (E13) and background
smoothing (E15); the cross-frame attention (E14) switch is in ``frame_attention.py``.

Motion dynamics (docs/papers.md §12.1, official pipeline): one latent x^1 at the first level is denoised with DDIM (η = 0)
for frame 1 alone to level T (kept) and on to T' < T; x^1_{T'} is copied to every frame and frame k (k = 0..m−1) is
translated globally by λ·k·δ; the copies are re-noised from T' back to T with the forward process (stochastic, not
DDIM inversion) and stacked after x^1_T. Sampling all frames from T with cross-frame attention gives the video.
Defaults: 50 DDIM steps at timesteps 981, 961, ..., 1, T = 941 and T' = 881 (indices 2 and 5 of the descending
grid), λ·δ = (12, 12) pixels per frame at 512² resolution.

Conventions here. The warp samples frame k at p + λ·k·δ·(latent size / ``reference_size``) with nearest-neighbour
sampling and reflection at the border, as the official code's grid (so for positive δ the content moves up-left);
pixel centres are sampled exactly, so zero motion copies frame 1 bit for bit. Re-noising uses the exact VE forward
transition x_T = x_{T'} + sqrt(σ_T² − σ_{T'}²) ε (= √(ᾱ_T/ᾱ_{T'}) z_{T'} + √(1 − ᾱ_T/ᾱ_{T'}) ε in VP form); the
official code's product of per-step α over [T', T) is this ratio shifted by one timestep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor

from ..registry import build
from ._video import check_video_sample, draw, take_cond


__all__ = ["background_smoothing", "motion_dynamics_latents", "translate_frames"]


def translate_frames(frame: Tensor, frames: int, motion: Sequence[float] = (12.0, 12.0), *, strength: float = 1.0,
                     reference_size: int = 512) -> Tensor:
    """``frame`` ``(B, C, 1, H, W)`` -> ``(B, C, frames, H, W)``: frame k sampled at p + strength·k·motion, the
    motion ``(δ_x, δ_y)`` given in pixels at ``reference_size`` and scaled to H, W (nearest, reflection)."""
    check_video_sample(frame, "translate_frames", "frame")
    if frame.shape[2] != 1:
        raise ValueError(f"translate_frames: frame must hold one frame (B, C, 1, H, W), got {tuple(frame.shape)}")
    if frames < 1:
        raise ValueError(f"translate_frames: frames must be >= 1, got {frames}")
    if len(motion) != 2:
        raise ValueError(f"translate_frames: motion must be (dx, dy) in pixels, got {motion!r}")
    b, _, _, h, w = frame.shape
    dtype = frame.dtype if frame.dtype == torch.float64 else torch.float32
    k = torch.arange(frames, dtype=dtype, device=frame.device).reshape(-1, 1, 1)
    xs = (2 * torch.arange(w, dtype=dtype, device=frame.device) + 1) / w - 1  # pixel centres, align_corners=False
    ys = (2 * torch.arange(h, dtype=dtype, device=frame.device) + 1) / h - 1
    shift_x = 2 * strength * float(motion[0]) / reference_size * k  # normalised units: 2 = the full width
    shift_y = 2 * strength * float(motion[1]) / reference_size * k
    grid = torch.stack(torch.broadcast_tensors(xs.reshape(1, 1, w) + shift_x, ys.reshape(1, h, 1) + shift_y), -1)
    images = repeat(frame[:, :, 0].to(dtype), "b c h w -> (b k) c h w", k=frames)
    out = F.grid_sample(images, repeat(grid, "k h w two -> (b k) h w two", b=b), mode="nearest",
                        padding_mode="reflection", align_corners=False)
    return rearrange(out, "(b k) c h w -> b c k h w", b=b).to(frame.dtype)


def motion_dynamics_latents(
    denoiser: Callable,
    x: Tensor,
    sigmas: Tensor,
    *,
    frames: int,
    t_index: int = 2,
    t_prime_index: int = 5,
    motion: Sequence[float] = (12.0, 12.0),
    strength: float = 1.0,
    reference_size: int = 512,
    sampler: Callable | str = "sampler/ddim",
    generator: torch.Generator | None = None,
    extra_args: dict | None = None,
) -> Tensor:
    """Text2Video-Zero's initial latents ``(B, C, frames, H, W)`` at ``sigmas[t_index]`` (E13).

    ``x`` ``(B, C, 1, H, W)``: frame 1's latent at ``sigmas[0]`` (unit noise × σ_0). The sampler (DDIM, η = 0)
    takes it to ``sigmas[t_index]`` (T, kept as frame 1) and on to ``sigmas[t_prime_index]`` (T'); frames 2..m are
    the translations ``translate_frames`` of x^1_{T'} re-noised to T. Continue with
    ``sampler(D, latents, sigmas[t_index:])`` and cross-frame attention (``use_cross_frame_attention``).
    Default indices 2 and 5 are T = 941, T' = 881 on the 50-step grid 981, 961, ..., 1.
    """
    where = "motion_dynamics_latents"
    check_video_sample(x, where)
    if x.shape[2] != 1:
        raise ValueError(f"{where}: x must be one frame's latent (B, C, 1, H, W), got {tuple(x.shape)}")
    sigmas = torch.as_tensor(sigmas)
    if not 0 <= t_index < t_prime_index < len(sigmas):
        raise ValueError(f"{where}: need 0 <= t_index < t_prime_index < len(sigmas)={len(sigmas)}, got "
                         f"t_index={t_index}, t_prime_index={t_prime_index}")
    if frames < 1:
        raise ValueError(f"{where}: frames must be >= 1, got {frames}")
    sample = build(sampler) if isinstance(sampler, str) else sampler
    cond = take_cond(dict(extra_args or {}), slice(0, 1), frames, where)
    x1_t = sample(denoiser, x, sigmas[:t_index + 1], extra_args=cond) if t_index > 0 else x
    x1_tp = sample(denoiser, x1_t, sigmas[t_index:t_prime_index + 1], extra_args=cond)
    warped = translate_frames(x1_tp, frames, motion, strength=strength, reference_size=reference_size)
    s_t, s_tp = sigmas[t_index].to(warped), sigmas[t_prime_index].to(warped)
    renoised = warped + (s_t.square() - s_tp.square()).sqrt() * draw(warped.shape, like=warped, generator=generator)
    return torch.cat([x1_t.to(renoised.dtype), renoised[:, :, 1:]], dim=2)


def background_smoothing(x: Tensor, foreground: Tensor, *, alpha: float = 0.6, motion: Sequence[float] = (12.0, 12.0),
                         strength: float = 1.0, reference_size: int = 512) -> Tensor:
    """Text2Video-Zero's background smoothing (E15): x̄^k = x^k + M_BG^k α (x̃^k − x^k).

    ``x`` ``(B, C, T, H, W)`` latents; ``foreground`` ``(B or 1, 1, T, H, W)`` masks in [0, 1] (1 = object, at
    latent resolution). x̃^k is frame 1's background translated as in the motion dynamics, and the background mask
    M_BG^k = (1 − M^k)(1 − warp_k(M^1)) excludes both the frame's own object and frame 1's warped object. ``alpha``
    weights the warped frame-1 background (paper 0.6; the code's ``smooth_bg_strength = 0.4`` is 1 − α). The
    official code applies it once to the latents at T before a second denoising pass. Use zero ``motion`` for a
    static camera.
    """
    where = "background_smoothing"
    check_video_sample(x, where)
    if not isinstance(foreground, Tensor) or foreground.ndim != 5 or foreground.shape[1] != 1 or \
            foreground.shape[2:] != x.shape[2:] or foreground.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"{where}: foreground must be masks of shape (B or 1, 1, T, H, W) = (.., 1, "
                         f"{', '.join(map(str, x.shape[2:]))}), got {tuple(getattr(foreground, 'shape', ()))}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"{where}: alpha must lie in [0, 1], got {alpha}")
    fg = foreground.to(x.dtype).expand(x.shape[0], -1, -1, -1, -1)
    frames = x.shape[2]
    kw = {"strength": strength, "reference_size": reference_size}
    warped_bg = translate_frames(x[:, :, :1] * (1 - fg[:, :, :1]), frames, motion, **kw)
    warped_fg1 = translate_frames(fg[:, :, :1], frames, motion, **kw)
    background = (1 - fg) * (1 - warped_fg1)
    return x + background * alpha * (warped_bg - x)
