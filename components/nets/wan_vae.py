"""``net/wan_vae``: Wan's causal 3-D VAE (Wan 2.1: 4×8×8, 16 latent channels; Wan 2.2: 4×16×16, 48 channels).

A KL autoencoder whose every temporal operation is causal, so the first frame is encoded alone (an image) and each
further group of ``f_t`` frames adds one latent frame: ``(B, C, 1 + f_t·k, H, W) -> (B, z, 1 + k, H/f, W/f)``.
Both halves stream: the encoder takes the first frame, then ``f_t`` frames at a time, the decoder one latent frame
at a time, through a ``FeatureCache`` that holds what each causal layer needs from the previous chunk, so memory is
bounded by the chunk; ``chunked=False`` runs the clip in one shot with the same result. Wan 2.2 adds residual
shortcuts around every resampling stage (``residual=True``) and a 2×2 patchify of the pixels (``patch_size=2``).
The decoder output is clamped to [−1, 1]; latents are raw: the per-channel latent mean/std normalisation is the
recipe's (zoo/recipes/autoencoders.py ``WAN21_LATENTS_MEAN`` …). [Paper: Wan Team 2025, "Wan: Open and Advanced
Large-Scale Video Generative Models" §3.1 (Wan-VAE); V-code: diffusers autoencoder_kl_wan.py ``AutoencoderKLWan``]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..attention.configure import configure_attention
from ..checks import check_video
from ..conv.causal import CausalConv3d
from ..conv.feature_cache import FeatureCache
from ..examples import video_inputs
from ..registry import BadInput, register
from .autoencoder_parts import PosteriorEncoder, check_causal_clip
from .wan_vae_parts import WanCausalDecoder, WanCausalEncoder, patchify, unpatchify
from .wan_vae_tiling import tiled_decode


TINY = dict(latent_channels=4, base_channels=8, channel_mults=(1, 2), num_res_blocks=1, temporal_downsample=(True,))


def _bad(frames: int, height: int = 8):
    return lambda cfg: ((torch.zeros(1, 3, frames, height, 8),), {})


@register(
    "net", "wan_vae", paper="Wan Team 2025 (Wan 2.1 §3.1 Wan-VAE; Wan 2.2 VAE)", tiny=TINY, inputs=video_inputs(3),
    frames=(1, 3, 5), tolerance={"bfloat16": 4e-2, "float16": 2e-2},
    bad_inputs=[
        BadInput(match="B C T H W", inputs=lambda cfg: ((torch.zeros(1, 3, 8, 8),), {}), why="a 4-D image"),
        BadInput(match="channels", inputs=lambda cfg: ((torch.zeros(1, 4, 1, 8, 8),), {}), why="wrong channels"),
        BadInput(match="x frames must be 1 \\+ 2·k", inputs=_bad(2), why="frames not 1 + f_t·k"),
        BadInput(match="height=7 must be divisible", inputs=_bad(1, 7), why="H not divisible by the spatial factor"),
        BadInput(match="temporal_downsample", init={"temporal_downsample": (True, True)}, why="one flag per level"),
    ],
)
class WanCausalVAE(PosteriorEncoder, nn.Module):
    """Causal video VAE ``(B, C, 1 + f_t·k, H, W) -> latents (B, z, 1 + k, H/f, W/f) -> (B, C_out, …)``.

    ``f = 2^(levels − 1) · patch_size`` (``spatial_factor``), ``f_t = 2^(number of temporal levels)``
    (``temporal_factor``).

    Args:
        in_channels, out_channels: video channels (RGB: 3; out defaults to in), before patchify.
        latent_channels: z (Wan 2.1: 16, Wan 2.2: 48); the encoder predicts a mean and a log-variance for each.
        base_channels, decoder_base_channels: level-0 widths of the encoder and decoder (Wan 2.1: 96 and 96;
            Wan 2.2: 160 and 256); channel_mults: the level multipliers ((1, 2, 4, 4)).
        num_res_blocks: res-blocks per encoder level (decoder: one more).
        temporal_downsample: per level but the last, whether it also halves time (Wan: (False, True, True));
            the decoder mirrors it.
        residual: Wan 2.2's parameter-free shortcuts around each resampling stage.
        patch_size: pixels folded into channels before the encoder and unfolded after the decoder (Wan 2.2: 2).
        dropout: in the res-blocks (Wan: 0).
        attention_backend: pin this ``attention_backend/<name>`` on the mid-block attentions (None: ``"auto"``).
        frame_attention, frame_attention_kwargs: swap their ``attention/spatial`` for a frame-wise variant (what
            ``swap_spatial_attention`` on a built autoencoder records; no recipe does).
    """

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, latent_channels: int = 16, *,
                 base_channels: int = 96, decoder_base_channels: int | None = None,
                 channel_mults: Sequence[int] = (1, 2, 4, 4), num_res_blocks: int = 2,
                 temporal_downsample: Sequence[bool] = (False, True, True), residual: bool = False,
                 patch_size: int = 1, dropout: float = 0.0, attention_backend: str | None = None,
                 frame_attention: str | None = None, frame_attention_kwargs: dict | None = None, device=None,
                 dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        if len(temporal_downsample) != len(channel_mults) - 1:
            raise ValueError(f"{where}: temporal_downsample needs one flag per level but the last "
                             f"({len(channel_mults) - 1}), got {tuple(temporal_downsample)}")
        if patch_size < 1:
            raise ValueError(f"{where}: patch_size must be >= 1, got {patch_size}")
        factory = {"device": device, "dtype": dtype}
        out_channels = in_channels if out_channels is None else out_channels
        decoder_base_channels = base_channels if decoder_base_channels is None else decoder_base_channels
        self.in_channels, self.out_channels, self.latent_channels = in_channels, out_channels, latent_channels
        self.patch_size = patch_size
        self.spatial_factor = 2 ** (len(channel_mults) - 1) * patch_size
        self.temporal_factor = 2 ** sum(bool(t) for t in temporal_downsample)
        common = dict(num_res_blocks=num_res_blocks, residual=residual, dropout=dropout, **factory)
        self.encoder = WanCausalEncoder(in_channels * patch_size ** 2, 2 * latent_channels, base_channels,
                                        channel_mults, temporal_downsample=temporal_downsample, **common)
        self.quant_conv = CausalConv3d(2 * latent_channels, 2 * latent_channels, 1, **factory)
        self.post_quant_conv = CausalConv3d(latent_channels, latent_channels, 1, **factory)
        self.decoder = WanCausalDecoder(latent_channels, out_channels * patch_size ** 2, decoder_base_channels,
                                        channel_mults, temporal_upsample=tuple(temporal_downsample)[::-1], **common)
        configure_attention(self, attention_backend=attention_backend, frame_attention=frame_attention,
                            frame_attention_kwargs=frame_attention_kwargs)

    def encode_moments(self, x: Tensor, *, chunked: bool = True) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance (clamped to [−30, 20]), each ``(B, z, 1 + (T − 1)/f_t, H/f, W/f)``.

        ``chunked``: stream the first frame, then ``f_t`` frames at a time (diffusers' ``_encode``); else one shot.
        """
        where, f_t = type(self).__name__, self.temporal_factor
        check_causal_clip(x, self.in_channels, f_t, self.spatial_factor, where)
        x = patchify(x, self.patch_size)
        if chunked:
            cache = FeatureCache()
            bounds = [0, 1, *range(1 + f_t, x.shape[2] + 1, f_t)]
            h = torch.cat([self.encoder(x[:, :, a:b], cache) for a, b in zip(bounds, bounds[1:])], dim=2)
        else:
            h = self.encoder(x)
        mean, logvar = self.quant_conv(h).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)


    def _decode_patches(self, z: Tensor, chunked: bool) -> Tensor:
        """Raw latents -> the decoder's (patchified, unclamped) output, one latent frame at a time if ``chunked``."""
        x = self.post_quant_conv(z)
        if not chunked:
            return self.decoder(x)
        cache = FeatureCache()
        return torch.cat([self.decoder(x[:, :, i:i + 1], cache) for i in range(x.shape[2])], dim=2)

    def decode(self, z: Tensor, *, chunked: bool = True, tiled: bool = False,
               tile_size: int | tuple[int, int] = 256, tile_stride: int | tuple[int, int] = 192) -> Tensor:
        """``(B, z, T, h, w) -> (B, C_out, 1 + f_t(T − 1), h·f, w·f)``, clamped to [−1, 1]; T = 1 decodes an image.

        ``chunked``: one latent frame at a time (diffusers' ``_decode``); else one shot, same result.
        ``tiled``: decode overlapping spatial tiles of ``tile_size`` pixels every ``tile_stride`` pixels and blend
        them (``wan_vae_tiling.py``; diffusers' ``enable_tiling`` defaults 256 / 192), memory bounded by a tile.
        """
        check_video(z, "z", channels=self.latent_channels, where=type(self).__name__)
        if tiled:
            out = tiled_decode(lambda tile: self._decode_patches(tile, chunked), z,
                               spatial_factor=self.spatial_factor, patch_size=self.patch_size, tile_size=tile_size,
                               tile_stride=tile_stride)
        else:
            out = self._decode_patches(z, chunked)
        return unpatchify(out, self.patch_size).clamp(-1.0, 1.0)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))
