"""Attention whose keys/values are the tokens of chosen key frames, queries every token of the clip.

The shared mechanism of Text2Video-Zero's cross-frame attention (key frame 0) and ControlVideo's fully cross-frame
attention (all frames, or only key frames in its hierarchical sampler). Because the key set is the same for every
query frame, the clip folds into one sequence per video and no keys are copied per frame:

    queries      rearrange(x, "b c t h w -> b (t h w) c")
    keys/values  rearrange(x[:, :, key_frames], "b c k h w -> b (k h w) c")
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor

from .base import MultiHeadAttention
from .common import video_shape


class KeyFrameAttention(MultiHeadAttention):
    """Every token attends to the tokens of ``key_frame_indices(T)`` (None = all frames). Not registered itself."""

    def key_frame_indices(self, num_frames: int) -> list[int] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        _, _, t, h, w = x.shape
        queries = rearrange(x, "b c t h w -> b (t h w) c")
        frames = self.key_frame_indices(t)
        keys = queries if frames is None else rearrange(x[:, :, frames], "b c k h w -> b (k h w) c")
        rope = self.rope_tables(x, "b c t h w -> b (t h w) c")
        rope_k = None if rope is None or frames is None else tuple(
            rearrange(table, "b (t hw) d -> b t hw d", t=t)[:, frames].flatten(1, 2) for table in rope)
        out = self.attend_tokens(queries, None if frames is None else keys, rope=rope, rope_k=rope_k)
        return rearrange(out, "b (t h w) c -> b c t h w", t=t, h=h, w=w)

    def flops(self, x_shape: tuple[int, ...], *, include_projections: bool = False) -> float:
        """Forward FLOPs: B sequences of T·H·W queries against K·H·W keys (K key frames)."""
        b, t, h, w = video_shape(x_shape)
        frames = self.key_frame_indices(t)
        k = t if frames is None else len(frames)
        total = self.attention_flops(b, t * h * w, k * h * w)
        return total + (self.projection_flops(b * t * h * w, b * k * h * w) if include_projections else 0.0)
