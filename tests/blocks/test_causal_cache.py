"""Streaming through a FeatureCache: every causal layer of the Wan VAE fed a clip chunk by chunk gives its one-shot
output, holding only the frames it needs (k_t − 1 per causal conv), and the first frame is special only at the clip's
start."""

from __future__ import annotations

import pytest
import torch

import components
from components.conv import CausalConv3d, FeatureCache


def _clip(channels, frames, seed=0):
    return torch.randn(2, channels, frames, 6, 6, generator=torch.Generator().manual_seed(seed))


def _streamed(layer, x, chunks):
    cache, bounds, out = FeatureCache(), [0], []
    for size in chunks:
        bounds.append(bounds[-1] + size)
    assert bounds[-1] == x.shape[2]
    with torch.no_grad():
        for a, b in zip(bounds, bounds[1:]):
            out.append(layer(x[:, :, a:b], cache))
    return torch.cat(out, dim=2), cache


@pytest.mark.parametrize("pad_mode", ["zeros", "replicate"])
@pytest.mark.parametrize("chunks", [(1, 1, 1, 1, 1), (1, 4), (2, 3), (3, 1, 1)])
def test_causal_conv_streamed_equals_one_shot(pad_mode, chunks):
    torch.manual_seed(0)
    conv = CausalConv3d(4, 5, 3, pad_mode=pad_mode)
    x = _clip(4, sum(chunks))
    out, cache = _streamed(conv, x, chunks)
    with torch.no_grad():
        torch.testing.assert_close(out, conv(x), atol=1e-6, rtol=1e-5)
    assert cache.get(conv).shape[2] == 2  # k_t − 1 frames, not the chunk


def test_one_by_one_conv_keeps_nothing():
    conv = CausalConv3d(4, 4, 1)
    _, cache = _streamed(conv, _clip(4, 3), (1, 2))
    assert conv not in cache


@pytest.mark.parametrize("key, cfg, chunks", [
    ("block/wan_causal_resnet", dict(in_channels=4, out_channels=6), (1, 4, 4)),
    ("block/wan_causal_down", dict(in_channels=4, temporal=True), (1, 4, 4)),  # the encoder's chunks
    ("block/wan_causal_down", dict(in_channels=4, temporal=True), (1, 2, 2, 4)),
    ("block/wan_causal_down", dict(in_channels=4), (1, 4)),
    ("block/wan_causal_up", dict(in_channels=4, out_channels=2, temporal=True), (1, 1, 1)),  # the decoder's chunks
    ("block/wan_causal_up", dict(in_channels=4, temporal=True), (2, 3)),
    ("block/wan_dup_up", dict(in_channels=8, out_channels=4, factor_t=2, factor_s=2), (1, 1, 2)),
    ("block/wan_avg_down", dict(in_channels=4, out_channels=8, factor_t=2, factor_s=2), (1, 4, 2)),
    ("block/wan_frame_attention", dict(in_channels=8), (1, 2)),
])
def test_wan_blocks_streamed_equal_one_shot(key, cfg, chunks):
    torch.manual_seed(0)
    layer = components.build(key, **cfg).eval()
    x = _clip(cfg["in_channels"], sum(chunks))
    out, _ = _streamed(layer, x, chunks)
    with torch.no_grad():
        torch.testing.assert_close(out, layer(x), atol=1e-5, rtol=1e-5)


def test_temporal_down_passes_the_first_frame_alone():
    torch.manual_seed(0)
    down = components.build("block/wan_causal_down", in_channels=4, temporal=True).eval()
    x = _clip(4, 5)
    with torch.no_grad():
        torch.testing.assert_close(down(x)[:, :, :1], down(x[:, :, :1]))
        assert down(x).shape[2] == 3


def test_temporal_up_doubles_every_frame_but_the_first():
    up = components.build("block/wan_causal_up", in_channels=4, temporal=True).eval()
    with torch.no_grad():
        assert [up(_clip(4, t)).shape[2] for t in (1, 2, 3)] == [1, 3, 5]
        out, _ = _streamed(up, _clip(4, 3), (1, 1, 1))
    assert out.shape[2] == 5


def test_one_shot_temporal_down_refuses_an_even_clip():
    down = components.build("block/wan_causal_down", in_channels=4, temporal=True)
    with pytest.raises(ValueError, match="x frames must be odd without a cache .* got 4"):
        down(_clip(4, 4))


def test_vae_cache_is_bounded_by_the_chunk():
    """After streaming a clip, every cached tensor holds at most two frames (the causal convs' k_t − 1)."""
    torch.manual_seed(0)
    vae = components.build("net/wan_vae", **components.get_component("net/wan_vae").tiny).eval()
    x = _clip(3, 9)[:, :, :, :4, :4]
    cache = FeatureCache()
    with torch.no_grad():
        vae.encoder(x[:, :, :1], cache)
        vae.encoder(x[:, :, 1:3], cache)
    frames = [v.shape[2] for _, v in cache.items() if isinstance(v, torch.Tensor)]
    assert frames and max(frames) <= 2
