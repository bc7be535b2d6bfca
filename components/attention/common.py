"""Registry metadata shared by the attention variants (tiny config, inputs, bad inputs)."""

from __future__ import annotations

from ..examples import bad_channels, bad_ndim, video_inputs
from ..registry import BadInput


TINY = dict(dim=16, num_heads=2)

BAD_INPUTS = (
    BadInput(match="B C T H W", inputs=bad_ndim("dim"), why="a 4-D image instead of a video"),
    BadInput(match="channels", inputs=bad_channels("dim"), why="channels != dim"),
    BadInput(match="divisible by num_heads", init={"num_heads": 3}, why="dim % num_heads != 0"),
    BadInput(match="num_heads × head_dim", init={"head_dim": 4}, why="num_heads * head_dim != dim"),
)

VIDEO_INPUTS = video_inputs("dim")


def video_shape(x_shape) -> tuple[int, int, int, int]:
    """``(B, T, H, W)`` of a ``B C T H W`` shape (for ``flops``); ValueError for any other rank."""
    shape = tuple(int(s) for s in x_shape)
    if len(shape) != 5:
        raise ValueError(f"x_shape must be a 5-D video shape B C T H W, got {shape}")
    b, _, t, h, w = shape
    return b, t, h, w
