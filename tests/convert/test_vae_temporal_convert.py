"""zoo.from_diffusers(AutoencoderKLTemporalDecoder): SVD's VAE converts to net/video_autoencoder; decode and encode
agree with diffusers to 1e-4 (fp32) on 3 frames of non-square latents; the table runs both ways."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange

import zoo
from zoo.convert.vae_temporal import vae_temporal_config, vae_temporal_to_diffusers_state_dict


diffusers = pytest.importorskip("diffusers")

TINY = dict(block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2, layers_per_block=2,
            latent_channels=4)
T = 3


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    ref = diffusers.AutoencoderKLTemporalDecoder(**TINY).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return ref, zoo.from_diffusers(ref)


def test_converted_temporal_decoder_decodes_like_diffusers(pair):
    ref, ours = pair
    z = torch.randn(2 * T, 4, 8, 12)  # diffusers folds frames into the batch
    with torch.no_grad():
        expected = rearrange(ref.decode(z, num_frames=T).sample, "(b t) c h w -> b c t h w", t=T)
        out = ours.decode(rearrange(z, "(b t) c h w -> b c t h w", t=T))
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)


def test_converted_encoder_gives_the_same_posterior(pair):
    ref, ours = pair
    x = torch.randn(2 * T, 3, 16, 24)
    with torch.no_grad():
        posterior = ref.encode(x).latent_dist
        mean, logvar = ours.encode_moments(rearrange(x, "(b t) c h w -> b c t h w", t=T))
    torch.testing.assert_close(mean, rearrange(posterior.mean, "(b t) c h w -> b c t h w", t=T), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logvar, rearrange(posterior.logvar, "(b t) c h w -> b c t h w", t=T), atol=1e-4,
                               rtol=1e-4)


def test_rename_table_and_merge_sign_map_back_to_diffusers(pair):
    ref, ours = pair
    back = vae_temporal_to_diffusers_state_dict(ours, ref, layers_per_block=2)
    state = ref.state_dict()
    assert set(back) == set(state) and all(torch.equal(back[k].reshape(v.shape), v) for k, v in state.items())


def test_decoder_mid_block_layout_other_than_two_layers_is_refused():
    with pytest.raises(ValueError, match="layers_per_block must be 2"):
        vae_temporal_config({**TINY, "layers_per_block": 1, "in_channels": 3, "out_channels": 3})
