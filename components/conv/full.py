"""Full 3-D convolution: a ``k_t×k_h×k_w`` Conv3d that mixes space and time at once, with "same" padding."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ..checks import check_video
from ..registry import register
from .common import BAD_EVEN_KERNEL, BAD_VIDEO, VIDEO_INPUTS, conv_output_shape, same_padding, triple


@register(
    "conv", "full_3d", paper="Tran et al. 2015 (C3D); the reference point of Tran et al. 2018 (R(2+1)D)",
    tiny=dict(in_channels=8, out_channels=16), inputs=VIDEO_INPUTS, output_shape=conv_output_shape,
    bad_inputs=[*BAD_VIDEO, BAD_EVEN_KERNEL],
)
class FullConv3d(nn.Conv3d):
    """Conv3d over ``(T, H, W)`` with zero "same" padding: ``(B, C_in, T, H, W) -> (B, C_out, T, H, W)``.

    The parameter budget ``k_t·k_h·k_w·C_in·C_out`` is what ``conv/factorized_2plus1d`` matches. Frames beyond the
    clip's ends are zeros, so at T = 1 only the centre temporal tap sees data.

    Args:
        in_channels, out_channels: channels.
        kernel_size: ``k`` or ``(k_t, k_h, k_w)``, odd on every axis.
        bias: learn an additive bias.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int] = 3, bias: bool = True,
                 *, device=None, dtype=None) -> None:
        where = type(self).__name__
        kernel = triple(kernel_size, "kernel_size", where=where)
        super().__init__(in_channels, out_channels, kernel, padding=same_padding(kernel, where=where), bias=bias,
                         device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        return super().forward(x)
