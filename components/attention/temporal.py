"""Temporal attention: each pixel attends across frames (VDM, Imagen Video, Make-A-Video, Video LDM, SVD, Lumiere)."""

from __future__ import annotations

from einops import rearrange
from torch import Tensor

from ..registry import register
from .base import MultiHeadAttention
from .common import BAD_INPUTS, TINY, VIDEO_INPUTS


@register(
    "attention", "temporal", paper="Ho et al. 2022 (VDM)",
    tiny=TINY, inputs=VIDEO_INPUTS, bad_inputs=BAD_INPUTS, properties=("permutation_equivariant",),
)
class TemporalAttention(MultiHeadAttention):
    """Self-attention over the T frames at each spatial position, H·W folded into the batch.

    Shapes: ``x`` ``(B, C, T, H, W)`` -> ``(B, C, T, H, W)``; tokens ``(B·H·W, T, C)``. The folded batch is large
    (B·H·W sequences of length T); the attention core chunks it above the CUDA launch limit.

    Args:
        causal: frame i attends only to frames j <= i.
        (other arguments: ``MultiHeadAttention``)
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *, causal: bool = False,
                 **kwargs) -> None:
        super().__init__(dim, num_heads, head_dim, **kwargs)
        self.causal = causal

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        b, _, t, h, w = x.shape
        tokens = rearrange(x, "b c t h w -> (b h w) t c")
        out = self.attend_tokens(tokens, causal=self.causal)
        return rearrange(out, "(b h w) t c -> b c t h w", b=b, h=h, w=w)
