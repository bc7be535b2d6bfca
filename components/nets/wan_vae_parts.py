"""The two halves of ``net/wan_vae``: the causal encoder and decoder, stages of registered Wan blocks.

Every layer has the streaming signature ``layer(x, cache)`` (``components/conv/feature_cache.py``), so a half runs
a whole clip one-shot (``cache=None``) or one chunk at a time through one ``FeatureCache``, with the same result.
Stage layout [V-code: diffusers autoencoder_kl_wan.py ``WanEncoder3d`` / ``WanDecoder3d``]:

* encoder level L (widths ``base·[1, *mults]``): ``num_res_blocks`` ``block/wan_causal_resnet``, then (all but the
  last level) ``block/wan_causal_down`` (``temporal`` per ``temporal_downsample[L]``); Wan 2.2 (``residual``) adds
  ``block/wan_avg_down`` of the stage input (``WanResidualDownBlock``);
* decoder level L (widths ``base·[mults[-1], *reversed(mults)]``): ``num_res_blocks + 1`` res-blocks, then (all but
  the last) ``block/wan_causal_up`` (temporal mirrored); Wan 2.1's up-sampler halves the channels and the next level
  starts at that width, Wan 2.2's keeps them and adds ``block/wan_dup_up`` of the stage input;
* middle: res-block, ``block/wan_frame_attention``, res-block; head: RMS norm, SiLU, causal 3×3×3 conv.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .. import registry
from ..blocks.rms_norm import ChannelRMSNorm
from ..conv.causal import CausalConv3d
from ..conv.feature_cache import FeatureCache


def patchify(x: Tensor, patch_size: int) -> Tensor:
    """``(B, C, T, H, W) -> (B, C·p², T, H/p, W/p)``, channel order ``(c, p_w, p_h)`` as Wan 2.2's ``patchify``."""
    if patch_size == 1:
        return x
    return rearrange(x, "b c t (h ph) (w pw) -> b (c pw ph) t h w", ph=patch_size, pw=patch_size)


def unpatchify(x: Tensor, patch_size: int) -> Tensor:
    """The inverse of ``patchify``: ``(B, C·p², T, h, w) -> (B, C, T, h·p, w·p)``."""
    if patch_size == 1:
        return x
    return rearrange(x, "b (c pw ph) t h w -> b c t (h ph) (w pw)", ph=patch_size, pw=patch_size)


def _middle(width: int, dropout: float, factory: dict) -> nn.ModuleList:
    res = dict(in_channels=width, dropout=dropout, **factory)
    return nn.ModuleList([registry.build("block/wan_causal_resnet", **res),
                          registry.build("block/wan_frame_attention", in_channels=width, **factory),
                          registry.build("block/wan_causal_resnet", **res)])


def _run(layers: nn.ModuleList, x: Tensor, cache: FeatureCache | None) -> Tensor:
    for layer in layers:
        x = layer(x, cache)
    return x


class WanStage(nn.Module):
    """One level: res-blocks, then an optional resampler, plus an optional parameter-free shortcut of the input.

    ``y = resample(res_n(… res_1(x))) + shortcut(x)``: ``(B, C_in, T, H, W) -> (B, C', T', H', W')``.
    """

    def __init__(self, widths: Sequence[int], resample: dict | None, shortcut: dict | None, *, dropout: float,
                 factory: dict) -> None:
        super().__init__()
        self.res = nn.ModuleList(registry.build("block/wan_causal_resnet", in_channels=c_in, out_channels=c_out,
                                                dropout=dropout, **factory) for c_in, c_out in zip(widths, widths[1:]))
        self.resample = None if resample is None else registry.build(resample, **factory)
        self.shortcut = None if shortcut is None else registry.build(shortcut)

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        h = _run(self.res, x, cache)
        if self.resample is not None:
            h = self.resample(h, cache)
        return h if self.shortcut is None else h + self.shortcut(x, cache)


class WanCausalEncoder(nn.Module):
    """``(B, C_in, T, H, W) -> (B, C_out, 1 + (T − 1)/f_t, H/f, W/f)``: conv_in, levels, middle, head."""

    def __init__(self, in_channels: int, out_channels: int, base_channels: int, channel_mults: Sequence[int],
                 num_res_blocks: int, temporal_downsample: Sequence[bool], *, residual: bool, dropout: float,
                 device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        widths = [base_channels * m for m in (1, *channel_mults)]
        last = len(channel_mults) - 1
        self.conv_in = CausalConv3d(in_channels, widths[0], 3, **factory)
        self.down = nn.ModuleList()
        for level, (c_in, c_out) in enumerate(zip(widths, widths[1:])):
            temporal = level != last and temporal_downsample[level]
            resample = (dict(type="block/wan_causal_down", in_channels=c_out, temporal=temporal)
                        if level != last else None)
            shortcut = (dict(type="block/wan_avg_down", in_channels=c_in, out_channels=c_out,
                             factor_t=2 if temporal else 1, factor_s=2 if level != last else 1) if residual else None)
            self.down.append(WanStage([c_in] + [c_out] * num_res_blocks, resample, shortcut, dropout=dropout,
                                      factory=factory))
        self.mid = _middle(widths[-1], dropout, factory)
        self.norm_out = ChannelRMSNorm(widths[-1], **factory)
        self.conv_out = CausalConv3d(widths[-1], out_channels, 3, **factory)

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        x = _run(self.mid, _run(self.down, self.conv_in(x, cache), cache), cache)
        return self.conv_out(F.silu(self.norm_out(x)), cache)


class WanCausalDecoder(nn.Module):
    """``(B, C_latent, T, h, w) -> (B, C_out, 1 + f_t(T − 1), h·f, w·f)``: conv_in, middle, levels, head."""

    def __init__(self, latent_channels: int, out_channels: int, base_channels: int, channel_mults: Sequence[int],
                 num_res_blocks: int, temporal_upsample: Sequence[bool], *, residual: bool, dropout: float,
                 device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        widths = [base_channels * m for m in (channel_mults[-1], *reversed(channel_mults))]
        last = len(channel_mults) - 1
        self.conv_in = CausalConv3d(latent_channels, widths[0], 3, **factory)
        self.mid = _middle(widths[0], dropout, factory)
        self.up = nn.ModuleList()
        for level, (c_in, c_out) in enumerate(zip(widths, widths[1:])):
            if level > 0 and not residual:
                c_in //= 2  # Wan 2.1: the previous level's up-sampler halved the channels
            temporal = level != last and temporal_upsample[level]
            resample = (dict(type="block/wan_causal_up", in_channels=c_out,
                             out_channels=c_out if residual else c_out // 2, temporal=temporal)
                        if level != last else None)
            shortcut = (dict(type="block/wan_dup_up", in_channels=c_in, out_channels=c_out,
                             factor_t=2 if temporal else 1, factor_s=2) if residual and level != last else None)
            self.up.append(WanStage([c_in] + [c_out] * (num_res_blocks + 1), resample, shortcut, dropout=dropout,
                                    factory=factory))
        self.norm_out = ChannelRMSNorm(widths[-1], **factory)
        self.conv_out = CausalConv3d(widths[-1], out_channels, 3, **factory)

    def forward(self, z: Tensor, cache: FeatureCache | None = None) -> Tensor:
        x = _run(self.up, _run(self.mid, self.conv_in(z, cache), cache), cache)
        return self.conv_out(F.silu(self.norm_out(x)), cache)
