"""Helpers shared by the sampling-time video techniques: frame masks, per-frame slicing of inputs, noise draws.

Conditioning that is itself a video (a 5-D ``B C T H W`` tensor, e.g. ``concat`` frames or ControlNet maps) is
frame-aligned with the sample, so a technique that runs the denoiser on a subset of frames (windows, key frames,
clips) takes the same frames of it; every other keyword (text ``context``, ``added_cond``) is passed unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..checks import check_video


def check_mask(mask: Tensor, like: Tensor, *, name: str = "mask", where: str) -> Tensor:
    """A boolean mask that broadcasts against ``like`` (same rank, each dim 1 or equal); ValueError otherwise."""
    if not isinstance(mask, Tensor):
        raise ValueError(f"{where}: {name} must be a boolean tensor broadcastable to {tuple(like.shape)}, got "
                         f"{type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise ValueError(f"{where}: {name} must be a boolean tensor (True = known), got dtype {mask.dtype}")
    if mask.ndim != like.ndim or any(m not in (1, s) for m, s in zip(mask.shape, like.shape)):
        raise ValueError(f"{where}: {name} of shape {tuple(mask.shape)} does not broadcast against the sample of "
                         f"shape {tuple(like.shape)}; use the same rank with 1s, e.g. (1, 1, T, 1, 1) for frames")
    return mask


def frame_mask(frames: int, known: Sequence[int], *, device=None) -> Tensor:
    """``(1, 1, T, 1, 1)`` boolean mask, True at the frame indices ``known`` (negative counts from the end)."""
    mask = torch.zeros(1, 1, frames, 1, 1, dtype=torch.bool, device=device)
    mask[:, :, list(known)] = True
    return mask


def level(sigma, x: Tensor) -> Tensor:
    """σ (scalar, ``(B,)`` or broadcastable, e.g. per-frame ``(B, 1, T, 1, 1)``) broadcast against ``x``."""
    s = torch.as_tensor(sigma, device=x.device, dtype=x.dtype)
    if s.ndim == 1:
        return s.reshape(-1, *([1] * (x.ndim - 1)))
    return s


def take_frames(value, index: Tensor | slice, frames: int, name: str, where: str):
    """``value[:, :, index]`` for a 5-D video tensor with ``frames`` frames (or a per-frame σ); other values as is."""
    if not isinstance(value, Tensor) or value.ndim != 5:
        return value
    if value.shape[2] == 1:  # broadcast over frames (a per-sample level of shape (B, 1, 1, 1, 1))
        return value
    if value.shape[2] != frames:
        raise ValueError(f"{where}: {name} is a 5-D video with {value.shape[2]} frames but the sample has {frames}; "
                         "frame-aligned conditioning must have the sample's frame count")
    return value[:, :, index]


def take_cond(cond: dict, index: Tensor | slice, frames: int, where: str) -> dict:
    """The conditioning keywords of a frame subset: 5-D video tensors sliced on dim 2, others unchanged."""
    return {k: take_frames(v, index, frames, k, where) for k, v in cond.items()}


def draw(shape, *, like: Tensor, generator: torch.Generator | None = None,
         noise_sampler: Callable[[int], Tensor] | None = None, k: int = 0) -> Tensor:
    """Standard normal noise of ``shape``: ``noise_sampler(k)`` if given, else drawn on the generator's device."""
    if noise_sampler is not None:
        return noise_sampler(k).to(device=like.device, dtype=like.dtype)
    device = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def check_video_sample(x: Tensor, where: str, name: str = "x") -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"{where}: {name} must be a 5-D video tensor B C T H W, got {type(x).__name__}")
    check_video(x, name, where=where)


def toy_video_denoiser(x: Tensor, sigma, context: Tensor | None = None, concat: Tensor | None = None) -> Tensor:
    """A smooth stand-in denoiser that mixes frames (so gradients flow between frames): registry examples, docs.

    x0 = (x + mean over frames of x) / (2 (1 + σ²)), plus the mean of ``context`` (B, K) and of ``concat`` per sample.
    """
    s = level(sigma, x)
    out = (x + x.mean(dim=2, keepdim=True)) / (2 * (1 + s.square()))
    for extra in (context, concat):
        if extra is not None:
            out = out + extra.flatten(1).mean(-1).reshape(-1, *([1] * (x.ndim - 1))).to(out.dtype)
    return out


class AR1GaussianDenoiser:
    """The exact denoiser of videos whose every pixel is a zero-mean AR(1) series over frames, Σ_ij = ρ^|i−j|, at
    any frame count (so it also denoises any subset of consecutive frames): x0 = Σ(Σ + σ²I)⁻¹ x along time.

    A test oracle for techniques that call the denoiser on windows, key frames or clips. x ``(B, C, T, H, W)``.
    """

    def __init__(self, rho: float = 0.9) -> None:
        self.rho = float(rho)

    def cov(self, frames: int, dtype=torch.float64) -> Tensor:
        t = torch.arange(frames, dtype=dtype)
        return self.rho ** (t[:, None] - t[None, :]).abs()

    def __call__(self, x: Tensor, sigma, **cond) -> Tensor:
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        x = x.to(dtype)
        vals, vecs = torch.linalg.eigh(self.cov(x.shape[2]).to(dtype))
        s = torch.as_tensor(sigma, dtype=dtype, device=x.device)
        s2 = (s.expand(x.shape[0]) if s.ndim == 0 else s.reshape(-1)).square().reshape(-1, 1)
        gain = vals / (vals + s2)  # (B, T) shrinkage per eigen-direction
        coords = torch.einsum("bcthw,ts->bcshw", x, vecs)
        return torch.einsum("bcshw,ts,bs->bcthw", coords, vecs, gain)
