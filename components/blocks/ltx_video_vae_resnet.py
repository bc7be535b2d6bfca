"""LTX-Video's VAE res-block: pixel norm, SiLU, 3×3×3 conv twice, with the 0.9.1 decoder's timestep-conditioned
scale/shift and per-channel noise injection.

HaCohen et al. 2024 (LTX-Video §2.1, "Video VAE"; §2.2 "decoder as the last denoising step") [V-code: diffusers
autoencoder_kl_ltx.py ``LTXVideoResnetBlock3d``; Lightricks/LTX-Video causal_video_autoencoder.py ``ResnetBlock3D``]::

    h = conv₁(SiLU(N(x) ⊙ (1 + scale₁) + shift₁)) + s₁ ⊙ n₁
    h = conv₂(SiLU(N(h) ⊙ (1 + scale₂) + shift₂)) + s₂ ⊙ n₂
    y = h + shortcut(x),   shortcut = conv_1×1×1(LayerNorm_C(x)) when the width changes, else x

    N(x) = x / sqrt(mean_C(x²) + 1e-8)                 "pixel norm": RMS over the channels of each position, no gain
    (shift₁, scale₁, shift₂, scale₂) = temb + table    temb (B, 4·C) from the level's timestep embedder, table (4, C)
    n ~ N(0, 1) of shape (H, W), one map for every channel and frame, scaled per channel by s (C,) (init 0)

The convs are ``conv/causal_temporal`` with the first frame replicated in front (the encoder, ``causal=True``) or the
first / last frame replicated on both sides (the decoder, ``causal=False``); space is zero-padded. The pixel norm has
no statistics across positions, so the block (with ``causal=True``) is causal. ``inject_noise`` draws from
``generator`` (or the global RNG, as diffusers does in ``decode``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_video
from ..conv.causal import CausalConv3d
from ..registry import BadInput, register


def pixel_norm(x: Tensor, eps: float = 1e-8) -> Tensor:
    """``(B, C, *) -> (B, C, *)``: ``x / sqrt(mean_C(x²) + eps)`` per position, in fp32 for half inputs (LTX's
    ``pixel_norm``; diffusers ``RMSNorm(elementwise_affine=False)`` over the moved channel axis)."""
    h = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    return (h * torch.rsqrt(h.pow(2).mean(dim=1, keepdim=True) + eps)).to(x.dtype)


def _inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    x = torch.randn(batch, cfg["in_channels"], frames, 4, 4, generator=generator)
    kwargs = {}
    if cfg.get("timestep_conditioning"):
        kwargs["temb"] = torch.randn(batch, 4 * cfg["in_channels"], generator=generator)
    return (x,), kwargs


@register(
    "block", "ltx_video_vae_resnet", paper="HaCohen et al. 2024 (LTX-Video) video VAE res-block",
    tiny=dict(in_channels=8, timestep_conditioning=True), inputs=_inputs, properties=("causal",),
    output_shape=lambda cfg, x, *a, **k: (x.shape[0], cfg.get("out_channels") or cfg["in_channels"], *x.shape[2:]),
    bad_inputs=[
        BadInput(match="temb .*required", inputs=lambda cfg: ((torch.zeros(1, 8, 1, 4, 4),), {}),
                 why="a timestep-conditioned block without its embedding"),
        BadInput(match="inject_noise and timestep_conditioning", init={"out_channels": 16, "inject_noise": True},
                 why="diffusers' per-channel noise scale has the input width"),
    ],
)
class LTXVideoVAEResBlock(nn.Module):
    """``x`` ``(B, in_channels, T, H, W)`` [, ``temb`` ``(B, 4·in_channels)``] -> ``(B, out_channels, T, H, W)``.

    Args:
        in_channels, out_channels: widths (out defaults to in).
        eps: the shortcut LayerNorm's epsilon (1e-6).
        causal: the convs' time padding (True: encoder; False: LTX's decoder).
        inject_noise: add per-channel-scaled spatial noise after each conv (``per_channel_scale1/2``, init 0).
        timestep_conditioning: scale/shift after each norm from ``temb`` + ``scale_shift_table`` (4, C).
        dropout: between norm₂ and conv₂ (0).
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, eps: float = 1e-6, causal: bool = True,
                 inject_noise: bool = False, timestep_conditioning: bool = False, dropout: float = 0.0, device=None,
                 dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        out_channels = out_channels or in_channels
        if (inject_noise or timestep_conditioning) and out_channels != in_channels:
            # diffusers sizes both by in_channels; its decoder never widens a conditioned block
            raise ValueError(f"{type(self).__name__}: inject_noise and timestep_conditioning need out_channels == "
                             f"in_channels, got {in_channels} -> {out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        conv = dict(pad_mode="replicate", causal=causal, **factory)
        self.conv1 = CausalConv3d(in_channels, out_channels, 3, **conv)
        self.conv2 = CausalConv3d(out_channels, out_channels, 3, **conv)
        self.dropout = nn.Dropout(dropout)
        self.norm3 = self.conv_shortcut = None
        if in_channels != out_channels:
            self.norm3 = nn.LayerNorm(in_channels, eps=eps, **factory)
            self.conv_shortcut = CausalConv3d(in_channels, out_channels, 1, **conv)
        self.per_channel_scale1 = self.per_channel_scale2 = None
        if inject_noise:
            self.per_channel_scale1 = nn.Parameter(torch.zeros(in_channels, 1, 1, **factory))
            self.per_channel_scale2 = nn.Parameter(torch.zeros(in_channels, 1, 1, **factory))
        self.scale_shift_table = None
        if timestep_conditioning:
            self.scale_shift_table = nn.Parameter(torch.randn(4, in_channels, **factory) / in_channels ** 0.5)

    def _noise(self, h: Tensor, scale: Tensor | None, generator: torch.Generator | None) -> Tensor:
        if scale is None:
            return h
        n = torch.randn(h.shape[-2:], generator=generator, device=h.device, dtype=h.dtype)  # one (H, W) map
        return h + (n[None] * scale)[None, :, None]  # c h w -> 1 c 1 h w

    def forward(self, x: Tensor, temb: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        where = type(self).__name__
        check_video(x, channels=self.in_channels, where=where)
        h = pixel_norm(x)
        if self.scale_shift_table is not None:
            if temb is None or tuple(temb.shape) != (x.shape[0], 4 * self.in_channels):
                raise ValueError(f"{where}: temb (B, 4·in_channels) = {(x.shape[0], 4 * self.in_channels)} is "
                                 f"required with timestep_conditioning, got "
                                 f"{None if temb is None else tuple(temb.shape)}")
            # b (four c) -> b four c 1 1 1: (shift₁, scale₁, shift₂, scale₂)
            mod = temb.view(x.shape[0], 4, -1, 1, 1, 1) + self.scale_shift_table[None, :, :, None, None, None]
            shift1, scale1, shift2, scale2 = mod.unbind(dim=1)
            h = h * (1 + scale1) + shift1
        h = self._noise(self.conv1(F.silu(h)), self.per_channel_scale1, generator)
        h = pixel_norm(h)
        if self.scale_shift_table is not None:
            h = h * (1 + scale2) + shift2
        h = self._noise(self.conv2(self.dropout(F.silu(h))), self.per_channel_scale2, generator)
        if self.norm3 is not None:
            x = self.norm3(x.movedim(1, -1)).movedim(-1, 1)  # LayerNorm over the channels of each position
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return h + x
