"""``pipe(..., cache=)``: every cache on a DiT recipe, the run's network evaluations, reset between calls, refusals."""

from __future__ import annotations

import pytest
import torch

import components
import zoo
from components.caches import parse_cache_spec


SPECS = {"cache/first_block": "first_block:threshold=0.1", "cache/teacache": "teacache:threshold=0.3",
         "cache/magcache": {"type": "magcache", "mag_ratios": [1.0, 0.99, 0.98, 0.97, 0.96, 0.95]},
         "cache/taylorseer": "taylorseer:cache_interval=2,disable_cache_before_step=1",
         "cache/pab": "pab:spatial_skip=2,temporal_skip=2,timestep_range=[-1,2000]"}


@pytest.fixture(scope="module")
def latte():
    return zoo.create_pipeline("latte", "tiny")


def test_every_cache_has_a_pipeline_spec():
    assert sorted(SPECS) == components.list_components("cache/*")


@pytest.mark.parametrize("key", sorted(SPECS))
def test_cache_saves_network_evaluations_on_a_dit_recipe(latte, key):
    reference = latte(num_inference_steps=6)
    assert latte.last_run_stats == {"calls": 6, "full": 6, "cached": 0, "cache": None}
    out = latte(num_inference_steps=6, cache=SPECS[key])
    stats = latte.last_run_stats
    assert stats["cache"] == key and stats["calls"] == 6 and 0 < stats["cached"] < 6
    assert out.shape == reference.shape and torch.isfinite(out).all()


def test_cached_call_is_reset_between_calls(latte):
    cache = components.build("cache/first_block", threshold=0.1)
    first = latte(num_inference_steps=6, cache=cache)
    stats = dict(latte.last_run_stats)
    assert torch.equal(first, latte(num_inference_steps=6, cache=cache)) and latte.last_run_stats == stats


def test_block_caches_refuse_a_unet_recipe_and_pab_runs_on_it():
    pipe = zoo.create_pipeline("modelscope_t2v", "tiny")
    cond = pipe.example_conditioning()
    with pytest.raises(ValueError, match="has no block structure it needs"):
        pipe(num_inference_steps=4, cache="first_block", **cond)
    pipe(num_inference_steps=4, cache="pab:spatial_skip=2,timestep_range=[-1,2000]", **cond)
    assert pipe.last_run_stats["cached"] > 0


def test_each_expert_keeps_its_own_state():
    pipe = zoo.create_pipeline("wan2_2_t2v_a14b", "tiny")
    cond = pipe.example_conditioning()
    pipe(num_inference_steps=6, cache="taylorseer:cache_interval=2,disable_cache_before_step=1", **cond)
    assert pipe.last_run_stats["calls"] == 6 and pipe.last_run_stats["cached"] > 0


@pytest.mark.parametrize("spec, match", [("magcache:retention_ratio=2", "retention_ratio must be a number in"),
                                         ("pab:spatial_skip=0", "spatial_skip must be an integer >= 1"),
                                         ("taylorseer:cache_interval=0", "cache_interval must be an integer >= 1")])
def test_knob_out_of_range_is_refused(latte, spec, match):
    with pytest.raises(ValueError, match=match):
        latte(num_inference_steps=2, cache=spec)


def test_cache_spec_parses_knobs():
    assert parse_cache_spec("magcache:threshold=0.1,mag_ratios=[1,0.9],calibrate=true") == {
        "type": "cache/magcache", "threshold": 0.1, "mag_ratios": [1, 0.9], "calibrate": True}
