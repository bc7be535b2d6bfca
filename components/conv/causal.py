"""Causal 3-D convolution: padding only on the past side of time, so output frame i sees input frames <= i.

    y[i] = Σ_{τ=0}^{k_t−1} W_τ * x[i − τ]        (x[j] for j < 0 is padding)

Causal video encoders (MAGVIT-v2, W.A.L.T, CogVideoX's VAE) use this so the first frame is encoded on its own, like
an image, and a clip can be extended frame by frame. Space is padded symmetrically ("same").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_video
from ..registry import BadInput, register
from .common import BAD_EVEN_KERNEL, BAD_VIDEO, VIDEO_INPUTS, conv_output_shape, same_padding, triple


_PAD_MODES = ("zeros", "replicate")


@register(
    "conv", "causal_temporal", paper="Yu et al. 2023 (MAGVIT-v2) causal 3-D conv; Gupta et al. 2023 (W.A.L.T)",
    tiny=dict(in_channels=8, out_channels=16), inputs=VIDEO_INPUTS, output_shape=conv_output_shape,
    properties=("causal",),
    bad_inputs=[
        *BAD_VIDEO, BAD_EVEN_KERNEL,
        BadInput(match="pad_mode", init={"pad_mode": "reflect"}, why="reflect would read future frames"),
    ],
)
class CausalConv3d(nn.Module):
    """Conv3d with ``k_t − 1`` frames of padding before the clip and none after: ``(B, C_in, T, H, W) -> (B, C_out,
    T, H, W)``.

    Args:
        in_channels, out_channels: channels.
        kernel_size: ``k`` or ``(k_t, k_h, k_w)``; the spatial sizes must be odd ("same" padding), ``k_t`` any.
        pad_mode: ``"zeros"`` or ``"replicate"`` (repeat the first frame, as MAGVIT-v2 / CogVideoX do).
        bias: additive bias.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int] = 3, *,
                 pad_mode: str = "zeros", bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        kt, kh, kw = triple(kernel_size, "kernel_size", where=where)
        _, ph, pw = same_padding((1, kh, kw), where=where)
        if pad_mode not in _PAD_MODES:
            raise ValueError(f"{where}: pad_mode must be one of {_PAD_MODES}, got {pad_mode!r}")
        self.in_channels, self.out_channels, self.pad_mode = in_channels, out_channels, pad_mode
        self.time_pad = kt - 1
        self.conv = nn.Conv3d(in_channels, out_channels, (kt, kh, kw), padding=(0, ph, pw), bias=bias,
                              device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        pad = (0, 0, 0, 0, self.time_pad, 0)  # (w_left, w_right, h_top, h_bottom, t_front, t_back)
        x = F.pad(x, pad, mode="replicate") if self.pad_mode == "replicate" else F.pad(x, pad)
        return self.conv(x)
