"""``net/ltx_video_vae``: LTX-Video's video VAE, 1:192 compression (32×32 pixels × 8 frames -> 128 channels).

HaCohen et al. 2024 (LTX-Video: Realtime Video Latent Diffusion, arXiv 2501.00103, §2.1 "Video VAE", §2.2 "the
decoder as the last denoising step") [V-code: diffusers autoencoder_kl_ltx.py ``AutoencoderKLLTXVideo``; config
defaults = LTX-Video 0.9.0, scripts/convert_ltx_to_diffusers.py ``get_vae_config("0.9.1")`` = the timestep-conditioned
decoder, ``get_vae_config("0.9.5")`` = the space-to-depth encoder]. Built from ``block/ltx_video_vae_resnet``,
``block/ltx_video_vae_upsample`` and ``block/ltx_video_vae_downsample`` over ``conv/causal_temporal``
(``ltx_video_vae_parts.py``)::

    patchify:   b c t (h p) (w p) -> b (c p_w p_h) t h w          p = patch_size = 4 (LTX's channel order: w before h)
    encoder:    (B, 3·16, 1 + 8k, H/4, W/4) -> (B, z + 1, 1 + k, H/32, W/32); causal (first frame replicated before)
    moments:    mean = h[:, :z], log σ² = h[:, z] for every channel (one shared log-variance), clamped to [−30, 20]
    decoder:    (B, z, 1 + k, h, w) [, t] -> (B, 3·16, 1 + 8k, 8h, 8w) -> unpatchify; non-causal (frames replicated at
                both ends) unless ``decoder_causal``

Spatial factor f = p · 2^(levels halving space) = 32, temporal f_t = 2^(levels halving time) = 8: frames are
``1 + 8k`` (the first frame alone, then 8 per latent frame). 0.9.5+ encoders (``downsample_type``) halve space and
time on separate levels by space-to-depth (``block/ltx_video_vae_downsample``) to the same 1:192. The pixel norms have no statistics across positions, so the encoder is causal
and frame-local up to its receptive field; the model is run one-shot (diffusers' default, no tiling).

**Decode timestep.** The 0.9.1+ decoder is conditioned on a timestep (``decode(z, timestep=)``, ``(B,)`` or a
float): LTXPipeline decodes ``(1 − s)·z + s·n`` (n ~ N(0, I), s = ``decode_noise_scale``, default = the timestep) at
``decode_timestep`` t (diffusers' default 0.0; Lightricks' inference configs for 0.9.7+ use 0.05 and 0.025), so the
decoder finishes the denoising. ``decode(z, timestep=, noise_scale=)`` does both (defaults: the net's
``decode_timestep`` 0.0 and ``decode_noise_scale`` None, the pipeline's; with them nothing is mixed). It also injects
per-channel-scaled spatial noise inside its res-blocks (``decoder_inject_noise``), drawn from ``generator`` (default
the global RNG, as diffusers).

**Latent statistics.** ``latents_mean`` / ``latents_std`` (per channel, buffers, saved with the weights as in
diffusers: LTX ships them in the checkpoint, not the config; 0 / 1 until loaded) are carried, not applied: ``encode``
and ``decode`` work on raw latents, the recipe's ``LatentSpace`` normalises ``(z − μ_c) / σ_c``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from einops import rearrange
from torch import Tensor, nn

from ..checks import check_video
from ..examples import video_inputs
from ..registry import BadInput, register
from .autoencoder_parts import PosteriorEncoder, check_causal_clip
from .ltx_video_vae_parts import LTXVideoDecoder, LTXVideoEncoder


# tiny: two levels (one scaled: f = 4·2 = 8, f_t = 2), a timestep-conditioned decoder with residual depth-to-space
TINY = dict(latent_channels=4, block_channels=(8, 16), layers_per_block=(1, 1, 1), spatio_temporal_scaling=(True, False),
            decoder_block_channels=(16, 16), decoder_layers_per_block=(1, 1, 1),
            decoder_spatio_temporal_scaling=(True, False), upsample_residual=(True, False), upsample_factor=(2, 1),
            timestep_conditioning=True)


# what a scaled encoder level halves: (time, space)
_HALVES = {"conv": (1, 1), "spatial": (0, 1), "temporal": (1, 0), "spatiotemporal": (1, 1)}


def _bad(frames: int, height: int = 8):
    return lambda cfg: ((torch.zeros(1, 3, frames, height, 8),), {})


def _tuple(value, n: int, name: str, where: str) -> tuple:
    value = tuple(value)
    if len(value) != n:
        raise ValueError(f"{where}: {name} needs {n} entries, got {len(value)}: {value}")
    return value


@register(
    "net", "ltx_video_vae", paper="HaCohen et al. 2024 (LTX-Video, arXiv 2501.00103) 1:192 video VAE", tiny=TINY,
    inputs=video_inputs(3, (8, 8), timestep=lambda cfg, f, b, g: torch.rand(b, generator=g)), frames=(1, 3, 5),
    output_shape=lambda cfg, x, *a, **k: (x.shape[0], 3, *x.shape[2:]), tolerance={"bfloat16": 4e-2, "float16": 2e-2},
    bad_inputs=[
        BadInput(match="B C T H W", inputs=lambda cfg: ((torch.zeros(1, 3, 8, 8),), {}), why="a 4-D image"),
        BadInput(match="x frames must be 1 \\+ 2·k", inputs=_bad(2), why="frames not 1 + f_t·k"),
        BadInput(match="height=12 must be divisible", inputs=_bad(1, 12), why="H not divisible by the spatial factor"),
        BadInput(match="decoder_layers_per_block needs 3", init={"decoder_layers_per_block": (1, 1)}),
        BadInput(match="must undo the encoder", init={"decoder_spatio_temporal_scaling": (False, False)},
                 why="a decoder that does not undo the encoder's compression"),
    ],
)
class LTXVideoVAE(PosteriorEncoder, nn.Module):
    """LTX-Video's VAE: ``encode`` ``(B, 3, 1 + f_t·k, H, W) -> (B, z, 1 + k, H/f, W/f)``, ``decode(z, timestep=)``
    back (module docstring); ``forward(x, timestep=)`` is decode(encode(x)).

    Args (diffusers' ``AutoencoderKLLTXVideo`` keywords in our words; defaults = LTX-Video 0.9.0):
        in_channels, out_channels, latent_channels: 3, 3 (default in), 128.
        block_channels: encoder widths per level ((128, 256, 512, 512)); layers_per_block: res-blocks per level and
            the mid block last ((4, 3, 3, 3, 4)); spatio_temporal_scaling: which levels halve T, H, W
            ((True, True, True, False)).
        decoder_block_channels, decoder_layers_per_block, decoder_spatio_temporal_scaling: the decoder's, given
            finest level first (default the encoder's; 0.9.1: (256, 512, 1024), (5, 6, 7, 8), (True, True, True)).
        decoder_inject_noise: per decoder level and the mid block last, noise injection (default none; 0.9.1:
            (True, True, True, False)); upsample_residual, upsample_factor: per level, the depth-to-space
            up-sampler's residual and width divisor (default False, 1; 0.9.1: True, 2).
        downsample_type: None: 0.9.0's encoder levels (a strided conv, then a res-block to the next width; one level
            per width); per level ``"conv"``, ``"spatial"``, ``"temporal"`` or ``"spatiotemporal"``: 0.9.5's
            (``LTXVideo095DownBlock3D``: one level per width after the first, the down-sampler widening,
            ``block/ltx_video_vae_downsample``; 0.9.5: spatial, temporal, spatiotemporal, spatiotemporal).
        timestep_conditioning: the decoder takes a timestep (0.9.1+).
        patch_size: p (4); eps: the shortcut LayerNorms' epsilon (1e-6).
        encoder_causal, decoder_causal: the convs' time padding (True, False).
        decode_timestep, decode_noise_scale: ``decode``'s defaults with ``timestep_conditioning`` (LTXPipeline's
            ``decode_timestep`` 0.0 and ``decode_noise_scale`` None = the timestep).
    """

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, latent_channels: int = 128, *,
                 block_channels: Sequence[int] = (128, 256, 512, 512),
                 layers_per_block: Sequence[int] = (4, 3, 3, 3, 4),
                 spatio_temporal_scaling: Sequence[bool] = (True, True, True, False),
                 decoder_block_channels: Sequence[int] | None = None,
                 decoder_layers_per_block: Sequence[int] | None = None,
                 decoder_spatio_temporal_scaling: Sequence[bool] | None = None,
                 decoder_inject_noise: Sequence[bool] | None = None, upsample_residual: Sequence[bool] | None = None,
                 upsample_factor: Sequence[int] | None = None, downsample_type: Sequence[str] | None = None,
                 timestep_conditioning: bool = False,
                 patch_size: int = 4, eps: float = 1e-6, encoder_causal: bool = True, decoder_causal: bool = False,
                 decode_timestep: float = 0.0, decode_noise_scale: float | None = None, device=None,
                 dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        factory = {"device": device, "dtype": dtype}
        kinds = None if downsample_type is None else tuple(downsample_type)
        levels = len(block_channels) - (kinds is not None)
        scaling = _tuple(spatio_temporal_scaling, levels, "spatio_temporal_scaling", where)
        layers = _tuple(layers_per_block, levels + 1, "layers_per_block", where)
        if kinds is not None:
            _tuple(kinds, levels, "downsample_type", where)
            bad = sorted(set(kinds) - set(_HALVES))
            if bad:
                raise ValueError(f"{where}: downsample_type entries must be one of {tuple(_HALVES)}, got {bad}")
        halves = [_HALVES[k] for k, on in zip(kinds or ("conv",) * levels, scaling) if on]  # (time, space) per level
        time_levels, space_levels = sum(t for t, _ in halves), sum(sp for _, sp in halves)
        dec_widths = tuple(decoder_block_channels or block_channels)
        n = len(dec_widths)
        dec_scaling = _tuple(decoder_spatio_temporal_scaling or scaling, n, "decoder_spatio_temporal_scaling", where)
        dec_layers = _tuple(decoder_layers_per_block or layers, n + 1, "decoder_layers_per_block", where)
        noise = _tuple(decoder_inject_noise or (False,) * (n + 1), n + 1, "decoder_inject_noise", where)
        residual = _tuple(upsample_residual or (False,) * n, n, "upsample_residual", where)
        upscale = _tuple(upsample_factor or (1,) * n, n, "upsample_factor", where)
        if not sum(dec_scaling) == time_levels == space_levels:
            raise ValueError(f"{where}: the decoder's levels that scale (each ×2 in T, H and W) must undo the "
                             f"encoder's {time_levels} halvings in time and {space_levels} in space, got "
                             f"decoder_spatio_temporal_scaling={dec_scaling}")
        self.in_channels, self.out_channels = in_channels, out_channels or in_channels
        self.latent_channels, self.patch_size = latent_channels, patch_size
        self.timestep_conditioning = timestep_conditioning
        self.decode_timestep, self.decode_noise_scale = decode_timestep, decode_noise_scale
        self.temporal_factor, self.spatial_factor = 2 ** time_levels, patch_size * 2 ** space_levels
        self.encoder = LTXVideoEncoder(in_channels * patch_size ** 2, latent_channels, tuple(block_channels), layers,
                                       scaling, kinds, eps, encoder_causal, factory)
        self.decoder = LTXVideoDecoder(latent_channels, self.out_channels * patch_size ** 2, dec_widths, dec_layers,
                                       dec_scaling, noise, residual, upscale, timestep_conditioning, eps,
                                       decoder_causal, factory)
        self.register_buffer("latents_mean", torch.zeros(latent_channels, **factory))
        self.register_buffer("latents_std", torch.ones(latent_channels, **factory))

    def latent_statistics(self) -> dict[str, tuple[float, ...]]:
        """The stored per-channel ``latents_mean`` / ``latents_std`` (``LatentSpace`` keywords)."""
        return dict(latents_mean=tuple(self.latents_mean.tolist()), latents_std=tuple(self.latents_std.tolist()))

    def encode_moments(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean ``(B, z, 1 + (T − 1)/f_t, H/f, W/f)`` and its log-variance (one channel repeated z times,
        clamped to [−30, 20])."""
        where, f_t, p = type(self).__name__, self.temporal_factor, self.patch_size
        check_causal_clip(x, self.in_channels, f_t, self.spatial_factor, where)
        h = self.encoder(rearrange(x, "b c t (h ph) (w pw) -> b (c pw ph) t h w", ph=p, pw=p))
        z = self.latent_channels
        logvar = h[:, z:].expand(-1, z, -1, -1, -1)  # LTX's "uniform" log-variance: one channel for all
        return h[:, :z], logvar.clamp(-30.0, 20.0)

    def decode(self, z: Tensor, timestep: Tensor | float | None = None, *, noise_scale: Tensor | float | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        """``(B, z, T, h, w) -> (B, C_out, 1 + f_t(T − 1), h·f, w·f)``; not clamped.

        With ``timestep_conditioning`` (ignored otherwise), as LTXPipeline's decode: ``timestep`` t (``(B,)`` or a
        float; None: the net's ``decode_timestep``) conditions the decoder, and the latents are first mixed with noise,
        ``(1 − s)·z + s·n`` (``noised_latents``), s = ``noise_scale`` (None: the net's ``decode_noise_scale``, which
        None makes t, the pipeline's ``decode_noise_scale=None``). ``generator``: that noise, then the decoder's
        injected noise (``decoder_inject_noise``; default the global RNG)."""
        where = type(self).__name__
        check_video(z, "z", channels=self.latent_channels, where=where)
        t = None
        if self.timestep_conditioning:
            t = self._per_sample(self.decode_timestep if timestep is None else timestep, z, "timestep")
            s = noise_scale if noise_scale is not None else self.decode_noise_scale
            s = t if s is None else self._per_sample(s, z, "noise_scale")
            if bool((s != 0).any()):
                z = noised_latents(z, s, generator)
        p = self.patch_size
        return rearrange(self.decoder(z, t, generator), "b (c pw ph) t h w -> b c t (h ph) (w pw)", ph=p, pw=p)

    def _per_sample(self, value: Tensor | float, z: Tensor, name: str) -> Tensor:
        v = torch.as_tensor(value, device=z.device, dtype=z.dtype)
        v = v.expand(z.shape[0]) if v.ndim == 0 else v
        if tuple(v.shape) != (z.shape[0],):
            raise ValueError(f"{type(self).__name__}: {name} must be a float or (B,) = ({z.shape[0]},), got "
                             f"{tuple(v.shape)}")
        return v

    def forward(self, x: Tensor, timestep: Tensor | float | None = None) -> Tensor:
        """decode(encode(x)) at ``timestep``, the latents not mixed with noise (deterministic but for
        ``decoder_inject_noise``)."""
        return self.decode(self.encode(x), timestep, noise_scale=0.0)


def noised_latents(z: Tensor, noise_scale: Tensor | float, generator: torch.Generator | None = None) -> Tensor:
    """LTXPipeline's mix before a timestep-conditioned decode: ``(1 − s)·z + s·n``, n ~ N(0, I), s a float or
    ``(B,)`` per sample (``decode_noise_scale``; the pipeline's default is the decode timestep)."""
    s = torch.as_tensor(noise_scale, device=z.device, dtype=z.dtype)
    s = s.view(-1, *([1] * (z.ndim - 1))) if s.ndim else s
    n = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
    return (1 - s) * z + s * n
