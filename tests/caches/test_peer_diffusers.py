"""Peer tests: each cache diffusers also has, in the same configuration, on diffusers' tiny Wan transformer and on ours
converted from it, over the same sampler loop: the same outputs at every step (≤ 1e-4) and the same computed steps."""

from __future__ import annotations

import pytest
import torch

import components

from .peer_loop import STEPS, inputs, run_ours, run_theirs, tiny_wan_pair


pytest.importorskip("diffusers")

MAG_RATIOS = [1.0, 1.0, 0.99, 0.98, 1.0, 0.99, 0.97, 0.95, 0.99, 0.9]


def _compare(theirs, ours, cache, config, probe, on_step=None):
    x, context = inputs()
    theirs.enable_cache(config)
    try:
        x_theirs, outs_theirs, computed_theirs = run_theirs(theirs, x, context, probe(theirs), on_step=on_step)
    finally:
        theirs.disable_cache()
    x_ours, outs_ours, computed_ours = run_ours(ours, cache, x, context)
    assert computed_ours == computed_theirs, f"computed steps differ: ours {computed_ours}, diffusers {computed_theirs}"
    assert 0 < sum(computed_ours) < STEPS, f"the configuration should both compute and skip, got {computed_ours}"
    for i, (a, b) in enumerate(zip(outs_ours, outs_theirs)):
        assert (a - b).abs().max() <= 1e-4, f"step {i}: outputs differ by {(a - b).abs().max():.2e}"
    assert (x_ours - x_theirs).abs().max() <= 1e-4


def _last_ffn(model):
    return model.blocks[-1].ffn


def test_first_block_cache_matches_diffusers():
    from diffusers import FirstBlockCacheConfig

    theirs, ours = tiny_wan_pair()
    _compare(theirs, ours, components.build("cache/first_block", threshold=0.15),
             FirstBlockCacheConfig(threshold=0.15), _last_ffn)


def test_magcache_matches_diffusers():
    from diffusers import MagCacheConfig

    theirs, ours = tiny_wan_pair()
    cfg = dict(threshold=0.06, max_skip_steps=2, retention_ratio=0.2)
    _compare(theirs, ours, components.build("cache/magcache", mag_ratios=MAG_RATIOS, **cfg),
             MagCacheConfig(mag_ratios=MAG_RATIOS, num_inference_steps=STEPS, **cfg), _last_ffn)


def test_taylorseer_matches_diffusers():
    from diffusers import TaylorSeerCacheConfig

    theirs, ours = tiny_wan_pair()
    cfg = dict(cache_interval=3, disable_cache_before_step=2, max_order=1)
    _compare(theirs, ours, components.build("cache/taylorseer", factors_dtype="float32", **cfg),
             TaylorSeerCacheConfig(cache_identifiers=[r"blocks\.\d+"], taylor_factors_dtype=torch.float32, **cfg),
             _last_ffn)


def test_pab_matches_diffusers():
    from diffusers import PyramidAttentionBroadcastConfig

    theirs, ours = tiny_wan_pair()
    now = {}
    config = PyramidAttentionBroadcastConfig(
        spatial_attention_block_skip_range=2, cross_attention_block_skip_range=2,
        spatial_attention_timestep_skip_range=(100, 950), cross_attention_timestep_skip_range=(100, 950),
        current_timestep_callback=lambda: float(now["t"]))
    cache = components.build("cache/pab", spatial_skip=2, cross_skip=2, timestep_range=(100, 950))
    _compare(theirs, ours, cache, config, lambda m: m.blocks[0].attn1.to_q,
             on_step=lambda t: now.__setitem__("t", t))
