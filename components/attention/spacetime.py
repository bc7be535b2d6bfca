"""Full spacetime attention: every token attends to every token of the clip (Sora-style spacetime DiT, Latte)."""

from __future__ import annotations

from einops import rearrange
from torch import Tensor

from ..registry import register
from .base import MultiHeadAttention
from .common import BAD_INPUTS, TINY, VIDEO_INPUTS, video_shape


@register(
    "attention", "spacetime", paper="Brooks et al. 2024 (Sora); Peebles & Xie 2023 (DiT)",
    tiny=TINY, inputs=VIDEO_INPUTS, bad_inputs=BAD_INPUTS, properties=("permutation_equivariant",),
)
class SpacetimeAttention(MultiHeadAttention):
    """Self-attention over all T·H·W tokens of a clip.

    Shapes: ``x`` ``(B, C, T, H, W)`` -> ``(B, C, T, H, W)``; tokens ``(B, T·H·W, C)``.
    Cost grows as (T·H·W)²; at T = 1 it equals ``attention/spatial`` with the same weights. ``position="rope"``
    rotates q and k by each token's ``(t, h, w)`` (3-D RoPE, as Wan / HunyuanVideo / CogVideoX).
    """

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        _, _, t, h, w = x.shape
        tokens = rearrange(x, "b c t h w -> b (t h w) c")
        out = self.attend_grid(tokens, (t, h, w), rope=self.rope_tables(x, "b c t h w -> b (t h w) c"))
        return rearrange(out, "b (t h w) c -> b c t h w", t=t, h=h, w=w)

    def attend_grid(self, tokens: Tensor, grid: tuple[int, int, int], *,
                    rope: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Self-attention of the ``(t h w)`` tokens ``(B, T·H·W, dim)`` of a ``grid = (T, H, W)`` clip, ``rope`` the
        ``(cos, sin)`` tables of that sequence (a DiT block with the net's RoPE calls this): every token attends to
        every token. The sparse video attentions (``attention/sliding_tile``, ...) override it with their masks."""
        return self.attend_tokens(tokens, rope=rope)

    def flops(self, x_shape: tuple[int, ...], *, include_projections: bool = False) -> float:
        """Forward FLOPs: B sequences of T·H·W tokens."""
        b, t, h, w = video_shape(x_shape)
        total = self.attention_flops(b, t * h * w, t * h * w)
        return total + (self.projection_flops(b * t * h * w, b * t * h * w) if include_projections else 0.0)
