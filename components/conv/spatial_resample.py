"""Spatial down- and up-sampling of video by 2 in H and W, frame by frame (VDM §3: "down/up-sampling halves/doubles
H×W only"; the Stable Diffusion U-Net's ``Downsample`` / ``Upsample`` applied per frame).

* down: a ``1×3×3`` conv with spatial stride 2 (or a ``1×2×2`` average pool with ``use_conv=False``);
* up: nearest-neighbour ×2 in H and W, then a ``1×3×3`` conv (or nothing with ``use_conv=False``).

Both are ``conv/space_only_3d`` underneath, so an image U-Net's down/up convs load with ``load_conv2d_state_dict``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_divisible, check_video
from ..registry import BadInput, register
from .common import BAD_VIDEO, VIDEO_INPUTS
from .space_only import SpaceOnlyConv3d


def _scaled(factor: float):
    def shape(cfg: dict, x, *args, **kwargs) -> tuple[int, ...]:
        b, _, t, h, w = x.shape
        return (b, cfg.get("out_channels") or cfg["in_channels"], t, int(h * factor), int(w * factor))

    return shape


def _odd_size(cfg: dict):
    return (torch.zeros(2, cfg["in_channels"], 2, 7, 8),), {}


def _check_out_channels(where: str, in_channels: int, out_channels: int | None, use_conv: bool) -> int:
    out_channels = in_channels if out_channels is None else out_channels
    if not use_conv and out_channels != in_channels:
        raise ValueError(f"{where}: use_conv=False cannot change channels; out_channels must equal "
                         f"in_channels={in_channels}, got {out_channels}")
    return out_channels


_BAD_NO_CONV = BadInput(match="out_channels must equal", init={"use_conv": False}, why="pooling can't map channels")


@register(
    "conv", "spatial_down", paper="Ho et al. 2022 (VDM) §3; Rombach et al. 2022 (LDM) Downsample, per frame",
    tiny=dict(in_channels=8, out_channels=16), inputs=VIDEO_INPUTS, output_shape=_scaled(0.5),
    properties=("frame_independent",),
    bad_inputs=[*BAD_VIDEO, _BAD_NO_CONV,
                BadInput(match="height=7 must be divisible", inputs=_odd_size, why="odd H cannot be halved exactly")],
)
class SpatialDownsample(nn.Module):
    """``(B, C_in, T, H, W) -> (B, C_out, T, H/2, W/2)``; H and W must be even (no silent rounding).

    Args:
        in_channels: C_in. out_channels: C_out (default C_in; must equal C_in without a conv).
        use_conv: stride-2 ``1×3×3`` conv (padding 1) if True, else ``1×2×2`` average pooling.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, use_conv: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = _check_out_channels(type(self).__name__, in_channels, out_channels, use_conv)
        self.conv = (SpaceOnlyConv3d(in_channels, self.out_channels, 3, stride=2, device=device, dtype=dtype)
                     if use_conv else None)

    def forward(self, x: Tensor) -> Tensor:
        where = type(self).__name__
        check_video(x, channels=self.in_channels, where=where)
        check_divisible("height", x.shape[3], 2, "the spatial factor", where=where)
        check_divisible("width", x.shape[4], 2, "the spatial factor", where=where)
        if self.conv is None:
            return F.avg_pool3d(x, (1, 2, 2))
        return self.conv(x)


@register(
    "conv", "spatial_up", paper="Ho et al. 2022 (VDM) §3; Rombach et al. 2022 (LDM) Upsample, per frame",
    tiny=dict(in_channels=8, out_channels=16), inputs=VIDEO_INPUTS, output_shape=_scaled(2),
    properties=("frame_independent",), bad_inputs=[*BAD_VIDEO, _BAD_NO_CONV],
)
class SpatialUpsample(nn.Module):
    """``(B, C_in, T, H, W) -> (B, C_out, T, 2H, 2W)``: nearest ×2 in H, W (never in T), then a ``1×3×3`` conv.

    Args:
        in_channels: C_in. out_channels: C_out (default C_in; must equal C_in without a conv).
        use_conv: follow the nearest-neighbour upsampling with a "same" ``1×3×3`` conv.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, use_conv: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = _check_out_channels(type(self).__name__, in_channels, out_channels, use_conv)
        self.conv = (SpaceOnlyConv3d(in_channels, self.out_channels, 3, device=device, dtype=dtype)
                     if use_conv else None)

    def forward(self, x: Tensor) -> Tensor:
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        x = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="nearest")
        return x if self.conv is None else self.conv(x)
