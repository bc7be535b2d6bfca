"""A causal video VAE's decode split across ranks by latent frames, each rank warming its cache up on the frames
before its chunk (option (a) of issue #22: recompute an overlap, no rank waits for another).

A causal decoder (Wan 2.1 / 2.2's ``net/wan_vae``) turns latent frame ``i`` into pixel frames ``[0, 1)`` for
``i = 0`` and ``[1 + f_t(i − 1), 1 + f_t·i)`` after. Every layer that looks back in time keeps the last ``k_t − 1``
frames of its input in the ``FeatureCache`` and the norms and attention act per frame, so frame ``i``'s output
depends on latent frames ``i − R … i`` only, ``R`` the decoder's temporal receptive field (finite). Rank ``r`` of
``P`` owns the contiguous latent chunk ``[a_r, b_r)`` (``frame_chunks``) and decodes ``[a_r − W, b_r)`` through a
fresh cache, dropping the outputs of the ``W`` warm-up frames. The fresh cache treats frame ``a_r − W`` as a clip
start (zeros before it, Wan's unrepeated first frame in the temporal up-sampler): a difference that enters at that
frame and reaches ``R`` frames on, so ``W = R + 1`` reproduces the one-process decode exactly (every kept frame is
the same arithmetic on the same cache contents: measured bit-equal, tests/distributed). A smaller ``W`` trades
exactness for less recomputation (the error at the chunk seams is what ``warmup`` buys; docs/context_parallel.md).

``R`` is measured, not derived: one decode of a NaN impulse at latent frame 1 on a ``1 × 1`` latent grid
(``decode_receptive_field``): NaN survives every conv, norm, attention and clamp, so the last output frame it
reaches is the last latent frame that sees frame 1.

The frames are all-gathered, so every rank returns the whole clip (rank 0 writes it), as the sharded sampler does.
"""

from __future__ import annotations

import functools

import torch
import torch.distributed as dist
from torch import Tensor, nn


__all__ = ["decode_receptive_field", "frame_chunks", "frame_parallel_decode", "set_frame_parallel_decode",
           "splits_frames"]

_MAX_PROBE = 1024  # latent frames: a decoder that still looks back further is refused


def frame_chunks(frames: int, ranks: int) -> list[tuple[int, int]]:
    """``frames`` latent frames cut into ``ranks`` contiguous ``[a, b)`` chunks, sizes differing by at most one (the
    first ones larger; a rank past the clip gets an empty chunk)."""
    base, extra = divmod(frames, ranks)
    bounds = [0]
    for r in range(ranks):
        bounds.append(bounds[-1] + base + (r < extra))
    return list(zip(bounds, bounds[1:]))


def _pixel_frames(a: int, b: int, temporal_factor: int) -> int:
    """Decoded frames of latent frames ``[a, b)``: 1 for frame 0, ``f_t`` for each later one."""
    return 0 if b <= a else (a == 0) + temporal_factor * (b - max(a, 1))


@torch.no_grad()
def decode_receptive_field(vae: nn.Module) -> int:
    """``R``: how many latent frames after a latent frame its value still reaches in ``vae``'s decode (measured by a
    NaN impulse at latent frame 1 on a ``1 × 1`` grid, doubling the clip until the impulse dies out before its end).

    Shapes: probes ``(1, latent_channels, L, 1, 1)`` in the VAE's dtype on its device.
    """
    param = next(vae.parameters())
    f_t = vae.temporal_factor
    length = 64  # Wan 2.1's decoder: R = 38, the tiny test VAEs': 30 (one probe for both)
    while length <= _MAX_PROBE:
        z = torch.zeros(1, vae.latent_channels, length, 1, 1, device=param.device, dtype=param.dtype)
        z[:, :, 1] = float("nan")
        video = type(vae).decode(vae, z)
        hit = video.isnan().flatten(3).any(dim=(0, 1, 3)).nonzero()  # output frames the impulse reached
        last = int(hit.max()) if len(hit) else 0
        latent = 0 if last == 0 else 1 + (last - 1) // f_t
        if latent < length - 1:
            return latent - 1
        length *= 2
    raise ValueError(f"decode_receptive_field: {type(vae).__name__}'s decode still depends on a latent frame "
                     f"{_MAX_PROBE} frames later (not a causal decoder with a finite receptive field)")


def frame_parallel_decode(vae: nn.Module, z: Tensor, *, group: dist.ProcessGroup | None = None,
                          warmup: int | None = None, **decode_kwargs) -> Tensor:
    """``vae.decode(z, **decode_kwargs)`` with this rank of ``group`` (default: the world) decoding its chunk of latent
    frames after ``warmup`` frames before it (default ``R + 1``: exact); every rank returns the whole clip.

    Shapes: ``z`` ``(B, z, T, h, w)``, the same on every rank -> ``(B, C_out, 1 + f_t(T − 1), h·f, w·f)``.
    """
    where = "frame_parallel_decode"
    if warmup is None:
        warmup = decode_receptive_field(vae) + 1
    if not isinstance(warmup, int) or warmup < 1:
        raise ValueError(f"{where}: warmup must be a positive number of latent frames (a chunk that starts cold "
                         f"would be decoded as a clip's first frame), got {warmup!r}")
    decode = functools.partial(type(vae).decode, vae, **decode_kwargs)
    ranks, me = dist.get_world_size(group), dist.get_rank(group)
    f_t, frames = vae.temporal_factor, z.shape[2]
    chunks = frame_chunks(frames, ranks)
    a, b = chunks[me]
    counts = [_pixel_frames(lo, hi, f_t) for lo, hi in chunks]
    batch, _, _, h, w = z.shape
    side = vae.spatial_factor
    if b > a:
        start = max(0, a - warmup)
        # the warm-up frames' outputs go: the (cold) first of them decoded to 1 frame, each later one to f_t
        drop = 0 if start == a else 1 + f_t * (a - start - 1)
        local = decode(z[:, :, start:b])[:, :, drop:]
    else:
        local = z.new_zeros(batch, vae.out_channels, 0, h * side, w * side)
    padded = local.new_zeros(*local.shape[:2], max(counts), *local.shape[3:])
    padded[:, :, :local.shape[2]] = local
    parts = [torch.empty_like(padded) for _ in range(ranks)]
    dist.all_gather(parts, padded.contiguous(), group=group)
    return torch.cat([part[:, :, :n] for part, n in zip(parts, counts)], dim=2)


def splits_frames(vae: nn.Module | None) -> bool:
    """Whether ``vae`` is a decoder this splits (tested: Wan 2.1 / 2.2's ``net/wan_vae``; a causal VAE with another
    frame layout would need its own ``_pixel_frames``)."""
    from .wan_vae import WanCausalVAE

    return isinstance(vae, WanCausalVAE)


def set_frame_parallel_decode(vae: nn.Module, group: dist.ProcessGroup | None = None, *, enabled: bool = True,
                              warmup: int | None = None) -> nn.Module:
    """Make ``vae.decode`` split its frames over ``group``'s ranks (``frame_parallel_decode``; ``warmup`` measured once
    here when None); ``enabled=False`` restores the one-process decode. In place; returns ``vae``."""
    vae.__dict__.pop("decode", None)
    if not enabled:
        return vae
    if not splits_frames(vae):
        raise ValueError(f"frame_parallel_decode: splits Wan's causal VAE (net/wan_vae), got {type(vae).__name__}")
    if warmup is None:
        warmup = decode_receptive_field(vae) + 1
    vae.__dict__["decode"] = functools.partial(frame_parallel_decode, vae, group=group, warmup=warmup)
    return vae
