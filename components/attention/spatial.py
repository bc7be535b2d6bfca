"""Spatial attention: every frame attends within itself (all papers' image-model attention, applied per frame)."""

from __future__ import annotations

from einops import rearrange
from torch import Tensor

from ..registry import register
from .base import MultiHeadAttention
from .common import BAD_INPUTS, TINY, VIDEO_INPUTS, video_shape


@register(
    "attention", "spatial", paper="Ho et al. 2022 (VDM) and every inflated image model",
    tiny=TINY, inputs=VIDEO_INPUTS, bad_inputs=BAD_INPUTS, properties=("frame_independent",),
)
class SpatialAttention(MultiHeadAttention):
    """Self-attention over the H·W tokens of each frame, frames folded into the batch.

    Shapes: ``x`` ``(B, C, T, H, W)`` -> ``(B, C, T, H, W)``; tokens ``(B·T, H·W, C)``.
    Frames never exchange information, so the module is exactly an image model's attention at every T.
    """

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        b, _, t, h, w = x.shape
        tokens = rearrange(x, "b c t h w -> (b t) (h w) c")
        out = self.attend_tokens(tokens, rope=self.rope_tables(x, "b c t h w -> (b t) (h w) c"))
        return rearrange(out, "(b t) (h w) c -> b c t h w", b=b, t=t, h=h, w=w)

    def flops(self, x_shape: tuple[int, ...], *, include_projections: bool = False) -> float:
        """Forward FLOPs: B·T sequences of H·W tokens."""
        b, t, h, w = video_shape(x_shape)
        total = self.attention_flops(b * t, h * w, h * w)
        return total + (self.projection_flops(b * t * h * w, b * t * h * w) if include_projections else 0.0)
