"""The pieces of Mochi 1's VAE (``net/mochi_vae``): its res-block, causal frame attention, stages and the Fourier input.

Genmo 2024 (Mochi 1) [V-code: diffusers autoencoder_kl_mochi.py ``MochiResnetBlock3D``, ``MochiDownBlock3D``,
``MochiMidBlock3D``, ``MochiUpBlock3D``, ``FourierFeatures``; attention_processor.py ``MochiVaeAttnProcessor2_0``]:

* res-block ``x + conv₂(SiLU(GN(conv₁(SiLU(GN(x))))))``: GroupNorms with statistics **per frame** (diffusers'
  ``MochiChunkedGroupNorm3D`` folds time into the batch), ``conv/causal_temporal`` 3×3×3 convs replicating the first
  frame in time and the border pixels in space;
* attention ``x + Attn(GN(x))`` over **time**, per pixel (``(b h w) t c``), causal, heads of 32 channels, q and k
  L2-normalised per head (eps 1e-5; scores are cosines / √32), no q/k/v bias;
* down-sampling: a causal conv with kernel = stride ``(s_t, s, s)`` and no spatial padding; up-sampling: a per-pixel
  Linear to ``c·s_t·s·s`` channels, then depth-to-space ``b (c st sh sw) t h w -> b c (t st) (h sh) (w sw)``;
* the encoder's input is ``[x, sin(2π·2^f·x), cos(2π·2^f·x)]``, f ∈ {6, 7}, per channel (3 -> 15 channels).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ..attention.base import MultiHeadAttention
from ..blocks.resnet import frame_group_norm
from ..conv.causal import CausalConv3d


_CONV = dict(pad_mode="replicate", space_pad_mode="replicate")


class MochiVAEResBlock(nn.Module):
    """``(B, C, T, H, W) -> (B, C, T, H, W)``: the residual pair of causal 3×3×3 convs (module docstring)."""

    def __init__(self, channels: int, groups: int, factory: dict) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, channels, **factory)
        self.conv1 = CausalConv3d(channels, channels, 3, **_CONV, **factory)
        self.norm2 = nn.GroupNorm(groups, channels, **factory)
        self.conv2 = CausalConv3d(channels, channels, 3, **_CONV, **factory)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(frame_group_norm(self.norm1, x)))
        return x + self.conv2(F.silu(frame_group_norm(self.norm2, h)))


class MochiVAEAttention(nn.Module):
    """``(B, C, T, H, W) -> (B, C, T, H, W)``: ``x + Attn(GN(x))``, causal over frames per pixel, cosine q·k
    (module docstring), on the shared attention core."""

    def __init__(self, channels: int, groups: int, head_dim: int, factory: dict) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, **factory)
        self.attn = MultiHeadAttention(channels, channels // head_dim, head_dim, **factory)

    def forward(self, x: Tensor) -> Tensor:
        b, c, t, h, w = x.shape
        tokens = frame_group_norm(self.norm, x).permute(0, 3, 4, 2, 1).reshape(b * h * w, t, c)  # (b h w) t c
        q = F.normalize(self.attn.project_q(tokens), dim=-1, eps=1e-5)
        k, v = self.attn.project_kv(tokens)
        out = self.attn.attend_heads(q, F.normalize(k, dim=-1, eps=1e-5), v, causal=True)
        return x + out.view(b, h, w, t, c).permute(0, 4, 3, 1, 2)  # (b h w) t c -> b c t h w


class MochiVAEStage(nn.Module):
    """``layers`` res-blocks (each followed by a ``MochiVAEAttention`` with ``attention``), optionally after a
    down-sampling causal conv ``down=(s_t, s)`` from ``in_channels`` (diffusers' ``conv_in``) or before a depth-to-space
    up-sampling ``up=(s_t, s)`` to ``out_channels`` (diffusers' ``proj``)."""

    def __init__(self, channels: int, layers: int, *, groups: int, attention: bool = False, head_dim: int = 32,
                 in_channels: int | None = None, down: tuple[int, int] | None = None, out_channels: int | None = None,
                 up: tuple[int, int] | None = None, factory: dict) -> None:
        super().__init__()
        self.conv_in = (None if down is None else
                        CausalConv3d(in_channels, channels, (down[0], down[1], down[1]), stride=(down[0], down[1],
                                     down[1]), space_padding="none", **_CONV, **factory))
        self.resnets = nn.ModuleList(MochiVAEResBlock(channels, groups, factory) for _ in range(layers))
        self.attentions = (nn.ModuleList(MochiVAEAttention(channels, groups, head_dim, factory) for _ in range(layers))
                           if attention else None)
        self.up = up
        self.proj = None if up is None else nn.Linear(channels, out_channels * up[0] * up[1] ** 2, **factory)

    def forward(self, x: Tensor) -> Tensor:
        if self.conv_in is not None:
            x = self.conv_in(x)
        for i, res in enumerate(self.resnets):
            x = res(x)
            if self.attentions is not None:
                x = self.attentions[i](x)
        if self.proj is None:
            return x
        x = self.proj(x.movedim(1, -1)).movedim(-1, 1)
        st, s = self.up
        return rearrange(x, "b (c st sh sw) t h w -> b c (t st) (h sh) (w sw)", st=st, sh=s, sw=s)


def fourier_features(x: Tensor, start: int = 6, stop: int = 8) -> Tensor:
    """``(B, C, T, H, W) -> (B, C(1 + 2F), T, H, W)``: ``[x, sin(ω x), cos(ω x)]`` with ``ω = 2π·2^f``, f in
    ``[start, stop)``, channels ``(c f)`` (each input channel's frequencies together), computed in fp32."""
    xf = x.float()
    omega = 2 * math.pi * 2.0 ** torch.arange(start, stop, device=x.device, dtype=torch.float32)
    h = rearrange(xf[:, :, None] * omega.view(1, 1, -1, 1, 1, 1), "b c f t h w -> b (c f) t h w")
    return torch.cat([xf, h.sin(), h.cos()], dim=1).to(x.dtype)
