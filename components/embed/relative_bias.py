"""Bucketed relative temporal position bias (Raffel et al. 2020, T5 §2.1; used over frames by VDM, Ho et al. 2022 §3).

Temporal attention over T frames adds a learned scalar per head that depends only on the frame offset
``r = j − i`` (key frame j, query frame i) through a bucket index:

    bucket(r) = [r > 0]·(B/2) + ( |r|                                                 if |r| < B/4
                                  min(B/2 − 1, B/4 + ⌊ log(|r|/(B/4)) / log(M/(B/4)) · B/4 ⌋)   otherwise )

with B = ``num_buckets`` and M = ``max_distance``: half the buckets for keys after the query, half for keys before;
small offsets exact, larger ones log-spaced up to M, beyond which they share the last bucket. VDM's reference
implementation (lucidrains ``video-diffusion-pytorch``) uses B = 32, M = 32 and the bias ``bias[h, i, j] =
table[bucket(j − i), h]``.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import Tensor, nn

from ..registry import BadInput, register


def relative_position_bucket(relative: Tensor, num_buckets: int = 32, max_distance: int = 32) -> Tensor:
    """Bidirectional T5 bucket of each signed offset ``relative = key − query`` (integer tensor, any shape)."""
    half = num_buckets // 2
    exact = half // 2
    bucket = (relative > 0).long() * half
    distance = relative.abs()
    # log-spaced buckets for distances >= exact; clamp(min=exact) keeps the log finite where the exact branch is used
    log_ratio = torch.log(distance.clamp(min=exact).float() / exact) / math.log(max_distance / exact)
    far = (exact + (log_ratio * (half - exact)).long()).clamp(max=half - 1)
    return bucket + torch.where(distance < exact, distance, far)


def _frames_inputs(cfg: dict, frames: int = 2, batch: int = 2, generator=None):
    return (frames,), {}


@register(
    "embed", "relative_temporal_bias", paper="Ho et al. 2022 (VDM) §3 relative position embeddings; Raffel et al. "
    "2020 (T5) §2.1 bucketing",
    tiny=dict(num_heads=2), inputs=_frames_inputs, output_shape=lambda cfg, t: (cfg["num_heads"], t, t),
    bad_inputs=[
        BadInput(match="frames must be a positive int", inputs=lambda cfg: ((0,), {})),
        BadInput(match="num_buckets must be", init={"num_buckets": 6}, why="num_buckets not a multiple of 4"),
        BadInput(match="max_distance must be", init={"max_distance": 4}, why="max_distance <= num_buckets / 4"),
    ],
)
class RelativeTemporalBias(nn.Module):
    """Learned per-head bias of the frame offset: ``forward(T) -> (num_heads, T, T)`` to add to attention logits.

    ``out[h, i, j] = table[bucket(j − i), h]`` (i the query frame, j the key frame). Broadcast it over the folded
    ``(B·H·W)`` batch of temporal attention as ``logits + out[None]``.

    Args:
        num_heads: one bias per head and bucket.
        num_buckets: bucket count B (a multiple of 4, >= 4; VDM 32).
        max_distance: offset M from which all offsets share the last bucket (> B/4; VDM 32).

    Init: ``table`` trunc-normal(std 0.02) as timm's relative position tables — near zero, so a new temporal layer
    starts almost position-free while heads can still differ.
    """

    def __init__(self, num_heads: int, num_buckets: int = 32, max_distance: int = 32, *, device=None,
                 dtype=None) -> None:
        from timm.layers import trunc_normal_  # lazy: timm is slow to import (tests/test_startup.py)

        super().__init__()
        where = type(self).__name__
        if num_buckets < 4 or num_buckets % 4:
            raise ValueError(f"{where}: num_buckets must be a multiple of 4 (two halves, each half exact / log), "
                             f"got {num_buckets}")
        if max_distance <= num_buckets // 4:
            raise ValueError(f"{where}: max_distance must be > num_buckets / 4 = {num_buckets // 4}, "
                             f"got {max_distance}")
        if num_heads <= 0:
            raise ValueError(f"{where}: num_heads must be positive, got {num_heads}")
        self.num_heads, self.num_buckets, self.max_distance = num_heads, num_buckets, max_distance
        self.table = nn.Embedding(num_buckets, num_heads, device=device, dtype=dtype)
        trunc_normal_(self.table.weight, std=0.02)

    def buckets(self, frames: int, *, device=None) -> Tensor:
        """``(T, T)`` bucket indices, ``[i, j] = bucket(j − i)``."""
        pos = torch.arange(frames, device=device)
        return relative_position_bucket(pos[None, :] - pos[:, None], self.num_buckets, self.max_distance)

    def forward(self, frames: int) -> Tensor:
        if not isinstance(frames, int) or isinstance(frames, bool) or frames <= 0:
            raise ValueError(f"{type(self).__name__}: frames must be a positive int (the number of frames T), "
                             f"got {frames!r}")
        bias = self.table(self.buckets(frames, device=self.table.weight.device))  # (T, T, heads)
        return rearrange(bias, "i j h -> h i j")
