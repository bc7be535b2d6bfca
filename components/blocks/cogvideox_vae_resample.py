"""CogVideoX's VAE resampling: ×½ / ×2 in space, and in time on the first levels, keeping the causal first frame.

[V-code: diffusers downsampling.py ``CogVideoXDownsample3D``, upsampling.py ``CogVideoXUpsample3D``]

* down: time (``compress_time``) — a chunk of odd length keeps its first frame and averages the rest in pairs
  (``1 + 2k -> 1 + k``), an even one averages all in pairs; then space — pad right/bottom by one, 3×3 conv stride 2
  per frame;
* up: time (``compress_time``) — nearest ×2 in (T, H, W), except that a chunk of odd length > 1 doubles its first frame
  in space only (``1 + k -> 1 + 2k``) and a single frame is upsampled in space only; without it space only; then a
  3×3 conv per frame.

The per-frame convolutions are ``(1, 3, 3)`` Conv3d (diffusers' Conv2d over folded frames, the same weights).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _pairs_mean(x: Tensor) -> Tensor:
    """``(B, C, 2k, H, W) -> (B, C, k, H, W)``: the mean of consecutive frame pairs (``avg_pool1d(2, 2)`` in time)."""
    b, c, t, h, w = x.shape
    return x.view(b, c, t // 2, 2, h, w).mean(dim=3)


class CogVideoXDownsample(nn.Module):
    """``(B, C, T, H, W) -> (B, C_out, T', H/2, W/2)``, T' = T with ``compress_time=False``, else ``1 + (T − 1)/2`` (T
    odd) or ``T/2`` (T even)."""

    def __init__(self, in_channels: int, out_channels: int, *, compress_time: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.compress_time = compress_time
        self.conv = nn.Conv3d(in_channels, out_channels, (1, 3, 3), stride=(1, 2, 2), device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        if self.compress_time:
            t = x.shape[2]
            if t % 2 == 1:
                x = torch.cat([x[:, :, :1], _pairs_mean(x[:, :, 1:])], dim=2) if t > 1 else x
            else:
                x = _pairs_mean(x)
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class CogVideoXUpsample(nn.Module):
    """``(B, C, T, H, W) -> (B, C_out, T', 2H, 2W)``, T' = T with ``compress_time=False`` or T = 1, ``1 + 2(T − 1)`` (T
    odd > 1), ``2T`` (T even)."""

    def __init__(self, in_channels: int, out_channels: int, *, compress_time: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.compress_time = compress_time
        self.conv = nn.Conv3d(in_channels, out_channels, (1, 3, 3), padding=(0, 1, 1), device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        t = x.shape[2]
        spatial = (1.0, 2.0, 2.0)
        if self.compress_time and t > 1 and t % 2 == 1:
            x = torch.cat([F.interpolate(x[:, :, :1], scale_factor=spatial),
                           F.interpolate(x[:, :, 1:], scale_factor=2.0)], dim=2)
        elif self.compress_time and t > 1:
            x = F.interpolate(x, scale_factor=2.0)
        else:
            x = F.interpolate(x, scale_factor=spatial)
        return self.conv(x)
