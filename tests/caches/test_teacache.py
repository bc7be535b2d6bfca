"""TeaCache has no diffusers peer: its skip rule against the paper's formula on recorded inputs, and its reset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import components
from components.caches.teacache import COEFFICIENTS
from components.diffusion.step import Step

from .peer_loop import STEPS, inputs, run_ours, tiny_wan_pair


def _reference_decisions(recorded, coefficients, threshold, retention, compute_last):
    """Liu et al. 2024 eq. 6-8 as TeaCache4Wan2.1 codes it (numpy.poly1d), on the recorded inputs I_0 … I_{N-1}."""
    poly, acc, out = np.poly1d(coefficients), 0.0, []
    for i, current in enumerate(recorded):
        if i < retention or (compute_last and i >= len(recorded) - 1):
            acc, compute = 0.0, True
        else:
            prev = recorded[i - 1]
            acc += poly(((current - prev).abs().mean() / prev.abs().mean()).item())
            compute = acc >= threshold
            if compute:
                acc = 0.0
        out.append(compute)
    return out


def _record_inputs(cache, model, x, context):
    """I_i of every step of an uncached run (the cache's own ``modulated_input``)."""
    seen = []
    original = cache.modulated_input
    cache.modulated_input = lambda *a: seen.append(original(*a).clone()) or seen[-1]
    never = components.build("cache/teacache", threshold=0.0, input=cache.input)
    never.modulated_input = cache.modulated_input
    run_ours(model, never, x, context)
    return seen


@pytest.mark.parametrize("coefficients, threshold", [("identity", 0.3), ("wan2.1_t2v_1.3b", 0.3),
                                                     ("wan2.1_t2v_1.3b_ret", 0.5)])
def test_teacache_skip_rule_is_the_papers_formula(coefficients, threshold):
    _, ours = tiny_wan_pair()
    x, context = inputs()
    cache = components.build("cache/teacache", threshold=threshold, coefficients=coefficients)
    recorded = _record_inputs(cache, ours, x, context)
    assert len(recorded) == STEPS
    coeffs, _, retention, last = COEFFICIENTS[coefficients]
    expected = _reference_decisions(recorded, coeffs, threshold, retention, last)
    sig = torch.linspace(1, 0, STEPS + 1)
    state, got = {}, []
    for i, current in enumerate(recorded):
        cache.step = Step(index=i, num_steps=STEPS, row=i, sigmas=sig)
        decision = cache.decide(state, current)
        state.setdefault("residual", torch.zeros(()))  # a computed step leaves a residual to reuse
        got.append(decision)
    assert got == expected
    assert 0 < sum(expected) < STEPS or coefficients != "identity"


def test_teacache_skipped_step_adds_the_last_residual():
    _, ours = tiny_wan_pair()
    x, context = inputs()
    cache = components.build("cache/teacache", threshold=0.3)
    _, outs, computed = run_ours(ours, cache, x, context)
    assert not all(computed) and computed[0] and computed[-1]


def test_teacache_resets_between_runs():
    _, ours = tiny_wan_pair()
    x, context = inputs()
    cache = components.build("cache/teacache", threshold=0.3)
    first, _, computed1 = run_ours(ours, cache, x, context)
    second, _, computed2 = run_ours(ours, cache, x, context)  # a new run (new Step.tables): the state starts empty
    assert computed2[STEPS:] == computed1 and torch.equal(first, second)
    cache.reset()
    assert cache.stats() == {"calls": 0, "full": 0, "cached": 0}


def test_teacache_threshold_out_of_range_is_refused():
    with pytest.raises(ValueError, match=r"cache/teacache: threshold must be a number >= 0.0, got -0.5"):
        components.build("cache/teacache", threshold=-0.5)
