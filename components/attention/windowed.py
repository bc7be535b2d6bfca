"""Windowed spacetime attention: attention within non-overlapping local (w_t, w_h, w_w) windows (W.A.L.T-style)."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor

from ..checks import check_divisible
from ..registry import BadInput, register
from .base import MultiHeadAttention
from .common import BAD_INPUTS, VIDEO_INPUTS, video_shape


_AXES = ("T", "H", "W")


@register(
    "attention", "windowed", paper="Gupta et al. 2023 (W.A.L.T); Liu et al. 2021 (Swin)",
    tiny=dict(dim=16, num_heads=2, window=[None, 4, 4]), inputs=VIDEO_INPUTS,
    properties=("permutation_equivariant",),
    bad_inputs=BAD_INPUTS + (
        BadInput(match="window", init={"window": [1, 4]}, why="a window of two sizes"),
        BadInput(match="window", init={"window": [1, 0, 4]}, why="a zero window size"),
        BadInput(match=r"H=6 must be divisible by window\[1\]=4", why="the window does not divide H",
                 inputs=lambda cfg: ((torch.zeros(1, cfg["dim"], 2, 6, 8),), {})),
    ),
)
class WindowedAttention(MultiHeadAttention):
    """Self-attention within each non-overlapping spacetime window of ``window = (w_t, w_h, w_w)`` tokens.

    Shapes: ``x`` ``(B, C, T, H, W)`` -> ``(B, C, T, H, W)``; tokens
    ``"b c (nt wt) (nh wh) (nw ww) -> (b nt nh nw) (wt wh ww) c"``: every window is one sequence, queries and
    keys/values the same window. T, H and W must be divisible by the window (ValueError otherwise: no padding, no
    cropping). ``None`` for an axis means the whole axis: ``[1, 8, 8]`` is spatial windows per frame,
    ``[None, 4, 4]`` spacetime windows spanning every frame (W.A.L.T alternates the two), ``[None, None, None]``
    is ``attention/spacetime``. No position information: windows spanning all frames are permutation-equivariant.

    Args:
        window: ``[w_t, w_h, w_w]``, positive ints or None.
        (other arguments: ``MultiHeadAttention``)
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *,
                 window: list[int | None] = (None, 8, 8), **kwargs) -> None:
        super().__init__(dim, num_heads, head_dim, **kwargs)
        window = list(window) if isinstance(window, list | tuple) else window
        if not isinstance(window, list) or len(window) != 3 or not all(
                w is None or (isinstance(w, int) and not isinstance(w, bool) and w > 0) for w in window):
            raise ValueError(
                f"WindowedAttention: window must be [w_t, w_h, w_w] of positive ints or None (whole axis), "
                f"got {window!r}"
            )
        self.window = window

    def window_size(self, t: int, h: int, w: int) -> tuple[int, int, int]:
        """The window for a ``T × H × W`` clip (None = the whole axis); ValueError if it does not divide."""
        sizes = tuple(n if s is None else s for s, n in zip(self.window, (t, h, w)))
        for axis, n, s in zip(_AXES, (t, h, w), sizes):
            check_divisible(axis, n, s, f"window[{_AXES.index(axis)}]", where=type(self).__name__)
        return sizes

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        _, _, t, h, w = x.shape
        wt, wh, ww = self.window_size(t, h, w)
        pattern = dict(wt=wt, wh=wh, ww=ww)
        tokens = rearrange(x, "b c (nt wt) (nh wh) (nw ww) -> (b nt nh nw) (wt wh ww) c", **pattern)
        rope = self.rope_tables(x, "b c (nt wt) (nh wh) (nw ww) -> (b nt nh nw) (wt wh ww) c", **pattern)
        out = self.attend_tokens(tokens, rope=rope)
        return rearrange(out, "(b nt nh nw) (wt wh ww) c -> b c (nt wt) (nh wh) (nw ww)",
                         nt=t // wt, nh=h // wh, nw=w // ww, **pattern)

    def flops(self, x_shape: tuple[int, ...], *, include_projections: bool = False) -> float:
        """Forward FLOPs: B·(T/w_t)·(H/w_h)·(W/w_w) sequences of w_t·w_h·w_w tokens."""
        b, t, h, w = video_shape(x_shape)
        wt, wh, ww = self.window_size(t, h, w)
        size = wt * wh * ww
        total = self.attention_flops(b * (t * h * w) // size, size, size)
        return total + (self.projection_flops(b * t * h * w, b * t * h * w) if include_projections else 0.0)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", window={self.window}"
