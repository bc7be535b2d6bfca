"""The encoder and decoder of ``net/ltx_video_vae`` (LTX-Video's 1:192 video VAE), in diffusers' module names.

[V-code: diffusers autoencoder_kl_ltx.py ``LTXVideoEncoder3d``, ``LTXVideoDecoder3d``, ``LTXVideoDownBlock3D``,
``LTXVideoMidBlock3d``, ``LTXVideoUpBlock3d``]::

    encoder: patchify (p×p pixels -> channels) -> conv_in -> per level [res × L_i, ↓2 (strided causal conv), res to
             the next width] -> mid res × L_last -> pixel norm, SiLU -> conv_out (2 moments: z means + one log-var)
    decoder: conv_in -> mid [res × L] -> per level [res to the level width, ↑2 (depth-to-space), res × L_i]
             -> pixel norm (⊙ (1 + scale) + shift) -> SiLU -> conv_out -> unpatchify

With ``timestep_conditioning`` (0.9.1+) the decoder takes a timestep t (the pipeline's ``decode_timestep``): it is
multiplied by a learned ``timestep_scale_multiplier`` (init 1000), each mid / up level embeds it (sinusoid 256 ->
MLP -> 4·C, diffusers' ``PixArtAlphaCombinedTimestepSizeEmbeddings`` without size terms) for the scale/shift of its
res-blocks, and the output norm gets its own (2·C) with a ``scale_shift_table``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..blocks.ltx_video_vae_resample import LTXVideoDownsample, LTXVideoUpsample
from ..blocks.ltx_video_vae_resnet import LTXVideoVAEResBlock, pixel_norm
from ..conv.causal import CausalConv3d
from ..embed.timestep import TimestepEmbedding


def _embedder(dim: int, factory: dict) -> TimestepEmbedding:
    """sinusoid(t) (256, [cos | sin]) -> Linear–SiLU–Linear -> ``dim`` (PyTorch's default init, as diffusers')."""
    return TimestepEmbedding(dim, 256, flavour="unet", **factory)


class _Down(nn.Module):
    """An encoder level: ``resnets``, an optional ``downsamplers[0]``, an optional widening ``conv_out`` res-block.

    ``kind`` None: 0.9.0's level (a strided 3×3×3 causal conv, then ``conv_out`` to the next width); else 0.9.5's
    (``LTXVideo095DownBlock3D``): the down-sampler itself widens, a strided conv (``"conv"``, no widening) or
    ``block/ltx_video_vae_downsample`` (``"spatial"``, ``"temporal"``, ``"spatiotemporal"``)."""

    def __init__(self, cin: int, cout: int, layers: int, scale: bool, kind: str | None, eps: float, causal: bool,
                 factory: dict) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(LTXVideoVAEResBlock(cin, eps=eps, causal=causal, **factory)
                                     for _ in range(layers))
        down = None
        if scale and kind in (None, "conv"):
            down = CausalConv3d(cin, cin, 3, stride=2, pad_mode="replicate", causal=causal, **factory)
        elif scale:
            down = LTXVideoDownsample(cin, cout, kind=kind, causal=causal, **factory)
        self.downsamplers = None if down is None else nn.ModuleList([down])
        widen = kind is None and cin != cout
        self.conv_out = LTXVideoVAEResBlock(cin, cout, eps=eps, causal=causal, **factory) if widen else None

    def forward(self, x: Tensor) -> Tensor:
        for resnet in self.resnets:
            x = resnet(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
        return x if self.conv_out is None else self.conv_out(x)


class _Mid(nn.Module):
    """``resnets`` with, under timestep conditioning, the level's own ``time_embedder`` (t -> 4·C)."""

    def __init__(self, channels: int, layers: int, eps: float, causal: bool, noise: bool, timestep: bool,
                 factory: dict) -> None:
        super().__init__()
        self.time_embedder = _embedder(4 * channels, factory) if timestep else None
        self.resnets = nn.ModuleList(
            LTXVideoVAEResBlock(channels, eps=eps, causal=causal, inject_noise=noise, timestep_conditioning=timestep,
                                **factory) for _ in range(layers))

    def embed(self, t: Tensor | None, dtype: torch.dtype) -> Tensor | None:
        return None if self.time_embedder is None else self.time_embedder(t.flatten()).to(dtype)

    def forward(self, x: Tensor, t: Tensor | None, generator: torch.Generator | None) -> Tensor:
        temb = self.embed(t, x.dtype)
        for resnet in self.resnets:
            x = resnet(x, temb, generator)
        return x


class _Up(_Mid):
    """A decoder level: an optional widening ``conv_in`` res-block, an optional ``upsamplers[0]``, ``resnets``."""

    def __init__(self, cin: int, cout: int, layers: int, scale: bool, eps: float, causal: bool, noise: bool,
                 timestep: bool, residual: bool, upscale: int, factory: dict) -> None:
        super().__init__(cout, layers, eps, causal, noise, timestep, factory)
        self.conv_in = None if cin == cout else LTXVideoVAEResBlock(cin, cout, eps=eps, causal=causal, **factory)
        self.upsamplers = None if not scale else nn.ModuleList([
            LTXVideoUpsample(cout * upscale, upscale_factor=upscale, residual=residual, causal=causal, **factory)])

    def forward(self, x: Tensor, t: Tensor | None, generator: torch.Generator | None) -> Tensor:
        if self.conv_in is not None:
            x = self.conv_in(x)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return super().forward(x, t, generator)


class LTXVideoEncoder(nn.Module):
    """Patchified video ``(B, C·p², T, H/p, W/p)`` -> moments ``(B, z + 1, T', H/f, W/f)`` (z means, one log-var).

    ``kinds`` None: 0.9.0's levels, one per width (the last keeps its width); else 0.9.5's, one per width after the
    first, each ending in a down-sampler of that kind (``_Down``)."""

    def __init__(self, cin: int, z: int, widths: Sequence[int], layers: Sequence[int], scaling: Sequence[bool],
                 kinds: Sequence[str] | None, eps: float, causal: bool, factory: dict) -> None:
        super().__init__()
        self.conv_in = CausalConv3d(cin, widths[0], 3, pad_mode="replicate", causal=causal, **factory)
        levels, width = [], widths[0]
        for i, scale in enumerate(scaling):
            out = widths[i + 1] if i + 1 < len(widths) else widths[i]
            kind = None if kinds is None else kinds[i]
            levels.append(_Down(width, out, layers[i], scale, kind, eps, causal, factory))
            width = out
        self.down_blocks = nn.ModuleList(levels)
        self.mid_block = _Mid(width, layers[-1], eps, causal, False, False, factory)
        self.conv_out = CausalConv3d(width, z + 1, 3, pad_mode="replicate", causal=causal, **factory)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv_in(x)
        for level in self.down_blocks:
            x = level(x)
        x = self.mid_block(x, None, None)
        return self.conv_out(F.silu(pixel_norm(x)))


class LTXVideoDecoder(nn.Module):
    """Latents ``(B, z, T, h, w)`` [, t ``(B,)``] -> patchified video ``(B, C·p², 1 + f_t(T − 1), h·f/p, w·f/p)``.

    ``widths`` / ``layers`` / ``scaling`` / ``noise`` / ``residual`` / ``upscale`` are given encoder-side (finest
    level first, as diffusers' config) and read coarsest first here; ``layers`` and ``noise`` have one more entry than
    the levels (the mid block's is first once reversed).
    """

    def __init__(self, z: int, cout: int, widths: Sequence[int], layers: Sequence[int], scaling: Sequence[bool],
                 noise: Sequence[bool], residual: Sequence[bool], upscale: Sequence[int], timestep: bool,
                 eps: float, causal: bool, factory: dict) -> None:
        super().__init__()
        widths, layers, scaling = widths[::-1], layers[::-1], scaling[::-1]
        noise, residual, upscale = noise[::-1], residual[::-1], upscale[::-1]
        width = widths[0]
        self.conv_in = CausalConv3d(z, width, 3, pad_mode="replicate", causal=causal, **factory)
        self.mid_block = _Mid(width, layers[0], eps, causal, noise[0], timestep, factory)
        levels = []
        for i, out in enumerate(widths):
            cin, out = width // upscale[i], out // upscale[i]
            levels.append(_Up(cin, out, layers[i + 1], scaling[i], eps, causal, noise[i + 1], timestep, residual[i],
                              upscale[i], factory))
            width = out
        self.up_blocks = nn.ModuleList(levels)
        self.conv_out = CausalConv3d(width, cout, 3, pad_mode="replicate", causal=causal, **factory)
        self.time_embedder = self.scale_shift_table = self.timestep_scale_multiplier = None
        if timestep:
            self.timestep_scale_multiplier = nn.Parameter(torch.tensor(1000.0, **factory))
            self.time_embedder = _embedder(2 * width, factory)
            self.scale_shift_table = nn.Parameter(torch.randn(2, width, **factory) / width ** 0.5)

    def forward(self, z: Tensor, t: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        x = self.conv_in(z)
        if self.timestep_scale_multiplier is not None:
            t = t * self.timestep_scale_multiplier
        x = self.mid_block(x, t, generator)
        for level in self.up_blocks:
            x = level(x, t, generator)
        x = pixel_norm(x)
        if self.time_embedder is not None:
            # b (two c) -> b two c 1 1 1: (shift, scale)
            mod = self.time_embedder(t.flatten()).to(x.dtype).view(x.shape[0], 2, -1, 1, 1, 1)
            shift, scale = (mod + self.scale_shift_table[None, :, :, None, None, None]).unbind(dim=1)
            x = x * (1 + scale) + shift
        return self.conv_out(F.silu(x))
