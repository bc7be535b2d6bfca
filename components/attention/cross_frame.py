"""Cross-frame attention: every frame attends to the first frame (Text2Video-Zero, E14)."""

from __future__ import annotations

from ..registry import register
from .common import BAD_INPUTS, TINY, VIDEO_INPUTS
from .key_frames import KeyFrameAttention


@register(
    "attention", "cross_frame", paper="Khachatryan et al. 2023 (Text2Video-Zero)",
    tiny=TINY, inputs=VIDEO_INPUTS, bad_inputs=BAD_INPUTS, properties=("causal",),
)
class CrossFrameAttention(KeyFrameAttention):
    """Queries from frame k, keys/values from frame 0: ``softmax(Q^k (K^0)ᵀ / √d) V^0`` (E14).

    Shapes: ``x`` ``(B, C, T, H, W)`` -> ``(B, C, T, H, W)``; queries ``"b c t h w -> b (t h w) c"``, keys/values
    ``x[:, :, [0]]`` as ``"b c 1 h w -> b (h w) c"``. Frame k's output depends on frames 0 and k only; frame 0's
    output is plain spatial self-attention. Text2Video-Zero replaces the pretrained self-attention with this
    training-free, so the parameters are ``attention/spatial``'s (a CFG-doubled batch is just a larger B).
    """

    def key_frame_indices(self, num_frames: int) -> list[int]:
        return [0]
