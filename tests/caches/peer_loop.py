"""The shared sampler loop of the cache peer tests: diffusers' tiny Wan transformer and ours converted from it, each
stepped by flow-matching Euler on the same grid from the same noise, one network call per step."""

from __future__ import annotations

import torch

from components.diffusion.step import Step


STEPS = 10


def tiny_wan_pair(seed: int = 0):
    """``(diffusers WanTransformer3DModel, ours via zoo.from_diffusers)``: the tiny T2V config, perturbed weights."""
    import diffusers

    import zoo
    from zoo.testing.tiny_pipelines import _perturb
    from zoo.testing.tiny_wan import WAN_T2V

    torch.manual_seed(seed)
    theirs = _perturb(diffusers.WanTransformer3DModel(**WAN_T2V))
    ours = zoo.from_diffusers(theirs).eval()
    return theirs, ours


def inputs(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 16, 3, 8, 8, generator=g), torch.randn(1, 6, 32, generator=g)


def grid(steps: int = STEPS) -> torch.Tensor:
    """Flow times 1 → 0 with Wan's shift 3 (σ' = sσ / (1 + (s − 1)σ))."""
    s = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    return 3.0 * s / (1 + 2.0 * s)


def run_theirs(model, x, context, probe, steps: int = STEPS, on_step=None):
    """diffusers' net over the loop; ``probe``: a submodule whose forward runs only when the step is computed."""
    computed, outs, sig = [], [], grid(steps)
    hits = []
    handle = probe.register_forward_pre_hook(lambda *a: hits.append(1))
    try:
        with torch.no_grad(), model.cache_context("cond"):
            for i in range(steps):
                before = len(hits)
                t = (sig[i] * 1000).float().reshape(1)
                if on_step is not None:
                    on_step(t)
                v = model(hidden_states=x, timestep=t, encoder_hidden_states=context, return_dict=False)[0]
                computed.append(len(hits) > before)
                outs.append(v)
                x = x + (sig[i + 1] - sig[i]).float() * v
    finally:
        handle.remove()
    return x, outs, computed


def run_ours(model, cache, x, context, steps: int = STEPS):
    """Our net over the same loop through ``cache(model, x, t, step=Step(...))``; the cache's record of each call."""
    outs, sig, run = [], grid(steps), {}
    with torch.no_grad():
        for i in range(steps):
            t = (sig[i] * 1000).float().reshape(1)
            v = cache(model, x, t, step=Step(index=i, num_steps=steps, row=i, sigmas=sig, tables=run), context=context)
            outs.append(v)
            x = x + (sig[i + 1] - sig[i]).float() * v
    return x, outs, [computed for _, computed in cache.calls]
