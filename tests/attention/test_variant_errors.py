"""Bad input raises ValueError naming the argument (docs/architecture.md conventions): never a silent reshape or crop."""

from __future__ import annotations

import pytest
import torch

import components


VIDEO_VARIANTS = ["attention/spatial", "attention/temporal", "attention/spacetime", "attention/sparse_causal",
                  "attention/cross_frame", "attention/fully_cross_frame", "attention/windowed"]


def build(key, **options):
    return components.build(key, **{"dim": 8, "num_heads": 2, **options})


@pytest.mark.parametrize("key", VIDEO_VARIANTS)
def test_wrong_ndim_names_the_layout(key):
    with pytest.raises(ValueError, match=r"5-D video B C T H W, got 4-D"):
        build(key)(torch.zeros(2, 8, 4, 4))


@pytest.mark.parametrize("key", VIDEO_VARIANTS + ["attention/cross"])
def test_channels_must_equal_dim(key):
    module = build(key, window=[1, 2, 2]) if key.endswith("windowed") else build(key)
    args = (torch.zeros(1, 4, 2, 4, 4),) + ((torch.zeros(1, 3, 8),) if key.endswith("cross") else ())
    with pytest.raises(ValueError, match="must have 8 channels"):
        module(*args)


@pytest.mark.parametrize("key", VIDEO_VARIANTS + ["attention/cross"])
def test_dim_divisible_by_heads_and_heads_times_head_dim(key):
    with pytest.raises(ValueError, match=r"dim=8 must be divisible by num_heads=3"):
        build(key, num_heads=3)
    with pytest.raises(ValueError, match=r"num_heads × head_dim must equal dim, got 2 × 3 = 6 != dim=8"):
        build(key, head_dim=3)


@pytest.mark.parametrize(("window", "shape", "match"), [
    ([2, 2, 2], (1, 8, 3, 4, 4), r"T=3 must be divisible by window\[0\]=2"),
    ([1, 3, 2], (1, 8, 2, 4, 4), r"H=4 must be divisible by window\[1\]=3"),
    ([1, 2, 3], (1, 8, 2, 4, 4), r"W=4 must be divisible by window\[2\]=3"),
])
def test_window_must_divide_the_clip(window, shape, match):
    with pytest.raises(ValueError, match=match):
        build("attention/windowed", window=window)(torch.zeros(shape))
    with pytest.raises(ValueError, match=match):
        build("attention/windowed", window=window).flops(shape)


@pytest.mark.parametrize("window", [[2, 2], [0, 2, 2], [2.0, 2, 2], "2x2x2"])
def test_window_must_be_three_positive_sizes(window):
    with pytest.raises(ValueError, match="window"):
        build("attention/windowed", window=window)


def test_cross_context_of_the_wrong_width_names_context_dim():
    module = build("attention/cross", context_dim=6)
    with pytest.raises(ValueError, match=r"context_dim=6, got 5"):
        module(torch.zeros(1, 8, 2, 4, 4), torch.zeros(1, 3, 5))
    with pytest.raises(ValueError, match=r"context_dim=6, got 5"):
        module(torch.zeros(1, 7, 8), torch.zeros(1, 3, 5))


def test_cross_per_frame_context_must_match_the_frames():
    module = build("attention/cross", context_dim=6)
    with pytest.raises(ValueError, match=r"per-frame \(B, T=2, M, context_dim\)"):
        module(torch.zeros(1, 8, 2, 4, 4), torch.zeros(1, 3, 4, 6))
    with pytest.raises(ValueError, match="context_mask must be a boolean tensor of shape"):
        module(torch.zeros(1, 8, 2, 4, 4), torch.zeros(1, 4, 6), context_mask=torch.ones(1, 4))


def test_temporal_options_are_checked():
    with pytest.raises(ValueError, match=r"position must be one of \('none', 'relative', 'sinusoidal', 'rope'\)"):
        build("attention/temporal", position="learned")
    with pytest.raises(ValueError, match="needs an even dim"):
        build("attention/temporal", dim=9, num_heads=3, position="sinusoidal")
    with pytest.raises(ValueError, match="num_buckets"):
        build("attention/temporal", position="relative", num_buckets=5)
    module = build("attention/temporal")
    for bad in (-1, 4):
        with pytest.raises(ValueError, match=r"num_image_frames must be in \[0, T=3\]"):
            module(torch.zeros(1, 8, 3, 2, 2), num_image_frames=bad)


def test_key_frames_outside_the_clip_are_rejected():
    module = build("attention/fully_cross_frame", key_frames=[0, 3])
    module(torch.zeros(1, 8, 4, 2, 2))
    with pytest.raises(ValueError, match=r"key_frames=\[0, 3\] has indices \[3\] outside a clip of T=3"):
        module(torch.zeros(1, 8, 3, 2, 2))
    with pytest.raises(ValueError, match="key_frames must be None or a non-empty list"):
        build("attention/fully_cross_frame", key_frames=[])
