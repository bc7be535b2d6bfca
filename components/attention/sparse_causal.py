"""Sparse-causal attention: frame i's tokens attend to frames 0 and i − 1 (Tune-A-Video's ST-Attn, E12)."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor

from ..registry import register
from .base import MultiHeadAttention
from .common import BAD_INPUTS, TINY, VIDEO_INPUTS, video_shape


def sparse_causal_frames(num_frames: int, *, device=None) -> Tensor:
    """``(T, 2)`` key-frame indices per query frame: ``[0, max(i − 1, 0)]`` (Tune-A-Video's official convention)."""
    previous = (torch.arange(num_frames, device=device) - 1).clamp(min=0)
    return torch.stack([torch.zeros_like(previous), previous], dim=1)


@register(
    "attention", "sparse_causal", paper="Wu et al. 2023 (Tune-A-Video)",
    tiny=TINY, inputs=VIDEO_INPUTS, bad_inputs=BAD_INPUTS, properties=("causal",),
)
class SparseCausalAttention(MultiHeadAttention):
    """Queries from frame i, keys/values from frames 0 and i − 1 concatenated along the token axis (E12).

        Q = W_q z_i,  K = W_k [z_0, z_{i−1}],  V = W_v [z_0, z_{i−1}],  out_i = softmax(Q Kᵀ / √d) V

    Shapes: ``x`` ``(B, C, T, H, W)`` -> ``(B, C, T, H, W)``. Queries ``"b c t h w -> (b t) (h w) c"``; keys and values
    are projected once per frame, then gathered per query frame: ``(B·T, 2·H·W, C)``.

    Convention (official ``showlab/Tune-A-Video`` ``SparseCausalAttention``): frame 0 uses frames [0, 0], frame 1
    uses [0, 0], i.e. the first frame's tokens appear twice. A key duplicated with its value leaves softmax attention
    unchanged, so frames 0 and 1 attend exactly to frame 0. Frame i's own tokens are keys only for i <= 1.
    The module has the same parameters as ``attention/spatial``: Tune-A-Video reuses the image model's
    self-attention weights, and with identical frames the two give the same output.
    """

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        b, _, t, h, w = x.shape
        tokens = rearrange(x, "b c t h w -> (b t) (h w) c")
        rope = self.rope_tables(x, "b c t h w -> (b t) (h w) c")  # each frame's own positions, before the gather
        q = self.apply_rope(self.project_q(tokens), rope)
        index = sparse_causal_frames(t, device=x.device)

        def gather(z: Tensor) -> Tensor:
            z = rearrange(z, "(b t) h n d -> b t h n d", b=b)[:, index]  # (b, t, 2, h, n, d)
            return rearrange(z, "b t m h n d -> (b t) h (m n) d")

        k, v = self.project_kv(tokens)
        out = self.attend_heads(q, gather(self.apply_rope(k, rope)), gather(v))
        return rearrange(out, "(b t) (h w) c -> b c t h w", b=b, h=h, w=w)

    def flops(self, x_shape: tuple[int, ...], *, include_projections: bool = False) -> float:
        """Forward FLOPs: B·T sequences of H·W queries against 2·H·W keys."""
        b, t, h, w = video_shape(x_shape)
        total = self.attention_flops(b * t, h * w, 2 * h * w)
        return total + (self.projection_flops(b * t * h * w, b * t * h * w) if include_projections else 0.0)
