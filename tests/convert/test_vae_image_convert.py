"""zoo.from_diffusers(AutoencoderKL): SD's image VAE as ``net/video_autoencoder`` (``temporal_decoder=False``) equals
diffusers' on every frame, encode and decode, and its state dict round-trips exactly."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange


diffusers = pytest.importorskip("diffusers")

import zoo  # noqa: E402
from zoo.convert.vae_image import vae_image_config, vae_image_to_diffusers_state_dict  # noqa: E402


def _tiny_vae():
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKL(block_out_channels=(32, 64), layers_per_block=2, latent_channels=4,
                                  down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)
    with torch.no_grad():
        for p in vae.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return vae.eval()


def test_converted_image_vae_matches_diffusers_per_frame():
    ref = _tiny_vae()
    ours = zoo.from_diffusers(ref)
    x = torch.rand(2, 3, 3, 16, 24, generator=torch.Generator().manual_seed(1)) * 2 - 1
    frames = rearrange(x, "b c t h w -> (b t) c h w")
    with torch.no_grad():
        z, posterior = ours.encode(x), ref.encode(frames).latent_dist
        torch.testing.assert_close(rearrange(z, "b c t h w -> (b t) c h w"), posterior.mean, atol=1e-5, rtol=1e-5)
        decoded, expected = ours.decode(z), ref.decode(posterior.mean).sample
    assert expected.std() > 0.05
    torch.testing.assert_close(rearrange(decoded, "b c t h w -> (b t) c h w"), expected, atol=1e-4, rtol=1e-4)
    assert ours.scaling_factor == ref.config.scaling_factor and ours.post_quant_conv is not None


def test_image_vae_state_dict_round_trips_exactly():
    ref = _tiny_vae()
    back = vae_image_to_diffusers_state_dict(zoo.from_diffusers(ref), ref, ref.config.layers_per_block)
    original = ref.state_dict()
    assert set(back) == set(original) and all(torch.equal(back[k], v) for k, v in original.items())


def test_latent_normalisation_the_image_vae_lacks_is_refused():
    config = dict(_tiny_vae().config, shift_factor=0.1159, use_post_quant_conv=False)
    with pytest.raises(ValueError, match=r"use_post_quant_conv must be True, got False; shift_factor must be None"):
        vae_image_config(config)
