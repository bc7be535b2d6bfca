"""``net/hunyuan_video_vae``: HunyuanVideo's 3-D causal VAE (4×8×8, 16 latent channels; frames 1 + 4k).

Kong et al. 2024 (HunyuanVideo §3, "3D Variational Auto-encoder Design") [V-code: diffusers
autoencoder_kl_hunyuan_video.py ``AutoencoderKLHunyuanVideo``, ``HunyuanVideoEncoder3D``, ``HunyuanVideoDecoder3D``].
A KL autoencoder built from ``conv/causal_temporal`` (first frame replicated in front, border pixels replicated in
space: ``space_pad_mode="replicate"``), ``block/cogvideox_vae_resnet`` (the same GroupNorm–SiLU–causal-conv block, with
that padding) and ``block/hunyuan_video_vae_attention``::

    encoder: conv_in -> [res × L, down] per level -> res, attn, res -> GN, SiLU, conv_out -> 1×1 quant_conv
    decoder: 1×1 post_quant_conv -> conv_in -> res, attn, res -> [res × (L + 1), up] per level -> GN, SiLU, conv_out

Down-sampling is a causal 3×3×3 conv of stride (s_t, 2, 2); up-sampling repeats pixels (nearest) by (s_t, 2, 2) — the
first frame in space only, so 1 + T' latent frames give 1 + s_t·T' — then a causal conv. Space halves on the first
log₂ 8 = 3 levels, time on the ``log₂ f_t`` levels before the last (diffusers' rule for f_t = 4).

GroupNorm statistics span the whole clip, so the model is run one-shot (diffusers' default tiles clips of more than 16
frames with overlapping blends; equal one-shot below that): the ``FeatureCache`` streaming of Wan's VAE does not
apply. Latents are raw: the scaling factor (0.476986) is the recipe's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attention.configure import configure_attention
from ..blocks.cogvideox_vae_resnet import CogVideoXVAEResBlock
from ..blocks.hunyuan_video_vae_attention import HunyuanVideoVAEAttention
from ..checks import check_video
from ..conv.causal import CausalConv3d
from ..examples import video_inputs
from ..registry import BadInput, register
from .autoencoder_parts import PosteriorEncoder, check_causal_clip


TINY = dict(latent_channels=4, block_channels=(8, 16), layers_per_block=1, groups=4, temporal_factor=2)
_PAD = dict(pad_mode="replicate", space_pad_mode="replicate")


class CausalUpsample(nn.Module):
    """``(B, C, T, H, W) -> (B, C, 1 + s_t(T − 1), s·H, s·W)``: nearest repeat by ``factor`` (the first frame in space
    only), then a causal 3×3×3 conv [V-code: diffusers ``HunyuanVideoUpsampleCausal3D``]."""

    def __init__(self, channels: int, factor: tuple[int, int, int], factory: dict) -> None:
        super().__init__()
        self.factor = tuple(factor)
        self.conv = CausalConv3d(channels, channels, 3, **_PAD, **factory)

    def forward(self, x: Tensor) -> Tensor:
        first = F.interpolate(x[:, :, :1], scale_factor=(1, *self.factor[1:]), mode="nearest")
        if x.shape[2] > 1:
            rest = F.interpolate(x[:, :, 1:], scale_factor=self.factor, mode="nearest")
            first = torch.cat((first, rest), dim=2)
        return self.conv(first)


class _Level(nn.Module):
    """Res-blocks then an optional resampler (diffusers' names ``resnets``, ``downsamplers`` / ``upsamplers``)."""

    def __init__(self, resnets: list[nn.Module], resampler: nn.Module | None, name: str) -> None:
        super().__init__()
        self.resnets, self.name = nn.ModuleList(resnets), name
        setattr(self, name, None if resampler is None else nn.ModuleList([resampler]))

    def forward(self, x: Tensor) -> Tensor:
        for resnet in self.resnets:
            x = resnet(x)
        resampler = getattr(self, self.name)
        return x if resampler is None else resampler[0](x)


class _Mid(nn.Module):
    def __init__(self, channels: int, groups: int, factory: dict) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(_res(channels, channels, groups, factory) for _ in range(2))
        self.attentions = nn.ModuleList([HunyuanVideoVAEAttention(channels, groups=groups, **factory)])

    def forward(self, x: Tensor) -> Tensor:
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


def _res(cin: int, cout: int, groups: int, factory: dict) -> nn.Module:
    return CogVideoXVAEResBlock(cin, cout, groups=groups, space_pad_mode="replicate", **factory)


def _strides(levels: int, space_levels: int, time_levels: int) -> list[tuple[int, int, int] | None]:
    """Per level: the resampling factor ``(s_t, s_h, s_w)`` or None (diffusers' rule: space on the first
    ``space_levels``, time on the ``time_levels`` before the last)."""
    out = []
    for i in range(levels):
        space = i < space_levels
        time = levels - 1 - time_levels <= i < levels - 1
        out.append((2 if time else 1, 2 if space else 1, 2 if space else 1) if space or time else None)
    return out


class HunyuanVideoEncoder(nn.Module):
    def __init__(self, cin: int, cout: int, widths: Sequence[int], layers: int, groups: int,
                 strides: list, factory: dict) -> None:
        super().__init__()
        self.conv_in = CausalConv3d(cin, widths[0], 3, **_PAD, **factory)
        levels, prev = [], widths[0]
        for width, stride in zip(widths, strides, strict=True):
            down = None if stride is None else CausalConv3d(width, width, 3, stride=stride, **_PAD, **factory)
            levels.append(_Level([_res(prev if i == 0 else width, width, groups, factory) for i in range(layers)],
                                 down, "downsamplers"))
            prev = width
        self.down_blocks = nn.ModuleList(levels)
        self.mid_block = _Mid(widths[-1], groups, factory)
        self.conv_norm_out = nn.GroupNorm(groups, widths[-1], eps=1e-6, **factory)
        self.conv_out = CausalConv3d(widths[-1], cout, 3, **_PAD, **factory)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv_in(x)
        for level in self.down_blocks:
            x = level(x)
        return self.conv_out(F.silu(self.conv_norm_out(self.mid_block(x))))


class HunyuanVideoDecoder(nn.Module):
    def __init__(self, cin: int, cout: int, widths: Sequence[int], layers: int, groups: int,
                 strides: list, factory: dict) -> None:
        super().__init__()
        rev = list(reversed(widths))
        self.conv_in = CausalConv3d(cin, rev[0], 3, **_PAD, **factory)
        self.mid_block = _Mid(rev[0], groups, factory)
        levels, prev = [], rev[0]
        for width, factor in zip(rev, strides, strict=True):
            up = None if factor is None else CausalUpsample(width, factor, factory)
            levels.append(_Level([_res(prev if i == 0 else width, width, groups, factory) for i in range(layers + 1)],
                                 up, "upsamplers"))
            prev = width
        self.up_blocks = nn.ModuleList(levels)
        self.conv_norm_out = nn.GroupNorm(groups, widths[0], eps=1e-6, **factory)
        self.conv_out = CausalConv3d(widths[0], cout, 3, **_PAD, **factory)

    def forward(self, z: Tensor) -> Tensor:
        x = self.mid_block(self.conv_in(z))
        for level in self.up_blocks:
            x = level(x)
        return self.conv_out(F.silu(self.conv_norm_out(x)))


@register(
    "net", "hunyuan_video_vae", paper="Kong et al. 2024 (HunyuanVideo, arXiv 2412.03603) 3D causal VAE", tiny=TINY,
    inputs=video_inputs(3, (8, 8)), frames=(1, 5),
    output_shape=lambda cfg, x, *a, **k: (x.shape[0], 3, *x.shape[2:]), tolerance={"float16": 4e-2},
    # bf16 is left out: the tiny random decoder's GroupNorms see near-constant groups (nearest up-sampling of an 8×8
    # clip) and its output cancels, 0.1–0.5 relative L2 error in the suite [ours, measured]; open, see the issue
    dtypes=("float32", "float16"),
    bad_inputs=[
        BadInput(match="frames must be 1 \\+ 2", inputs=lambda cfg: ((torch.zeros(1, 3, 2, 8, 8),), {}),
                 why="a frame count the causal VAE cannot take"),
        BadInput(match="height=6 must be divisible", inputs=lambda cfg: ((torch.zeros(1, 3, 1, 6, 8),), {}),
                 why="a size not a multiple of the spatial factor"),
        BadInput(match="temporal_factor must be", init={"temporal_factor": 3}),
    ],
)
class HunyuanVideoVAE(PosteriorEncoder, nn.Module):
    """HunyuanVideo's causal VAE: ``encode`` ``(B, 3, 1 + f_t·k, H, W) -> (B, z, 1 + k, H/f, W/f)``, ``decode`` back
    (module docstring); ``forward`` is decode(encode(x)).

    Args:
        in_channels, out_channels, latent_channels: 3, 3 (default in), 16.
        block_channels: widths per level ((128, 256, 512, 512)); layers_per_block: res-blocks per encoder level (2;
            the decoder has one more).
        groups: GroupNorm groups (32).
        temporal_factor: f_t (4): time halved on the log₂ f_t levels before the last.
        spatial_factor: space halved on the first log₂ of it levels (8; fewer levels give less).
        attention_backend: pin this ``attention_backend/<name>`` on the mid-block attentions (None: ``"auto"``).
    """

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, latent_channels: int = 16, *,
                 block_channels: Sequence[int] = (128, 256, 512, 512), layers_per_block: int = 2, groups: int = 32,
                 temporal_factor: int = 4, spatial_factor: int = 8, attention_backend: str | None = None,
                 device=None, dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        time_levels = int(math.log2(temporal_factor)) if temporal_factor > 0 else -1
        if temporal_factor < 1 or 2 ** time_levels != temporal_factor or time_levels > len(block_channels) - 1:
            raise ValueError(f"{where}: temporal_factor must be a power of two ≤ 2^(levels − 1) = "
                             f"{2 ** (len(block_channels) - 1)}, got {temporal_factor}")
        factory = {"device": device, "dtype": dtype}
        self.in_channels, self.out_channels = in_channels, out_channels or in_channels
        self.latent_channels, self.temporal_factor = latent_channels, temporal_factor
        space_levels = min(int(math.log2(spatial_factor)), len(block_channels))
        self.spatial_factor = 2 ** space_levels
        strides = _strides(len(block_channels), space_levels, time_levels)
        self.encoder = HunyuanVideoEncoder(in_channels, 2 * latent_channels, block_channels, layers_per_block, groups,
                                           strides, factory)
        self.decoder = HunyuanVideoDecoder(latent_channels, self.out_channels, block_channels, layers_per_block,
                                           groups, strides, factory)
        self.quant_conv = nn.Conv3d(2 * latent_channels, 2 * latent_channels, 1, **factory)
        self.post_quant_conv = nn.Conv3d(latent_channels, latent_channels, 1, **factory)
        configure_attention(self, attention_backend=attention_backend)

    def encode_moments(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance (clamped to [−30, 20]), each ``(B, z, 1 + (T − 1)/f_t, H/f, W/f)``."""
        where, f_t = type(self).__name__, self.temporal_factor
        check_causal_clip(x, self.in_channels, f_t, self.spatial_factor, where)
        mean, logvar = self.quant_conv(self.encoder(x)).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)


    def decode(self, z: Tensor) -> Tensor:
        """``(B, z, T, h, w) -> (B, C_out, 1 + f_t(T − 1), h·f, w·f)``; not clamped."""
        check_video(z, "z", channels=self.latent_channels, where=type(self).__name__)
        return self.decoder(self.post_quant_conv(z))

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))
