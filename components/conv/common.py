"""What the conv blocks share: kernel-size normalisation, "same" padding, registry metadata.

Every conv block takes and returns ``B C T H W`` video; the helpers here keep the argument checks and their error
messages in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..examples import bad_channels, bad_ndim, video_inputs
from ..registry import BadInput


def triple(value: int | Sequence[int], name: str, *, where: str) -> tuple[int, int, int]:
    """``k -> (k, k, k)``; a sequence must have three positive entries ``(t, h, w)``."""
    sizes = (value,) * 3 if isinstance(value, int) else tuple(value)
    if len(sizes) != 3 or not all(isinstance(s, int) and s > 0 for s in sizes):
        raise ValueError(f"{where}: {name} must be a positive int or three positive ints (t, h, w), got {value!r}")
    return sizes


def same_padding(kernel_size: Sequence[int], name: str = "kernel_size", *, where: str) -> tuple[int, ...]:
    """``k // 2`` per axis; the kernel must be odd on every axis so the output keeps the input's size."""
    if any(k % 2 == 0 for k in kernel_size):
        raise ValueError(f"{where}: {name} must be odd on every axis for 'same' padding, got {tuple(kernel_size)}")
    return tuple(k // 2 for k in kernel_size)


# Registry metadata shared by the conv entries.
VIDEO_INPUTS = video_inputs("in_channels")


def conv_output_shape(cfg: dict, x, *args, **kwargs) -> tuple[int, ...]:
    """Output of a size-preserving conv: the input with ``out_channels`` channels."""
    b, _, t, h, w = x.shape
    return (b, cfg.get("out_channels") or cfg["in_channels"], t, h, w)


BAD_VIDEO = (
    BadInput(match="B C T H W", inputs=bad_ndim("in_channels"), why="a 4-D image instead of a video"),
    BadInput(match="channels", inputs=bad_channels("in_channels"), why="channels != in_channels"),
)
BAD_EVEN_KERNEL = BadInput(match="kernel_size must be odd", init={"kernel_size": 2}, why="even kernel, no 'same' pad")
