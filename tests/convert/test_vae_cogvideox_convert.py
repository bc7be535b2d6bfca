"""zoo.from_diffusers(AutoencoderKLCogVideoX): a tiny random CogVideoX VAE converts to ``net/cogvideox_vae`` and
encodes / decodes as diffusers does to 1e-4 in fp32, frame batching included (17 frames = encoder batches of 9 + 8;
5 latent frames = decoder batches of 3 + 2, each GroupNorm over its batch); the published size has diffusers'
parameter count; frame counts the VAE cannot take are refused naming the constraint.

Error budget: the same fp32 convolutions and norms in the same order; measured ≤ 2e-6 on CPU (diffusers 0.42.1).
"""

from __future__ import annotations

import pytest
import torch

import components
import zoo
from components.nets.cogvideox_vae import frame_batches
from zoo.convert.vae_cogvideox import vae_cogvideox_config, vae_cogvideox_to_diffusers_state_dict


diffusers = pytest.importorskip("diffusers")

# diffusers' own test size (tests/models/autoencoders/test_models_autoencoder_cogvideox.py), 3 levels
TINY = dict(block_out_channels=(8, 8, 16), latent_channels=4, layers_per_block=1, norm_num_groups=2,
            temporal_compression_ratio=4, down_block_types=("CogVideoXDownBlock3D",) * 3,
            up_block_types=("CogVideoXUpBlock3D",) * 3)


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    ref = diffusers.AutoencoderKLCogVideoX(**TINY).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return ref, zoo.from_diffusers(ref)


@pytest.mark.parametrize("frames", [1, 9, 17])
def test_encode_matches_diffusers_with_frame_batches(pair, frames):
    ref, ours = pair
    x = torch.randn(1, 3, frames, 16, 16, generator=torch.Generator().manual_seed(frames))
    with torch.no_grad():
        dist = ref.encode(x).latent_dist
        mean, logvar = ours.encode_moments(x)
    assert mean.shape == (1, 4, 1 + (frames - 1) // 4, 4, 4)
    torch.testing.assert_close(mean, dist.mean, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logvar, dist.logvar, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("latent_frames", [1, 3, 5])
def test_decode_matches_diffusers_with_frame_batches(pair, latent_frames):
    ref, ours = pair
    z = torch.randn(1, 4, latent_frames, 4, 4, generator=torch.Generator().manual_seed(latent_frames))
    with torch.no_grad():
        expected, out = ref.decode(z).sample, ours.decode(z)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)


def test_frame_batches_are_diffusers_chunks():
    assert frame_batches(49, 8) == [(0, 9), (9, 17), (17, 25), (25, 33), (33, 41), (41, 49)]
    assert frame_batches(13, 2) == [(0, 3), (3, 5), (5, 7), (7, 9), (9, 11), (11, 13)]
    assert frame_batches(1, 2) == [(0, 1)]


def test_state_dict_round_trips_into_diffusers(pair):
    ref, ours = pair
    state = vae_cogvideox_to_diffusers_state_dict(ours, ref)
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(state[key], value, atol=0, rtol=0)


def test_published_vae_has_diffusers_parameter_count():
    with torch.device("meta"):
        ref = diffusers.AutoencoderKLCogVideoX()
    ours = components.build("net/cogvideox_vae", **vae_cogvideox_config(ref.config), device="meta")
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters()) == 215_583_907


def test_frames_not_eight_n_plus_one_are_refused(pair):
    with pytest.raises(ValueError, match=r"x frames must be 1 \+ 8·N.*got 5"):
        pair[1].encode(torch.zeros(1, 3, 5, 16, 16))
