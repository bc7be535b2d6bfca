"""zoo.from_diffusers(AutoencoderKLLTXVideo): LTX-Video's VAE converts to net/ltx_video_vae; encode (posterior mean
and log-variance) and decode agree with diffusers on 1 + f_t·k frames for the 0.9.0 layout, the 0.9.1
timestep-conditioned decoder (noise injection, residual depth-to-space) and the 0.9.5 space-to-depth encoder; the
table runs both ways; the published configs build with diffusers' parameter counts.

Error budget (fp32): both sides run the same convolutions on the same padded frames in the same order; the pixel
norm, LayerNorm and depth-to-space reshapes are elementwise or exact. Only a kernel's reduction order may differ (a
Conv3d algorithm chosen per shape): each conv sums ≤ 27·64 products, a relative rounding of ~1e-7·sqrt(terms) ≈ 4e-6
per layer on unit-scale activations, ~25 layers deep in the tiny configs ≲ 1e-4 even if every layer's error aligned.
Measured: 0.0 (bit-identical) on CPU. Tolerance 1e-4. Injected noise is drawn from the global RNG on both sides in
the same order (diffusers' ``decode`` passes no generator), so seeding both alike compares it too.
"""

from __future__ import annotations

import pytest
import torch

import components
import zoo
from components.nets.ltx_video_vae import noised_latents
from zoo.convert.vae_ltx_video import vae_ltx_video_config, vae_ltx_video_to_diffusers_state_dict


diffusers = pytest.importorskip("diffusers")

ATOL = 1e-4
_LEVELS = dict(latent_channels=8, block_out_channels=(8, 16, 16), layers_per_block=(1, 1, 1, 1),
               spatio_temporal_scaling=(True, True, False))
TINY = {
    # the 0.9.0 layout (AutoencoderKLLTXVideo() defaults, shrunk): plain depth-to-space, no decoder conditioning
    "0.9.0": dict(_LEVELS, decoder_block_out_channels=(8, 16, 16), decoder_layers_per_block=(1, 1, 1, 1),
                  decoder_spatio_temporal_scaling=(True, True, False), decoder_inject_noise=(False,) * 4,
                  upsample_residual=(False,) * 3, upsample_factor=(1,) * 3),
    # the 0.9.1 layout (convert_ltx_to_diffusers.py get_vae_config("0.9.1"), shrunk): every decoder level scales,
    # residual depth-to-space halving the width, noise injection, a timestep-conditioned decoder
    "0.9.1": dict(_LEVELS, decoder_block_out_channels=(16, 32), decoder_layers_per_block=(1, 2, 1),
                  decoder_spatio_temporal_scaling=(True, True), decoder_inject_noise=(True, True, False),
                  upsample_residual=(True, True), upsample_factor=(2, 2), timestep_conditioning=True),
    # the 0.9.5 layout (get_vae_config("0.9.5"), shrunk): space-to-depth encoder levels halving space and time apart
    "0.9.5": dict(latent_channels=8, block_out_channels=(8, 16, 32, 64), down_block_types=("LTXVideo095DownBlock3D",) * 3,
                  layers_per_block=(1, 1, 1, 1), spatio_temporal_scaling=(True, True, True),
                  downsample_type=("spatial", "temporal", "spatiotemporal"), decoder_block_out_channels=(16, 32),
                  decoder_layers_per_block=(1, 1, 1), decoder_spatio_temporal_scaling=(True, True),
                  decoder_inject_noise=(False,) * 3, upsample_residual=(True, True), upsample_factor=(2, 2),
                  timestep_conditioning=True, spatial_compression_ratio=16, temporal_compression_ratio=4),
}
# the official configs: 0.9.0 = AutoencoderKLLTXVideo() defaults; 0.9.1 / 0.9.5 = diffusers
# scripts/convert_ltx_to_diffusers.py get_vae_config("0.9.1") / ("0.9.5") (as merged in #10330 / #10968)
OFFICIAL = {
    "0.9.0": ({}, 419_193_649),
    "0.9.1": (dict(decoder_block_out_channels=(256, 512, 1024), decoder_layers_per_block=(5, 6, 7, 8),
                   decoder_spatio_temporal_scaling=(True, True, True), decoder_inject_noise=(True, True, True, False),
                   upsample_residual=(True, True, True), upsample_factor=(2, 2, 2), timestep_conditioning=True),
              934_976_434),
    "0.9.5": (dict(block_out_channels=(128, 256, 512, 1024, 2048), down_block_types=("LTXVideo095DownBlock3D",) * 4,
                   decoder_block_out_channels=(256, 512, 1024), layers_per_block=(4, 6, 6, 2, 2),
                   decoder_layers_per_block=(5, 5, 5, 5), spatio_temporal_scaling=(True,) * 4,
                   decoder_spatio_temporal_scaling=(True,) * 3, decoder_inject_noise=(False,) * 4,
                   downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
                   upsample_residual=(True,) * 3, upsample_factor=(2,) * 3, timestep_conditioning=True,
                   spatial_compression_ratio=32, temporal_compression_ratio=8),
              1_246_913_522),
}


@pytest.fixture(scope="module", params=sorted(TINY))
def pair(request):
    torch.manual_seed(0)
    ref = diffusers.AutoencoderKLLTXVideo(**TINY[request.param]).eval()
    with torch.no_grad():  # biases, noise scales and latent statistics away from their zero / one init
        for name, p in ref.named_parameters():
            if name.endswith("bias") or "per_channel_scale" in name:
                p.normal_(0.0, 0.1)
        ref.latents_mean.normal_(0.0, 0.5)
        ref.latents_std.uniform_(0.5, 1.5)
    return ref, zoo.from_diffusers(ref)


def _video(frames, size=32, seed=1):
    return torch.randn(2, 3, frames, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("frames", [1, 9, 17])
def test_encode_moments_match_diffusers(pair, frames):
    ref, ours = pair
    x = _video(frames)
    with torch.no_grad():
        expected = ref.encode(x).latent_dist
        mean, logvar = ours.encode_moments(x)
    assert mean.shape == (2, 8, 1 + (frames - 1) // 4, 2, 2)
    torch.testing.assert_close(mean, expected.mean, atol=ATOL, rtol=0)
    torch.testing.assert_close(logvar, expected.logvar, atol=ATOL, rtol=0)
    torch.testing.assert_close(ours.encode(x), expected.mode(), atol=ATOL, rtol=0)


@pytest.mark.parametrize("latent_frames", [1, 3])
def test_decode_matches_diffusers(pair, latent_frames):
    ref, ours = pair
    z = torch.randn(2, 8, latent_frames, 2, 3, generator=torch.Generator().manual_seed(2))
    t = torch.tensor([0.05, 0.4]) if ref.config.timestep_conditioning else None
    with torch.no_grad():
        torch.manual_seed(7)
        expected = ref.decode(z, t).sample
        torch.manual_seed(7)
        out = ours.decode(z, t, noise_scale=0.0)  # diffusers' decode does not mix; its pipeline does (below)
    assert out.shape == (2, 3, 1 + 4 * (latent_frames - 1), 32, 48)
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)


def test_timestep_conditions_the_091_decoder_and_its_noise_is_injected():
    ref = diffusers.AutoencoderKLLTXVideo(**TINY["0.9.1"]).eval()
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if "per_channel_scale" in name:
                p.fill_(0.5)
    ours = zoo.from_diffusers(ref)
    z = torch.randn(1, 8, 2, 2, 2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        g = [torch.Generator().manual_seed(s) for s in (0, 0, 1)]
        a, b, c = (ours.decode(z, 0.05, generator=gen) for gen in g)
        other_t = ours.decode(z, 0.5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b, atol=0, rtol=0)  # the generator fixes the injected noise
    assert (a - c).abs().max() > 1e-3 and (a - other_t).abs().max() > 1e-3


def test_decode_mixes_latents_with_noise_as_ltx_pipeline():
    """LTXPipeline: ``latents = (1 − s)·latents + s·noise`` (s = decode_noise_scale, default the decode timestep;
    noise drawn before the decode), then ``vae.decode(latents, timestep)``; our ``decode`` mixes with its generator.
    The injection scales keep their zero init here, so only the mixing noise matters."""
    torch.manual_seed(0)
    ref = diffusers.AutoencoderKLLTXVideo(**TINY["0.9.1"]).eval()
    ours = zoo.from_diffusers(ref)
    z = torch.randn(2, 8, 2, 2, 2, generator=torch.Generator().manual_seed(4))
    t = torch.tensor([0.05, 0.2])
    with torch.no_grad():
        noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(9))
        expected = ref.decode((1 - t.view(2, 1, 1, 1, 1)) * z + t.view(2, 1, 1, 1, 1) * noise, t).sample
        out = ours.decode(z, t, generator=torch.Generator().manual_seed(9))
        half = ours.decode(z, t, noise_scale=0.0)
        mixed = noised_latents(z, t, torch.Generator().manual_seed(9))
    torch.testing.assert_close(mixed, (1 - t.view(2, 1, 1, 1, 1)) * z + t.view(2, 1, 1, 1, 1) * noise)
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)
    assert (out - half).abs().max() > 1e-3  # the mixing did something


def test_to_diffusers_state_dict_loads_strictly(pair):
    ref, ours = pair
    fresh = diffusers.AutoencoderKLLTXVideo(**dict(ref.config)).eval()
    fresh.load_state_dict(vae_ltx_video_to_diffusers_state_dict(ours, fresh), strict=True)
    for key, value in ref.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


def test_latent_statistics_travel_with_the_weights(pair):
    ref, ours = pair
    stats = ours.latent_statistics()
    assert stats["latents_mean"] == tuple(ref.latents_mean.tolist())
    assert stats["latents_std"] == tuple(ref.latents_std.tolist())


def test_bad_frame_count_and_size_raise(pair):
    _, ours = pair
    with pytest.raises(ValueError, match="x frames must be 1 \\+ 4·k .* got 4"):
        ours.encode_moments(torch.zeros(1, 3, 4, 16, 16))
    with pytest.raises(ValueError, match="height=24 must be divisible by spatial_factor=16"):
        ours.encode_moments(torch.zeros(1, 3, 1, 24, 16))


def test_config_refuses_what_net_ltx_video_vae_cannot_express_naming_the_fields():
    cfg = dict(TINY["0.9.0"], down_block_types=("LTXVideoDownBlock3D", "LTXVideo095DownBlock3D", "LTXVideoDownBlock3D"),
               downsample_type=("spatial", "conv", "conv"), patch_size_t=2)
    with pytest.raises(ValueError, match="down_block_types must all be.*downsample_type.*patch_size_t must be 1"):
        vae_ltx_video_config(cfg)


@pytest.mark.parametrize("version", sorted(OFFICIAL))
def test_published_configs_have_diffusers_parameter_counts(version):
    """LTX-Video's VAE: 419.2M parameters (0.9.0), 935.0M with the 0.9.1 timestep-conditioned decoder, 1,246.9M with
    0.9.5's space-to-depth encoder; built on meta from the official configs, 1:192 compression (32×32×8 pixels ->
    128 channels) each."""
    kwargs, count = OFFICIAL[version]
    with torch.device("meta"):
        ref = diffusers.AutoencoderKLLTXVideo(**kwargs)
    ours = components.build("net/ltx_video_vae", **vae_ltx_video_config(ref.config), device="meta")
    assert [sum(p.numel() for p in m.parameters()) for m in (ref, ours)] == [count, count]
    assert (ours.spatial_factor, ours.temporal_factor, ours.latent_channels) == (32, 8, 128)
    assert (ref.spatial_compression_ratio, ref.temporal_compression_ratio) == (32, 8)
