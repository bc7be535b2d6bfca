"""``net/mochi_vae``: Mochi 1's asymmetric causal video VAE (6×8×8, 12 latent channels; frames 1 + 6k).

Genmo 2024 (Mochi 1 preview) [V-code: diffusers autoencoder_kl_mochi.py ``AutoencoderKLMochi``, ``MochiEncoder3D``,
``MochiDecoder3D``]. A KL autoencoder over ``conv/causal_temporal`` (first frame and border pixels replicated) with
per-frame GroupNorms (``mochi_vae_parts.py``)::

    encoder: Fourier features (3 -> 15) -> Linear -> res × L₀ -> [down (s_t, 2), (res, attn) × Lᵢ] × 3
             -> (res, attn) × L₄ -> GN, SiLU, Linear (no bias) -> (mean, log-variance)
    decoder: 1×1 conv -> res × L₄ -> [res × Lᵢ, Linear + depth-to-space (s_t, 2)] × 3 -> res × L₀ -> SiLU, Linear
             -> drop the first f_t − 1 frames

with widths 64…384 (encoder) and 768…128 (decoder), ``layers_per_block`` (3, 3, 4, 6, 3) and the time factors (1, 2,
3): ``1 + 6k`` frames give ``1 + k`` latents, and ``T`` latents decode to ``6T`` frames of which diffusers drops the
first 5 (``drop_last_temporal_frames``) -> ``1 + 6(T − 1)``. The encoder's attention runs over time per pixel, causally.

The whole clip runs one-shot (diffusers' default: its frame-wise decoding switches the convs to another padding and
its tiling is off); the per-frame GroupNorms and causal layers make chunked runs possible later. Latents are raw: the
per-channel ``latents_mean`` / ``latents_std`` normalisation is the recipe's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attention.configure import configure_attention
from ..blocks.resnet import frame_group_norm
from ..checks import check_video
from ..examples import video_inputs
from ..registry import BadInput, register
from .autoencoder_parts import PosteriorEncoder, check_causal_clip
from .mochi_vae_parts import MochiVAEStage, fourier_features


TINY = dict(latent_channels=4, encoder_channels=(8, 8, 8, 8), decoder_channels=(8, 8, 8, 8),
            layers_per_block=(1, 1, 1, 1, 1), groups=4, attention_head_dim=4)


class MochiEncoder(nn.Module):
    def __init__(self, in_channels: int, latent_channels: int, widths: Sequence[int], layers: Sequence[int],
                 time: Sequence[int], space: Sequence[int], attention: Sequence[bool], groups: int, head_dim: int,
                 factory: dict) -> None:
        super().__init__()
        self.proj_in = nn.Linear(5 * in_channels, widths[0], **factory)
        stage = dict(groups=groups, head_dim=head_dim, factory=factory)
        self.block_in = MochiVAEStage(widths[0], layers[0], attention=attention[0], **stage)
        self.down_blocks = nn.ModuleList(
            MochiVAEStage(widths[i + 1], layers[i + 1], attention=attention[i + 1], in_channels=widths[i],
                          down=(time[i], space[i]), **stage) for i in range(len(widths) - 1))
        self.block_out = MochiVAEStage(widths[-1], layers[-1], attention=attention[-1], **stage)
        self.norm_out = nn.GroupNorm(groups, widths[-1], **factory)
        self.proj_out = nn.Linear(widths[-1], 2 * latent_channels, bias=False, **factory)

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj_in(fourier_features(x).movedim(1, -1)).movedim(-1, 1)
        x = self.block_in(x)
        for down in self.down_blocks:
            x = down(x)
        x = self.block_out(x)
        x = F.silu(frame_group_norm(self.norm_out, x))
        return self.proj_out(x.movedim(1, -1)).movedim(-1, 1)  # b c t h w -> b t h w c -> back


class MochiDecoder(nn.Module):
    def __init__(self, latent_channels: int, out_channels: int, widths: Sequence[int], layers: Sequence[int],
                 time: Sequence[int], space: Sequence[int], groups: int, factory: dict) -> None:
        super().__init__()
        n = len(widths)
        self.conv_in = nn.Conv3d(latent_channels, widths[-1], 1, **factory)
        stage = dict(groups=groups, factory=factory)
        self.block_in = MochiVAEStage(widths[-1], layers[-1], **stage)
        self.up_blocks = nn.ModuleList(
            MochiVAEStage(widths[-i - 1], layers[-i - 2], out_channels=widths[-i - 2], up=(time[-i - 1], space[-i - 1]),
                          **stage) for i in range(n - 1))
        self.block_out = MochiVAEStage(widths[0], layers[0], **stage)
        self.proj_out = nn.Linear(widths[0], out_channels, **factory)

    def forward(self, z: Tensor) -> Tensor:
        x = self.block_in(self.conv_in(z))
        for up in self.up_blocks:
            x = up(x)
        return self.proj_out(F.silu(self.block_out(x)).movedim(1, -1)).movedim(-1, 1)


@register(
    "net", "mochi_vae", paper="Genmo 2024 (Mochi 1 preview) asymmetric causal video VAE", tiny=TINY,
    inputs=video_inputs(3, (8, 8)), frames=(1, 7),
    output_shape=lambda cfg, x, *a, **k: (x.shape[0], 3, *x.shape[2:]),
    # fp16 / bf16 are left out: the encoder's Fourier features sin(2π·128·x) turn the input's own fp16 rounding into
    # phase errors — encoding the fp16-rounded clip entirely in fp32 is already 0.20 relative L2 off (the decoder
    # alone in fp16: 8e-4) [ours, measured on the tiny config]; diffusers computes them from the same rounded input
    dtypes=("float32",),
    bad_inputs=[
        BadInput(match="frames must be 1 \\+ 6", inputs=lambda cfg: ((torch.zeros(1, 3, 2, 8, 8),), {}),
                 why="a frame count the causal VAE cannot take"),
        BadInput(match="height=6 must be divisible", inputs=lambda cfg: ((torch.zeros(1, 3, 1, 6, 8),), {}),
                 why="a size not a multiple of the spatial factor"),
        BadInput(match="one value per level", init={"temporal_expansions": (1, 2)}),
    ],
)
class MochiVAE(PosteriorEncoder, nn.Module):
    """Mochi's causal VAE: ``encode`` ``(B, 3, 1 + 6k, H, W) -> (B, 12, 1 + k, H/8, W/8)``, ``decode`` back (module
    docstring); ``forward`` is decode(encode(x)).

    Args:
        in_channels, out_channels, latent_channels: 3, 3 (default in), 12.
        encoder_channels, decoder_channels: widths per level ((64, 128, 256, 384), (128, 256, 512, 768)).
        layers_per_block: res-blocks of the input stage, the 3 resampling stages and the output stage
            ((3, 3, 4, 6, 3); the decoder reads them mirrored).
        temporal_expansions, spatial_expansions: the factors of the 3 resampling stages ((1, 2, 3), (2, 2, 2)).
        add_attention_block: encoder stages with attention ((False, True, True, True, True)).
        groups: GroupNorm groups (32); attention_head_dim: channels per attention head (32).
        attention_backend: pin this ``attention_backend/<name>`` on the encoder attentions (None: ``"auto"``).
    """

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, latent_channels: int = 12, *,
                 encoder_channels: Sequence[int] = (64, 128, 256, 384),
                 decoder_channels: Sequence[int] = (128, 256, 512, 768),
                 layers_per_block: Sequence[int] = (3, 3, 4, 6, 3), temporal_expansions: Sequence[int] = (1, 2, 3),
                 spatial_expansions: Sequence[int] = (2, 2, 2),
                 add_attention_block: Sequence[bool] = (False, True, True, True, True), groups: int = 32,
                 attention_head_dim: int = 32, attention_backend: str | None = None, device=None,
                 dtype=None) -> None:
        super().__init__()
        where, levels = type(self).__name__, len(encoder_channels)
        counts = {"decoder_channels": len(decoder_channels), "temporal_expansions": len(temporal_expansions) + 1,
                  "spatial_expansions": len(spatial_expansions) + 1, "layers_per_block": len(layers_per_block) - 1,
                  "add_attention_block": len(add_attention_block) - 1}
        wrong = {k: v for k, v in counts.items() if v != levels}
        if wrong:
            raise ValueError(f"{where}: one value per level: {levels} widths need {levels - 1} temporal / spatial "
                             f"expansions and {levels + 1} layers_per_block / add_attention_block entries, got "
                             f"temporal_expansions={tuple(temporal_expansions)}, spatial_expansions="
                             f"{tuple(spatial_expansions)}, layers_per_block={tuple(layers_per_block)}, "
                             f"add_attention_block={tuple(add_attention_block)}, decoder_channels="
                             f"{tuple(decoder_channels)}")
        factory = {"device": device, "dtype": dtype}
        self.in_channels, self.out_channels = in_channels, out_channels or in_channels
        self.latent_channels = latent_channels
        self.temporal_factor = math.prod(temporal_expansions)
        self.spatial_factor = math.prod(spatial_expansions)
        self.encoder = MochiEncoder(in_channels, latent_channels, encoder_channels, layers_per_block,
                                    temporal_expansions, spatial_expansions, add_attention_block, groups,
                                    attention_head_dim, factory)
        self.decoder = MochiDecoder(latent_channels, self.out_channels, decoder_channels, layers_per_block,
                                    temporal_expansions, spatial_expansions, groups, factory)
        configure_attention(self, attention_backend=attention_backend)

    def encode_moments(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance (clamped to [−30, 20]), each ``(B, z, 1 + (T − 1)/f_t, H/f, W/f)``."""
        where, f_t = type(self).__name__, self.temporal_factor
        check_causal_clip(x, self.in_channels, f_t, self.spatial_factor, where)
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: Tensor) -> Tensor:
        """``(B, z, T, h, w) -> (B, C_out, 1 + f_t(T − 1), h·f, w·f)``: ``f_t·T`` frames, the first ``f_t − 1``
        dropped; not clamped."""
        check_video(z, "z", channels=self.latent_channels, where=type(self).__name__)
        return self.decoder(z)[:, :, self.temporal_factor - 1:]

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))
