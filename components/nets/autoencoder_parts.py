"""The two halves of ``net/video_autoencoder``: the image encoder (per frame) and the decoder (optionally temporal).

Both are the LDM / Stable Diffusion autoencoder's layout (Rombach et al. 2022, ``Encoder`` / ``Decoder``) on ``B C T H W``
video with space-only convs, so a frame is exactly what the image autoencoder computes; the temporal decoder swaps
every res-block for ``block/spatiotemporal_resnet`` and adds a temporal conv after the output conv (Video LDM §3.1
decoder fine-tuning; SVD's ``AutoencoderKLTemporalDecoder``). They own no layer but the VAE's two oddities below;
everything else is a registered component.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import registry
from ..blocks.resnet import frame_group_norm
from ..checks import check_divisible, check_video
from ..conv.temporal_conv import TemporalConv3d


class VAEDownsample(nn.Module):
    """``(B, C, T, H, W) -> (B, C, T, H/2, W/2)``: pad one row/column at the bottom/right, then a stride-2 ``1×3×3`` conv
    without padding (the LDM autoencoder's ``Downsample``; ``conv/spatial_down`` pads symmetrically instead)."""

    def __init__(self, channels: int, *, device=None, dtype=None) -> None:
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, (1, 3, 3), stride=(1, 2, 2), device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class VAEAttention(nn.Module):
    """``x + attn(GN(x))``: one-head spatial self-attention per frame with biased q/k/v (the autoencoder's mid-block
    attention, diffusers ``Attention(residual_connection=True, norm_num_groups=32)``); ``attention/spatial`` inside."""

    def __init__(self, channels: int, *, num_groups: int = 32, eps: float = 1e-6, device=None, dtype=None) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(num_groups, channels, eps=eps, device=device, dtype=dtype)
        self.attn = registry.build("attention/spatial", dim=channels, num_heads=1, qkv_bias=True, device=device,
                                   dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.attn(frame_group_norm(self.norm, x))


def _res(c_in: int, c_out: int, *, temporal: bool, num_groups: int, eps: float, temporal_eps: float,
         merge_factor: float, factory: dict) -> nn.Module:
    if not temporal:
        return registry.build("block/resnet", in_channels=c_in, out_channels=c_out, num_groups=num_groups, eps=eps,
                              **factory)
    return registry.build("block/spatiotemporal_resnet", in_channels=c_in, out_channels=c_out, num_groups=num_groups,
                          eps=eps, temporal_eps=temporal_eps, merge_factor=merge_factor, merge_strategy="learned",
                          **factory)


class ImageEncoder(nn.Module):
    """``(B, C_in, T, H, W) -> (B, 2·latent, T, H/f, W/f)`` (mean and log-variance), frame by frame, f = 2^(levels−1).

    conv_in → per level ``num_res_blocks`` × ``block/resnet`` (+ ``VAEDownsample`` but at the last) → mid
    (res, ``VAEAttention``, res) → GN–SiLU → conv_out.
    """

    def __init__(self, in_channels: int, latent_channels: int, widths: Sequence[int], num_res_blocks: int, *,
                 num_groups: int, eps: float, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        res = dict(temporal=False, num_groups=num_groups, eps=eps, temporal_eps=eps, merge_factor=0.0,
                   factory=factory)
        self.conv_in = registry.build("conv/space_only_3d", in_channels=in_channels, out_channels=widths[0], **factory)
        self.down, ch = nn.ModuleList(), widths[0]
        for level, width in enumerate(widths):
            stage = nn.ModuleList()
            for _ in range(num_res_blocks):
                stage.append(_res(ch, width, **res))
                ch = width
            if level < len(widths) - 1:
                stage.append(VAEDownsample(ch, **factory))
            self.down.append(stage)
        self.mid = nn.ModuleList([_res(ch, ch, **res), VAEAttention(ch, num_groups=num_groups, eps=eps, **factory),
                                  _res(ch, ch, **res)])
        self.norm_out = nn.GroupNorm(num_groups, ch, eps=eps, **factory)
        self.conv_out = registry.build("conv/space_only_3d", in_channels=ch, out_channels=2 * latent_channels,
                                       **factory)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for stage in self.down:
            for layer in stage:
                h = layer(h)
        for layer in self.mid:
            h = layer(h)
        return self.conv_out(F.silu(frame_group_norm(self.norm_out, h)))


class VideoDecoder(nn.Module):
    """``(B, latent, T, h, w) -> (B, C_out, T, h·f, w·f)``: conv_in → mid (res, ``VAEAttention``, res) → per level from
    the coarsest ``num_res_blocks + 1`` res-blocks (+ ``conv/spatial_up`` but at the finest) → GN–SiLU → conv_out
    [→ ``time_conv_out``, a ``(k, 1, 1)`` temporal conv].

    ``temporal=True``: res-blocks are ``block/spatiotemporal_resnet`` (``learned`` merge, no time embedding) and the
    temporal output conv is added (SVD's ``TemporalDecoder``); ``temporal=False``: the image decoder per frame.
    """

    def __init__(self, out_channels: int, latent_channels: int, widths: Sequence[int], num_res_blocks: int, *,
                 num_groups: int, eps: float, temporal: bool, temporal_eps: float, temporal_kernel_size: int,
                 merge_factor: float, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        res = dict(temporal=temporal, num_groups=num_groups, eps=eps, temporal_eps=temporal_eps,
                   merge_factor=merge_factor, factory=factory)
        ch = widths[-1]
        self.conv_in = registry.build("conv/space_only_3d", in_channels=latent_channels, out_channels=ch, **factory)
        self.mid = nn.ModuleList([_res(ch, ch, **res), VAEAttention(ch, num_groups=num_groups, eps=eps, **factory),
                                  _res(ch, ch, **res)])
        self.up = nn.ModuleList()
        for level in reversed(range(len(widths))):
            stage = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                stage.append(_res(ch, widths[level], **res))
                ch = widths[level]
            if level > 0:
                stage.append(registry.build("conv/spatial_up", in_channels=ch, **factory))
            self.up.append(stage)
        self.norm_out = nn.GroupNorm(num_groups, ch, eps=eps, **factory)
        self.conv_out = registry.build("conv/space_only_3d", in_channels=ch, out_channels=out_channels, **factory)
        self.time_conv_out = TemporalConv3d(out_channels, out_channels, temporal_kernel_size, **factory) if temporal \
            else None

    def forward(self, z: Tensor) -> Tensor:
        h = self.conv_in(z)
        for layer in self.mid:
            h = layer(h)
        for stage in self.up:
            for layer in stage:
                h = layer(h)
        h = self.conv_out(F.silu(frame_group_norm(self.norm_out, h)))
        return h if self.time_conv_out is None else self.time_conv_out(h)


def check_autoencoder_input(x: Tensor, channels: int, factor: int, where: str) -> None:
    check_video(x, channels=channels, where=where)
    check_divisible("height", x.shape[3], factor, "2 ** (levels − 1)", where=where)
    check_divisible("width", x.shape[4], factor, "2 ** (levels − 1)", where=where)


def check_causal_clip(x: Tensor, channels: int, temporal_factor: int, spatial_factor: int, where: str) -> None:
    """A causal video VAE's input ``(B, C, 1 + f_t·k, H, W)``: the first frame alone, then groups of ``f_t``; H and W
    multiples of the spatial factor (Wan, HunyuanVideo, LTX-Video, Mochi)."""
    check_video(x, channels=channels, where=where)
    if (x.shape[2] - 1) % temporal_factor:
        raise ValueError(f"{where}: x frames must be 1 + {temporal_factor}·k (the causal first frame, then groups of "
                         f"the temporal factor {temporal_factor}), got {x.shape[2]}")
    check_divisible("height", x.shape[3], spatial_factor, "spatial_factor", where=where)
    check_divisible("width", x.shape[4], spatial_factor, "spatial_factor", where=where)


class PosteriorEncoder:
    """``encode`` of a KL autoencoder from its ``encode_moments`` (mixed into every autoencoder net): the posterior
    mean, or with ``sample=True`` a draw ``mean + exp(logvar / 2) · n``, n ~ N(0, I) from ``generator``. Keywords other
    than ``sample`` / ``generator`` go to ``encode_moments`` (Wan's ``chunked``)."""

    def encode(self, x: Tensor, *, sample: bool = False, generator: torch.Generator | None = None,
               **moments) -> Tensor:
        mean, logvar = self.encode_moments(x, **moments)
        if not sample:
            return mean
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + torch.exp(0.5 * logvar) * noise
