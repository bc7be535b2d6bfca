"""Tiled spatial decoding: decode overlapping latent tiles separately and cross-fade the overlaps linearly.

Tiles start every ``stride`` pixels and span ``size`` pixels; in each overlap of ``size − stride`` pixels the tile
above (left) fades out and the current one fades in, ``b[y] ← a[−E + y]·(1 − y/E) + b[y]·(y/E)``, blending into
the already-blended neighbours in raster order, then each tile keeps its first ``stride`` pixels. Memory is bounded
by one tile; seams are smoothed, not removed, so the result is close to, not equal to, the untiled decode.
[V-code: diffusers autoencoder_kl_wan.py ``AutoencoderKLWan.tiled_decode`` / ``blend_v`` / ``blend_h``, same
arithmetic and order, so equal tile settings give diffusers' output; with Wan 2.2's patchify the blending is on the
patchified ``(C·p², H/p, W/p)`` output, as there.]
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"tiled decode: {name} must be a positive int or (height, width), got {value!r}")
    return pair


def blend(a: Tensor, b: Tensor, extent: int, dim: int) -> Tensor:
    """Cross-fade the last ``extent`` rows of ``a`` into the first of ``b`` along ``dim``, in place on ``b``."""
    extent = min(a.shape[dim], b.shape[dim], extent)
    if extent <= 0:
        return b
    shape = [1] * b.ndim
    shape[dim] = extent
    w = (torch.arange(extent, device=b.device, dtype=b.dtype) / extent).view(shape)  # y / E
    head = b.narrow(dim, 0, extent)
    head.copy_(a.narrow(dim, a.shape[dim] - extent, extent) * (1 - w) + head * w)
    return b


def tiled_decode(decode: Callable[[Tensor], Tensor], z: Tensor, *, spatial_factor: int, patch_size: int,
                 tile_size: int | tuple[int, int], tile_stride: int | tuple[int, int]) -> Tensor:
    """``decode`` applied to overlapping tiles of ``z`` ``(B, C, T, h, w)`` and blended: the (patchified) output.

    ``tile_size`` / ``tile_stride``: in output pixels, ``(height, width)`` or one int; both divisible by
    ``spatial_factor`` for whole latent tiles (diffusers floors them), and ``stride ≤ size``.
    """
    (size_h, size_w), (stride_h, stride_w) = _pair(tile_size, "tile_size"), _pair(tile_stride, "tile_stride")
    if stride_h > size_h or stride_w > size_w:
        raise ValueError(f"tiled decode: tile_stride must be <= tile_size, got tile_stride={tile_stride!r}, "
                         f"tile_size={tile_size!r}")
    if min(size_h, size_w) < spatial_factor:
        raise ValueError(f"tiled decode: tile_size must be >= the spatial factor {spatial_factor}, got {tile_size!r}")
    height, width = z.shape[-2:]
    latent_h, latent_w = size_h // spatial_factor, size_w // spatial_factor
    step_h, step_w = stride_h // spatial_factor, stride_w // spatial_factor
    p = patch_size
    out_h, out_w = height * spatial_factor // p, width * spatial_factor // p
    keep_h, keep_w = stride_h // p, stride_w // p
    blend_h, blend_w = size_h // p - keep_h, size_w // p - keep_w
    rows = [[decode(z[..., i:i + latent_h, j:j + latent_w]) for j in range(0, width, step_w)]
            for i in range(0, height, step_h)]
    out_rows = []
    for i, row in enumerate(rows):
        kept = []
        for j, tile in enumerate(row):
            if i > 0:
                tile = blend(rows[i - 1][j], tile, blend_h, dim=-2)
            if j > 0:
                tile = blend(row[j - 1], tile, blend_w, dim=-1)
            kept.append(tile[..., :keep_h, :keep_w])
        out_rows.append(torch.cat(kept, dim=-1))
    return torch.cat(out_rows, dim=-2)[..., :out_h, :out_w]
