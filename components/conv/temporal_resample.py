"""Temporal down- and up-sampling by 2 (Bar-Tal et al. 2024, Lumiere §3.1: the space-time U-Net "down- and
up-samples in both space and time").

Lumiere publishes no code. Like its closest public realisation (lucidrains ``lumiere-pytorch``) both layers are
per-pixel 1-D convs over frames, kernel 3, stride 2, initialised to the linear-interpolation ("bilinear") kernel
``[0.5, 1, 0.5]`` on the channel diagonal (identity across channels), with the convention decisions below:

* down: ``Conv1d(k=3, stride=2)`` with **replicate** padding and the kernel normalised to unit sum,
  ``[0.25, 0.5, 0.25]``:  y[j] = ¼ x[2j−1] + ½ x[2j] + ¼ x[2j+1].  A constant clip stays constant
  (lucidrains' unnormalised kernel would double it). T must be even; T = 1 (an image) raises — a U-Net fed
  images skips temporal resampling.
* up: ``ConvTranspose1d(k=3, stride=2)`` with ``[0.5, 1, 0.5]``:  y[2i] = x[i],  y[2i+1] = ½ (x[i] + x[i+1]);
  past the last frame x is replicated, so y[2T−1] = x[T−1] (zero padding would halve it). T -> 2T for every T,
  including T = 1 (two copies of the frame).

At init, up(down(x)) is a smoothed x and both layers are exact on linear-in-time signals away from the ends.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ..checks import check_divisible, check_video
from ..registry import BadInput, register
from .common import BAD_VIDEO, VIDEO_INPUTS


INTERPOLATION_KERNEL = (0.5, 1.0, 0.5)


def _init_diagonal(weight: Tensor, kernel: tuple[float, ...]) -> None:
    """``weight`` ``(C, C, 3)`` <- ``kernel`` on the channel diagonal, 0 elsewhere (meta-device safe)."""
    channels = weight.shape[0]
    eye = torch.eye(channels, device=weight.device, dtype=weight.dtype)
    taps = torch.tensor(kernel, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        weight.copy_(eye[:, :, None] * taps)


def _frames_scaled(factor: float):
    def shape(cfg: dict, x, *args, **kwargs) -> tuple[int, ...]:
        b, c, t, h, w = x.shape
        return (b, c, int(t * factor), h, w)

    return shape


def _odd_frames(cfg: dict):
    return (torch.zeros(2, cfg["in_channels"], 3, 8, 8),), {}


@register(
    "conv", "temporal_down", paper="Bar-Tal et al. 2024 (Lumiere) §3.1 temporal down-sampling",
    tiny=dict(in_channels=8), inputs=VIDEO_INPUTS, frames=(2, 4, 6), output_shape=_frames_scaled(0.5),
    bad_inputs=[*BAD_VIDEO, BadInput(match="frames=3 must be divisible by", inputs=_odd_frames, why="odd T")],
)
class TemporalDownsample(nn.Module):
    """``(B, C, T, H, W) -> (B, C, T/2, H, W)``: per-pixel ``Conv1d(C, C, 3, stride=2)``, replicate padding.

    Init: ``[0.25, 0.5, 0.25]`` on the channel diagonal, bias 0 (a normalised linear-interpolation filter).
    T must be even (``ValueError`` otherwise, T = 1 included).
    """

    def __init__(self, in_channels: int, *, device=None, dtype=None) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.conv = nn.Conv1d(in_channels, in_channels, 3, stride=2, padding=1, padding_mode="replicate",
                              device=device, dtype=dtype)
        _init_diagonal(self.conv.weight, tuple(k / sum(INTERPOLATION_KERNEL) for k in INTERPOLATION_KERNEL))
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        where = type(self).__name__
        check_video(x, channels=self.in_channels, where=where)
        check_divisible("frames", x.shape[2], 2, "the temporal stride", where=where)
        b, _, _, h, w = x.shape
        y = self.conv(rearrange(x, "b c t h w -> (b h w) c t"))
        return rearrange(y, "(b h w) c t -> b c t h w", b=b, h=h, w=w)


@register(
    "conv", "temporal_up", paper="Bar-Tal et al. 2024 (Lumiere) §3.1 temporal up-sampling",
    tiny=dict(in_channels=8), inputs=VIDEO_INPUTS, output_shape=_frames_scaled(2), bad_inputs=BAD_VIDEO,
)
class TemporalUpsample(nn.Module):
    """``(B, C, T, H, W) -> (B, C, 2T, H, W)``: per-pixel ``ConvTranspose1d(C, C, 3, stride=2, padding=1)``.

    The last frame is replicated once before the transposed conv and the one extra output frame this makes is
    dropped, so the end of the clip is interpolated against itself rather than against zeros.
    Init: ``[0.5, 1, 0.5]`` on the channel diagonal, bias 0 (linear interpolation; the even outputs copy the input).
    """

    def __init__(self, in_channels: int, *, device=None, dtype=None) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.conv = nn.ConvTranspose1d(in_channels, in_channels, 3, stride=2, padding=1, device=device, dtype=dtype)
        _init_diagonal(self.conv.weight, INTERPOLATION_KERNEL)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        b, _, t, h, w = x.shape
        seq = F.pad(rearrange(x, "b c t h w -> (b h w) c t"), (0, 1), mode="replicate")  # T + 1 frames
        y = self.conv(seq)[..., : 2 * t]  # (T + 1 − 1)·2 − 2 + 3 = 2T + 1 outputs; the last one is past the clip
        return rearrange(y, "(b h w) c t -> b c t h w", b=b, h=h, w=w)
