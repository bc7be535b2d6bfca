"""``net/cogvideox_vae``: CogVideoX's 3-D causal VAE (4×8×8, 16 latent channels; frames 1 + 4k, published 8N + 1).

Yang et al. 2024 (CogVideoX §2.1) [V-code: diffusers autoencoder_kl_cogvideox.py ``AutoencoderKLCogVideoX``,
``CogVideoXEncoder3D``, ``CogVideoXDecoder3D``]. A KL autoencoder built from ``conv/causal_temporal`` (first frame
replicated in front) and ``block/cogvideox_vae_resnet``::

    encoder: conv_in -> [res × L, down (time on the first log₂ f_t levels)] per level -> res × 2 -> GN, SiLU, conv_out
    decoder: conv_in -> res × 2 -> [res × (L + 1), up] per level -> spatial norm, SiLU, conv_out   (norms conditioned
             on the latents z, ``SpatialNorm3d``)

**Frame batches.** The published model runs a clip in chunks — 8 frames into the encoder (the first chunk takes the
remainder: 9 frames for 8N + 1), 2 latent frames into the decoder (the first takes the remainder) — and its GroupNorms
normalise each chunk on its own, so the chunking is part of the model's function; the causal convolutions carry the
frames before a chunk in a ``FeatureCache``. ``encode_frames`` / ``decode_frames`` are those sizes. Frames are
``1 + 2·f_t·N`` (8N + 1, as published): they give ``2N + 1`` latents (49 -> 13), and an odd latent count is what
decodes back to ``1 + f_t(T − 1)`` frames in those batches (an even one gives ``f_t·T``), so both are checked. The
decoder is not clamped (diffusers' is not). Latents are raw: the scaling factor is the recipe's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..blocks.cogvideox_vae_resample import CogVideoXDownsample, CogVideoXUpsample
from ..blocks.cogvideox_vae_resnet import CogVideoXVAEResBlock, SpatialNorm3d
from ..checks import check_divisible, check_video
from ..conv.causal import CausalConv3d
from ..conv.feature_cache import FeatureCache
from ..examples import video_inputs
from ..registry import BadInput, register
from .autoencoder_parts import PosteriorEncoder


TINY = dict(latent_channels=4, block_channels=(8, 16), layers_per_block=1, groups=4, temporal_factor=2)


class _Level(nn.Module):
    """One encoder / decoder level: res-blocks then an optional resampler (diffusers' names)."""

    def __init__(self, resnets: list[nn.Module], resampler: nn.Module | None, name: str) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(resnets)
        self.name = name
        setattr(self, name, None if resampler is None else nn.ModuleList([resampler]))

    def forward(self, x: Tensor, z: Tensor | None, cache: FeatureCache | None) -> Tensor:
        for res in self.resnets:
            x = res(x, z, cache)
        resampler = getattr(self, self.name)
        return x if resampler is None else resampler[0](x)


class _Mid(nn.Module):
    def __init__(self, resnets: list[nn.Module]) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(resnets)

    def forward(self, x: Tensor, z: Tensor | None, cache: FeatureCache | None) -> Tensor:
        for res in self.resnets:
            x = res(x, z, cache)
        return x


class CogVideoXEncoder(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, widths: Sequence[int], layers: int, groups: int,
                 time_levels: int, factory: dict) -> None:
        super().__init__()
        self.conv_in = CausalConv3d(in_channels, widths[0], 3, pad_mode="replicate", **factory)
        blocks, width = [], widths[0]
        for i, out in enumerate(widths):
            last = i == len(widths) - 1
            res = [CogVideoXVAEResBlock(width if j == 0 else out, out, groups=groups, **factory) for j in range(layers)]
            down = None if last else CogVideoXDownsample(out, out, compress_time=i < time_levels, **factory)
            blocks.append(_Level(res, down, "downsamplers"))
            width = out
        self.down_blocks = nn.ModuleList(blocks)
        self.mid_block = _Mid([CogVideoXVAEResBlock(width, groups=groups, **factory) for _ in range(2)])
        self.norm_out = nn.GroupNorm(groups, width, eps=1e-6, **factory)
        self.conv_out = CausalConv3d(width, out_channels, 3, pad_mode="replicate", **factory)

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        x = self.conv_in(x, cache)
        for block in self.down_blocks:
            x = block(x, None, cache)
        x = self.mid_block(x, None, cache)
        return self.conv_out(F.silu(self.norm_out(x)), cache)


class CogVideoXDecoder(nn.Module):
    def __init__(self, z_channels: int, out_channels: int, widths: Sequence[int], layers: int, groups: int,
                 time_levels: int, factory: dict) -> None:
        super().__init__()
        widths = list(widths)[::-1]
        spatial = dict(groups=groups, z_channels=z_channels, **factory)
        self.conv_in = CausalConv3d(z_channels, widths[0], 3, pad_mode="replicate", **factory)
        self.mid_block = _Mid([CogVideoXVAEResBlock(widths[0], **spatial) for _ in range(2)])
        blocks, width = [], widths[0]
        for i, out in enumerate(widths):
            last = i == len(widths) - 1
            res = [CogVideoXVAEResBlock(width if j == 0 else out, out, **spatial) for j in range(layers + 1)]
            up = None if last else CogVideoXUpsample(out, out, compress_time=i < time_levels, **factory)
            blocks.append(_Level(res, up, "upsamplers"))
            width = out
        self.up_blocks = nn.ModuleList(blocks)
        self.norm_out = SpatialNorm3d(width, z_channels, groups, **factory)
        self.conv_out = CausalConv3d(width, out_channels, 3, pad_mode="replicate", **factory)

    def forward(self, z: Tensor, cache: FeatureCache | None = None) -> Tensor:
        x = self.mid_block(self.conv_in(z, cache), z, cache)
        for block in self.up_blocks:
            x = block(x, z, cache)
        return self.conv_out(F.silu(self.norm_out(x, z)), cache)


def frame_batches(frames: int, size: int) -> list[tuple[int, int]]:
    """diffusers' ``_encode`` / ``_decode`` chunks of a clip: ``max(frames // size, 1)`` batches of ``size`` frames,
    the first also taking the remainder ``frames % size``."""
    rest = frames % size
    return [(0 if i == 0 else size * i + rest, min(size * (i + 1) + rest, frames))
            for i in range(max(frames // size, 1))]


def _bad(frames: int, height: int = 8):
    return lambda cfg: ((torch.zeros(1, 3, frames, height, 8),), {})


@register(
    "net", "cogvideox_vae", paper="Yang et al. 2024 (CogVideoX §2.1 3D causal VAE)", tiny=TINY,
    inputs=video_inputs(3), frames=(1, 5, 9), tolerance={"bfloat16": 4e-2, "float16": 2e-2},
    bad_inputs=[
        BadInput(match="B C T H W", inputs=lambda cfg: ((torch.zeros(1, 3, 8, 8),), {}), why="a 4-D image"),
        BadInput(match="x frames must be 1 \\+ 4·N", inputs=_bad(3), why="frames not 1 + 2·f_t·N"),
        BadInput(match="height=7 must be divisible", inputs=_bad(1, 7), why="H not divisible by the spatial factor"),
        BadInput(match="temporal_factor", init={"temporal_factor": 3}, why="not a power of two"),
    ],
)
class CogVideoXVAE(PosteriorEncoder, nn.Module):
    """Causal video VAE ``(B, 3, 1 + f_t·k, H, W) -> latents (B, z, …, H/f, W/f) -> (B, 3, …)`` (see the module
    docstring); ``f = 2^(levels − 1)`` (``spatial_factor``), ``f_t`` = ``temporal_factor``.

    Args:
        in_channels, out_channels: video channels (3; out defaults to in).
        latent_channels: z (16); the encoder predicts a mean and a log-variance for each.
        block_channels: per-level widths ((128, 256, 256, 512)); layers_per_block: encoder res-blocks per level (3;
            decoder one more); groups: GroupNorm groups (32).
        temporal_factor: 4 (time halved on the first log₂ 4 = 2 levels).
        encode_frames, decode_frames: frame-batch sizes (8 frames, 2 latent frames).
    """

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, latent_channels: int = 16, *,
                 block_channels: Sequence[int] = (128, 256, 256, 512), layers_per_block: int = 3, groups: int = 32,
                 temporal_factor: int = 4, encode_frames: int = 8, decode_frames: int = 2, device=None,
                 dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        levels = int(math.log2(temporal_factor)) if temporal_factor > 0 else -1
        if temporal_factor < 1 or 2 ** levels != temporal_factor or levels > len(block_channels) - 1:
            raise ValueError(f"{where}: temporal_factor must be a power of two ≤ 2^(levels − 1) = "
                             f"{2 ** (len(block_channels) - 1)}, got {temporal_factor}")
        factory = {"device": device, "dtype": dtype}
        self.in_channels, self.out_channels = in_channels, out_channels or in_channels
        self.latent_channels, self.encode_frames, self.decode_frames = latent_channels, encode_frames, decode_frames
        self.spatial_factor, self.temporal_factor = 2 ** (len(block_channels) - 1), temporal_factor
        self.encoder = CogVideoXEncoder(in_channels, 2 * latent_channels, block_channels, layers_per_block, groups,
                                        levels, factory)
        self.decoder = CogVideoXDecoder(latent_channels, self.out_channels, block_channels, layers_per_block, groups,
                                        levels, factory)

    def encode_moments(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance (clamped to [−30, 20]), each ``(B, z, 1 + (T − 1)/f_t, H/f, W/f)``, the clip
        run in frame batches of ``encode_frames``."""
        where, f_t = type(self).__name__, self.temporal_factor
        check_video(x, channels=self.in_channels, where=where)
        if (x.shape[2] - 1) % (2 * f_t):
            raise ValueError(f"{where}: x frames must be 1 + {2 * f_t}·N (the causal first frame, then pairs of "
                             f"groups of the temporal factor {f_t}, so the latents 1 + 2N decode back in CogVideoX's "
                             f"frame batches; published 8N + 1), got {x.shape[2]}")
        check_divisible("height", x.shape[3], self.spatial_factor, "spatial_factor", where=where)
        check_divisible("width", x.shape[4], self.spatial_factor, "spatial_factor", where=where)
        cache = FeatureCache()
        h = torch.cat([self.encoder(x[:, :, a:b], cache) for a, b in frame_batches(x.shape[2], self.encode_frames)],
                      dim=2)
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)


    def decode(self, z: Tensor) -> Tensor:
        """``(B, z, T, h, w) -> (B, C_out, 1 + f_t(T − 1), h·f, w·f)`` (for the published batching), in frame batches
        of ``decode_frames`` latent frames; not clamped."""
        check_video(z, "z", channels=self.latent_channels, where=type(self).__name__)
        if z.shape[2] % 2 == 0:
            raise ValueError(f"{type(self).__name__}: z frames must be odd, 1 + 2N (an even count decodes to "
                             f"{self.temporal_factor}·T frames, not a causal clip, in CogVideoX's batches of "
                             f"{self.decode_frames}), got {z.shape[2]}")
        cache = FeatureCache()
        return torch.cat([self.decoder(z[:, :, a:b], cache) for a, b in frame_batches(z.shape[2], self.decode_frames)],
                         dim=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))
