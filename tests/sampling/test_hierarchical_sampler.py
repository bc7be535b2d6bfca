"""ControlVideo's hierarchical sampler: with every frame a key frame it is joint sampling; key frames come from the
joint pass and each clip's in-between frames from a pass over the clip with its two key frames."""

from __future__ import annotations

import pytest
import torch

import components
from components.diffusion import hierarchical_denoiser, key_frame_indices
from components.diffusion._video import AR1GaussianDenoiser
from components.diffusion.schedules import karras_sigmas


def start(frames=9):
    return torch.randn(2, 2, frames, 1, 3, generator=torch.Generator().manual_seed(0)) * 20


@pytest.mark.parametrize("inner", ["sampler/ddim", "sampler/euler_ancestral"])
def test_every_frame_a_key_frame_is_joint_sampling(inner):
    den, x, sigmas = AR1GaussianDenoiser(0.9), start(), karras_sigmas(8, 0.01, 20.0)
    hier = components.build("sampler/hierarchical", sampler=inner, clip_length=2)
    joint = components.build(inner)
    torch.testing.assert_close(hier(den, x, sigmas, generator=torch.Generator().manual_seed(1)),
                               joint(den, x, sigmas, generator=torch.Generator().manual_seed(1)))


def test_key_frames_follow_controlvideo():
    assert key_frame_indices(15) == [0, 2, 4, 6, 8, 10, 12, 14]  # w = ⌊√15⌋ = 3
    assert key_frame_indices(16) == [0, 3, 6, 9, 12, 15]  # w = 4
    assert key_frame_indices(10, 4) == [0, 3, 6, 9]
    assert key_frame_indices(11, 4) == [0, 3, 6, 9, 10]


def test_key_frames_are_denoised_jointly_and_clips_with_their_two_key_frames():
    den, x, sigma = AR1GaussianDenoiser(0.8), start(10), torch.tensor([1.5, 1.5])
    out = hierarchical_denoiser(den, clip_length=4)(x, sigma)
    keys = [0, 3, 6, 9]
    torch.testing.assert_close(out[:, :, keys], den(x[:, :, keys], sigma).float())
    for a, b in zip(keys[:-1], keys[1:]):
        torch.testing.assert_close(out[:, :, a + 1:b], den(x[:, :, a:b + 1], sigma)[:, :, 1:-1].float())


def test_calls_per_step():
    calls = []

    def den(x, sigma):
        calls.append(x.shape[:3])
        return x * 0.5

    hierarchical_denoiser(den, clip_length=4)(start(11), torch.ones(2))
    assert calls == [(2, 2, 5), (6, 2, 4)]  # key frames [0, 3, 6, 9, 10]; three 4-frame clips in one batched call


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="clip_length must be >= 2"):
        components.build("sampler/hierarchical", clip_length=1)
    with pytest.raises(ValueError, match="sampler must be"):
        components.build("sampler/hierarchical", sampler="sampler/ddim_inversion")
