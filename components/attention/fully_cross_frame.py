"""Fully cross-frame attention: every frame attends to all frames, or to key frames only (ControlVideo)."""

from __future__ import annotations

from ..registry import BadInput, register
from .common import BAD_INPUTS, TINY, VIDEO_INPUTS
from .key_frames import KeyFrameAttention


@register(
    "attention", "fully_cross_frame", paper="Zhang et al. 2023 (ControlVideo)",
    tiny=TINY, inputs=VIDEO_INPUTS, properties=("permutation_equivariant",),
    bad_inputs=BAD_INPUTS + (
        BadInput(match="key_frames", init={"key_frames": []}, why="an empty key-frame list"),
        BadInput(match="key_frames", init={"key_frames": 0}, why="a bare int instead of a list"),
    ),
)
class FullyCrossFrameAttention(KeyFrameAttention):
    """Queries from every frame, keys/values from the tokens of all frames (or of ``key_frames`` only).

    Shapes: ``x`` ``(B, C, T, H, W)`` -> ``(B, C, T, H, W)``; queries ``"b c t h w -> b (t h w) c"``; keys/values the
    same tokens (ControlVideo's ``FullyFrameAttention``: ``(b f) d c -> b (f d) c``, cost (T·H·W)²) or, with
    ``key_frames``, ``x[:, :, key_frames]`` as ``"b c k h w -> b (k h w) c"``.

    Args:
        key_frames: None (all frames; then this equals ``attention/spacetime`` with the same weights) or a list of
            frame indices, negative counting from the end: ControlVideo's hierarchical sampler uses ``[0, -1]``
            (``inter_frame=True``: the in-between frames of a clip attend only to its two bounding key frames).
        (other arguments: ``MultiHeadAttention``; the parameters are an image model's self-attention, reused.)
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *,
                 key_frames: list[int] | None = None, **kwargs) -> None:
        super().__init__(dim, num_heads, head_dim, **kwargs)
        if key_frames is not None:
            if not isinstance(key_frames, list | tuple) or not key_frames or not all(
                    isinstance(i, int) and not isinstance(i, bool) for i in key_frames):
                raise ValueError(f"FullyCrossFrameAttention: key_frames must be None or a non-empty list of frame "
                                 f"indices, got {key_frames!r}")
            key_frames = list(key_frames)
        self.key_frames = key_frames

    def key_frame_indices(self, num_frames: int) -> list[int] | None:
        if self.key_frames is None:
            return None
        bad = [i for i in self.key_frames if not -num_frames <= i < num_frames]
        if bad:
            raise ValueError(
                f"FullyCrossFrameAttention: key_frames={self.key_frames} has indices {bad} outside a clip of "
                f"T={num_frames} frames"
            )
        return [i % num_frames for i in self.key_frames]

    def extra_repr(self) -> str:
        return super().extra_repr() + f", key_frames={self.key_frames}"
