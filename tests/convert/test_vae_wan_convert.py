"""zoo.from_diffusers(AutoencoderKLWan): Wan 2.1 / 2.2's causal VAE converts to net/wan_vae; encode and decode agree
with diffusers (streamed, one-shot and tiled) on 1 + 4k frames; the table runs both ways; the published configs
build with diffusers' parameter counts.

Error budget (fp32): the two implementations run the same convolutions in the same order (causal convs on the same
padded frames, per-frame 2-D resample convs), differing only where a kernel's reduction order may differ (SDPA vs
the math backend in the mid attention, Conv3d algorithm choice per chunk shape). Each conv sums O(100–1000) products
(27·C), a relative rounding of ~1e-7·sqrt(terms) ≈ 1e-6 per layer on unit-scale activations; ~30 layers deep
(tiny configs) that is ≲ 3e-5 even if every layer's error aligned. Measured: ≤ 2e-6. Tolerance 1e-4.
"""

from __future__ import annotations

import pytest
import torch

import components
import zoo
from zoo.convert.vae_wan import vae_wan_config, vae_wan_to_diffusers_state_dict
from zoo.recipes.autoencoders import (
    WAN21_LATENTS_MEAN,
    WAN21_LATENTS_STD,
    WAN21_VAE,
    WAN22_LATENTS_MEAN,
    WAN22_LATENTS_STD,
    WAN22_VAE,
)


diffusers = pytest.importorskip("diffusers")

ATOL = 1e-4
TINY = {
    "wan2.1": dict(base_dim=8, z_dim=4, dim_mult=[1, 2, 2, 2], num_res_blocks=1, temperal_downsample=[False, True, True]),
    "wan2.2": dict(base_dim=8, decoder_base_dim=16, z_dim=8, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                   temperal_downsample=[False, True, True], is_residual=True, in_channels=12, out_channels=12,
                   patch_size=2, scale_factor_spatial=16),
}
# the official configs (diffusers keywords): Wan 2.1 = AutoencoderKLWan defaults; Wan 2.2 = diffusers
# scripts/convert_wan_to_diffusers.py vae22_diffusers_config (Wan-AI/Wan2.2-TI2V-5B-Diffusers vae/config.json)
OFFICIAL = {
    "wan2.1": ({}, WAN21_VAE, 126_892_531),
    "wan2.2": (dict(base_dim=160, decoder_base_dim=256, z_dim=48, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                    temperal_downsample=[False, True, True], is_residual=True, in_channels=12, out_channels=12,
                    patch_size=2, scale_factor_spatial=16, scale_factor_temporal=4), WAN22_VAE, 704_688_668),
}


@pytest.fixture(scope="module", params=sorted(TINY))
def pair(request):
    torch.manual_seed(0)
    ref = diffusers.AutoencoderKLWan(**TINY[request.param]).eval()
    with torch.no_grad():  # norms and biases away from their init, and outputs inside the [−1, 1] clamp
        for name, p in ref.named_parameters():
            if name.endswith("gamma"):
                p.uniform_(0.5, 1.5)
            elif name.endswith("bias"):
                p.normal_(0.0, 0.1)
        ref.decoder.conv_out.weight.mul_(0.1)
    return ref, zoo.from_diffusers(ref)


def _video(ours, frames, seed=1):
    f = ours.spatial_factor
    return torch.randn(1, 3, frames, 2 * f, 2 * f, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("frames", [1, 5, 9])
def test_encode_moments_match_diffusers(pair, frames):
    ref, ours = pair
    x = _video(ours, frames)
    with torch.no_grad():
        expected = ref.encode(x).latent_dist
        mean, logvar = ours.encode_moments(x)
    assert mean.shape[2] == 1 + (frames - 1) // 4
    torch.testing.assert_close(mean, expected.mean, atol=ATOL, rtol=0)
    torch.testing.assert_close(logvar, expected.logvar, atol=ATOL, rtol=0)


@pytest.mark.parametrize("latent_frames", [1, 3])
def test_decode_matches_diffusers(pair, latent_frames):
    ref, ours = pair
    z = torch.randn(1, ours.latent_channels, latent_frames, 2, 3, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = ref.decode(z).sample
        out = ours.decode(z)
    assert out.shape[2] == 1 + 4 * (latent_frames - 1)
    assert out.abs().max() < 1.0  # the comparison is not hidden by the clamp
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)


def test_one_shot_equals_streamed(pair):
    _, ours = pair
    x = _video(ours, 9)
    with torch.no_grad():
        streamed, one_shot = ours.encode_moments(x), ours.encode_moments(x, chunked=False)
        z = streamed[0]
        decoded, decoded_one_shot = ours.decode(z), ours.decode(z, chunked=False)
    for a, b in (*zip(streamed, one_shot), (decoded, decoded_one_shot)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_tiled_decode_matches_diffusers(pair):
    ref, ours = pair
    f = ours.spatial_factor
    size, stride = 3 * f, 2 * f  # latent tiles of 3 with stride 2: every tile overlaps its neighbours
    z = torch.randn(1, ours.latent_channels, 2, 5, 4, generator=torch.Generator().manual_seed(3))
    ref.enable_tiling(tile_sample_min_height=size, tile_sample_min_width=size, tile_sample_stride_height=stride,
                      tile_sample_stride_width=stride)
    try:
        with torch.no_grad():
            expected = ref.decode(z).sample
            out = ours.decode(z, tiled=True, tile_size=size, tile_stride=stride)
    finally:
        ref.disable_tiling()
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)


def test_one_tile_covering_the_latents_equals_untiled(pair):
    _, ours = pair
    z = torch.randn(1, ours.latent_channels, 2, 3, 2, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(ours.decode(z, tiled=True, tile_size=4 * ours.spatial_factor,
                                                 tile_stride=4 * ours.spatial_factor), ours.decode(z))


def test_to_diffusers_state_dict_loads_strictly(pair):
    ref, ours = pair
    state = vae_wan_to_diffusers_state_dict(ours, ref)
    fresh = diffusers.AutoencoderKLWan(**dict(ref.config)).eval()
    fresh.load_state_dict(state, strict=True)
    for key, value in ref.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


def test_bad_frame_count_and_size_raise(pair):
    _, ours = pair
    f = ours.spatial_factor
    with pytest.raises(ValueError, match="x frames must be 1 \\+ 4·k .* got 4"):
        ours.encode_moments(torch.zeros(1, 3, 4, f, f))
    with pytest.raises(ValueError, match=f"height={f + 2} must be divisible by spatial_factor={f}"):
        ours.encode_moments(torch.zeros(1, 3, 1, f + 2, f))


def test_config_refuses_what_net_wan_vae_cannot_express():
    with pytest.raises(ValueError, match="attn_scales must be empty.*scale_factor_spatial must be 8"):
        vae_wan_config({"dim_mult": [1, 2, 4, 4], "temperal_downsample": [False, True, True], "attn_scales": [0.5],
                        "in_channels": 3, "out_channels": 3, "scale_factor_spatial": 16, "z_dim": 16, "base_dim": 96,
                        "num_res_blocks": 2})


@pytest.mark.parametrize("version", sorted(OFFICIAL))
def test_published_configs_have_diffusers_parameter_counts(version):
    """Wan 2.1's VAE has 126.9M parameters (the Wan report's "127M"), Wan 2.2's 704.7M; both built on meta."""
    diffusers_kwargs, ours_kwargs, count = OFFICIAL[version]
    with torch.device("meta"):
        ref = diffusers.AutoencoderKLWan(**diffusers_kwargs)
    ours = components.build("net/wan_vae", **ours_kwargs, device="meta")
    assert vae_wan_config(ref.config) == {**vae_wan_config(ref.config), **ours_kwargs}
    numel = [sum(p.numel() for p in m.parameters()) for m in (ref, ours)]
    assert numel == [count, count]
    assert (ours.spatial_factor, ours.temporal_factor) == (ref.config.scale_factor_spatial, 4)


@pytest.mark.parametrize("mean, std, channels", [(WAN21_LATENTS_MEAN, WAN21_LATENTS_STD, 16),
                                                 (WAN22_LATENTS_MEAN, WAN22_LATENTS_STD, 48)])
def test_latent_statistics_have_one_value_per_channel(mean, std, channels):
    assert len(mean) == len(std) == channels and min(std) > 0
    if channels == 16:  # Wan 2.1's are diffusers' defaults
        with torch.device("meta"):
            defaults = diffusers.AutoencoderKLWan().config
        assert list(mean) == defaults.latents_mean and list(std) == defaults.latents_std
