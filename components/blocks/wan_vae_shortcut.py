"""Wan 2.2's parameter-free shortcuts around a resampling stage: space-time to channels and back.

Down (``AvgDown3D``): fold each ``f_t × f_s × f_s`` block into channels, then average groups of channels,

    y[o] = mean_{g} fold(x)[o·G + g],   fold: b c (t f_t) (h f_s) (w f_s) -> b (c f_t f_s f_s) t h w,
    G = C_in·f_t·f_s² / C_out

(frames padded with zeros in front to a multiple of f_t, so frame 0 is averaged with a zero frame, as the causal
chunking has it). Up (``DupUp3D``): repeat each channel ``R = C_out·f_t·f_s² / C_in`` times and unfold into the
block; at the start of a clip the first ``f_t − 1`` frames are dropped, so T frames become ``f_t·T − (f_t − 1)``, in
step with ``block/wan_causal_up``. Streaming: the down shortcut is per chunk (exact when chunks after the first hold
a multiple of f_t frames, as the VAE's do); the up shortcut only remembers that the clip has started.
[V-code: diffusers autoencoder_kl_wan.py ``AvgDown3D`` / ``DupUp3D``; Wan-Video/Wan2.2 wan/modules/vae2_2.py]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange, reduce
from torch import Tensor, nn

from ..checks import check_divisible, check_video
from ..conv.common import BAD_VIDEO, VIDEO_INPUTS
from ..conv.feature_cache import FeatureCache, is_clip_start
from ..registry import BadInput, register


def _check_whole(product_name: str, product: int, divisor_name: str, divisor: int, where: str) -> None:
    if product % divisor:
        raise ValueError(f"{where}: {product_name} × factor_t × factor_s² = {product} must be divisible by "
                         f"{divisor_name}, got {divisor_name}={divisor}")


def _avg_shape(cfg: dict, x, *args, **kwargs) -> tuple[int, ...]:
    b, _, t, h, w = x.shape
    ft, fs = cfg.get("factor_t", 1), cfg.get("factor_s", 1)
    return (b, cfg["out_channels"], -(-t // ft), h // fs, w // fs)


def _dup_shape(cfg: dict, x, *args, **kwargs) -> tuple[int, ...]:
    b, _, t, h, w = x.shape
    ft, fs = cfg.get("factor_t", 1), cfg.get("factor_s", 1)
    return (b, cfg["out_channels"], ft * t - (ft - 1), h * fs, w * fs)


@register(
    "block", "wan_avg_down", paper="Wan Team 2025 (Wan 2.2 VAE) residual down-sampling shortcut",
    tiny=dict(in_channels=8, out_channels=16, factor_t=2, factor_s=2), inputs=VIDEO_INPUTS, output_shape=_avg_shape,
    bad_inputs=[*BAD_VIDEO, BadInput(match="must be divisible by out_channels", init={"out_channels": 3},
                                     why="channel groups must be whole")],
)
class AvgDown3d(nn.Module):
    """``(B, C_in, T, H, W) -> (B, C_out, ⌈T/f_t⌉, H/f_s, W/f_s)``, no parameters.

    Args:
        in_channels, out_channels: C_in, C_out; ``C_in·f_t·f_s²`` must be divisible by C_out.
        factor_t, factor_s: the down-sampling factors in time and in space.
    """

    def __init__(self, in_channels: int, out_channels: int, *, factor_t: int = 1, factor_s: int = 1,
                 device=None, dtype=None) -> None:
        super().__init__()
        factor = factor_t * factor_s * factor_s
        _check_whole("in_channels", in_channels * factor, "out_channels", out_channels, type(self).__name__)
        self.in_channels, self.out_channels, self.factor_t, self.factor_s = in_channels, out_channels, factor_t, factor_s
        self.group_size = in_channels * factor // out_channels

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        """``cache`` is accepted for the shared streaming signature; the fold is per chunk."""
        where = type(self).__name__
        check_video(x, channels=self.in_channels, where=where)
        check_divisible("height", x.shape[3], self.factor_s, "factor_s", where=where)
        check_divisible("width", x.shape[4], self.factor_s, "factor_s", where=where)
        x = F.pad(x, (0, 0, 0, 0, (-x.shape[2]) % self.factor_t, 0))  # zero frames in front: causal
        folded = rearrange(x, "b c (t ft) (h fh) (w fw) -> b (c ft fh fw) t h w", ft=self.factor_t,
                           fh=self.factor_s, fw=self.factor_s)
        return reduce(folded, "b (o g) t h w -> b o t h w", "mean", g=self.group_size)


@register(
    "block", "wan_dup_up", paper="Wan Team 2025 (Wan 2.2 VAE) residual up-sampling shortcut",
    tiny=dict(in_channels=16, out_channels=8, factor_t=2, factor_s=2), inputs=VIDEO_INPUTS, output_shape=_dup_shape,
    bad_inputs=[*BAD_VIDEO, BadInput(match="must be divisible by in_channels", init={"in_channels": 3},
                                     why="channel repeats must be whole")],
)
class DupUp3d(nn.Module):
    """``(B, C_in, T, H, W) -> (B, C_out, f_t·T − (f_t − 1), f_s·H, f_s·W)`` at the start of a clip (later chunks:
    ``f_t·T`` frames), no parameters.

    Args:
        in_channels, out_channels: C_in, C_out; ``C_out·f_t·f_s²`` must be divisible by C_in.
        factor_t, factor_s: the up-sampling factors in time and in space.
    """

    def __init__(self, in_channels: int, out_channels: int, *, factor_t: int = 1, factor_s: int = 1,
                 device=None, dtype=None) -> None:
        super().__init__()
        factor = factor_t * factor_s * factor_s
        _check_whole("out_channels", out_channels * factor, "in_channels", in_channels, type(self).__name__)
        self.in_channels, self.out_channels, self.factor_t, self.factor_s = in_channels, out_channels, factor_t, factor_s
        self.repeats = out_channels * factor // in_channels

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        x = torch.repeat_interleave(x, self.repeats, dim=1)
        x = rearrange(x, "b (o ft fh fw) t h w -> b o (t ft) (h fh) (w fw)", ft=self.factor_t, fh=self.factor_s,
                      fw=self.factor_s)
        return x[:, :, self.factor_t - 1:] if is_clip_start(self, cache) else x
