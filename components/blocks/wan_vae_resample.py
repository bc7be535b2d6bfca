"""Wan's causal VAE resampling: ×2 down / up in space, optionally ×2 in time, streaming through a ``FeatureCache``.

Down (encoder), per frame then over time:

    y = Conv2d_{3×3, stride 2}(pad_{right, bottom}(x))                         (space: H×W -> H/2×W/2)
    z = [y₀] ++ [time_conv(y_{2j}, y_{2j+1}, y_{2j+2})]_j ,  time_conv: 3×1×1, stride 2, no padding

so frame 0 (an image) passes alone and T = 1 + 2k frames become 1 + k; streamed, the frame a window shares with the
previous chunk is kept in the cache. Up (decoder), over time then per frame:

    u = [x₀] ++ interleave(time_conv(x₁..)) ,  time_conv: causal 3×1×1 conv C -> 2C, channel halves = frames 2i, 2i+1
    y = Conv2d_{3×3}(nearest×2(u))                                              (space: H×W -> 2H×2W)

so T latent-side frames become 1 + 2(T − 1): the first frame is not doubled (the causal VAE's image frame). The
start of the clip is where the first frame is special (one-shot, or a layer's first chunk in a cache), which is
diffusers' ``first_chunk`` / ``"Rep"`` bookkeeping. [V-code: diffusers autoencoder_kl_wan.py ``WanResample``
(modes downsample2d/3d, upsample2d/3d); Wan-Video/Wan2.1 wan/modules/vae.py ``Resample``]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ..checks import check_video
from ..conv.causal import CausalConv3d
from ..conv.common import BAD_VIDEO, VIDEO_INPUTS
from ..conv.feature_cache import FeatureCache, is_clip_start
from ..registry import BadInput, register


def _per_frame(layer, x: Tensor) -> Tensor:
    """A 2-D layer on every frame: ``b c t h w -> (b t) c h w -> layer -> b c' t h' w'`` (view / permute: the
    per-call hot path, where einops' overhead showed; docs/architecture.md conventions)."""
    b, c, t, h, w = x.shape
    y = layer(x.transpose(1, 2).reshape(b * t, c, h, w))  # b c t h w -> (b t) c h w
    return y.view(b, t, *y.shape[1:]).transpose(1, 2)  # (b t) c h w -> b c t h w


def _down_shape(cfg: dict, x, *args, **kwargs) -> tuple[int, ...]:
    b, c, t, h, w = x.shape
    return (b, c, 1 + (t - 1) // 2 if cfg.get("temporal") else t, h // 2, w // 2)


def _up_shape(cfg: dict, x, *args, **kwargs) -> tuple[int, ...]:
    b, c, t, h, w = x.shape
    return (b, cfg.get("out_channels") or c, 2 * t - 1 if cfg.get("temporal") else t, 2 * h, 2 * w)


def _even_frames(cfg: dict):
    return (torch.zeros(1, cfg["in_channels"], 2, 8, 8),), {}


@register(
    "block", "wan_causal_down", paper="Wan Team 2025 (Wan 2.1) causal 3-D VAE down-sampling",
    tiny=dict(in_channels=8, temporal=True), inputs=VIDEO_INPUTS, frames=(1, 3, 5), output_shape=_down_shape,
    bad_inputs=[*BAD_VIDEO, BadInput(match="frames must be odd", inputs=_even_frames,
                                     why="one-shot temporal down-sampling of an even clip would drop a frame")],
)
class WanCausalDownsample(nn.Module):
    """``(B, C, T, H, W) -> (B, C, T', H/2, W/2)``, T' = 1 + (T − 1)/2 with ``temporal=True`` (T odd one-shot), else T.

    Args:
        in_channels: C.
        temporal: also halve time with the strided causal ``time_conv`` (Wan: the 2nd and 3rd encoder levels).
    """

    def __init__(self, in_channels: int, *, temporal: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.in_channels, self.temporal = in_channels, temporal
        self.conv = nn.Conv2d(in_channels, in_channels, 3, stride=2, **factory)
        self.time_conv = (nn.Conv3d(in_channels, in_channels, (3, 1, 1), stride=(2, 1, 1), **factory)
                          if temporal else None)

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        where = type(self).__name__
        check_video(x, channels=self.in_channels, where=where)
        y = _per_frame(self.conv, F.pad(x, (0, 1, 0, 1)))  # pad (w_right, h_bottom) by one: Wan's ZeroPad2d
        if self.time_conv is None:
            return y
        if cache is None and y.shape[2] % 2 == 0:
            raise ValueError(f"{where}: x frames must be odd without a cache (frame 0 alone, then pairs), "
                             f"got {y.shape[2]}")
        start = cache is None or self not in cache
        seq = y if start else torch.cat([cache.get(self), y], dim=2)
        windows = (seq.shape[2] - 1) // 2  # windows (2j, 2j+1, 2j+2) that are complete
        if cache is not None:  # the frames the next window starts from
            cache.set(self, seq[:, :, 2 * windows:].clone())
        parts = [y[:, :, :1]] if start else []
        if windows:
            parts.append(self.time_conv(seq[:, :, : 2 * windows + 1]))
        return torch.cat(parts, dim=2) if parts else y[:, :, :0]


@register(
    "block", "wan_causal_up", paper="Wan Team 2025 (Wan 2.1) causal 3-D VAE up-sampling",
    tiny=dict(in_channels=8, out_channels=4, temporal=True), inputs=VIDEO_INPUTS, output_shape=_up_shape,
    bad_inputs=list(BAD_VIDEO),
)
class WanCausalUpsample(nn.Module):
    """``(B, C, T, H, W) -> (B, C_out, T', 2H, 2W)``, T' = 2T − 1 with ``temporal=True``, else T.

    Args:
        in_channels, out_channels: C and C_out of the spatial conv (Wan 2.1: C/2, Wan 2.2: C; default C).
        temporal: also double time with the causal ``time_conv`` (C -> 2C, then frames interleaved).
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, temporal: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        out_channels = in_channels if out_channels is None else out_channels
        self.in_channels, self.out_channels, self.temporal = in_channels, out_channels, temporal
        self.time_conv = CausalConv3d(in_channels, 2 * in_channels, (3, 1, 1), **factory) if temporal else None
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, **factory)

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        if self.time_conv is not None:
            start = is_clip_start(self, cache)
            rest = x[:, :, 1:] if start else x
            parts = [x[:, :, :1]] if start else []
            if rest.shape[2]:
                doubled = self.time_conv(rest, cache)
                parts.append(rearrange(doubled, "b (two c) t h w -> b c (t two) h w", two=2))
            x = torch.cat(parts, dim=2)
        # nearest-exact ×2 in fp32, as Wan's WanUpsample (same as nearest at an integer factor)
        up = _per_frame(lambda f: F.interpolate(f.float(), scale_factor=2.0, mode="nearest-exact").to(f.dtype), x)
        return _per_frame(self.conv, up)
