"""Guidance wrappers: closed-form combinations, one batched call, SVD's frame ramp, Imagen Video's oscillation."""

from __future__ import annotations

import pytest
import torch

import components
from components.diffusion import Step


class Recorder:
    """x0 = x/(1+σ²) + 3·mean(context); records each call's batch size."""

    def __init__(self):
        self.batches = []

    def __call__(self, x, sigma, context=None):
        self.batches.append(x.shape[0])
        s = sigma.reshape(-1, *([1] * (x.ndim - 1)))
        return x / (1 + s**2) + 3 * context.mean(-1).reshape(-1, *([1] * (x.ndim - 1)))


def _inputs(frames=4):
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, frames, 2, 2, generator=g), torch.tensor([0.5, 2.0]), torch.randn(2, 5, generator=g)


def _branches(x, sigma, ctx, null):
    s = sigma.reshape(-1, 1, 1, 1, 1)
    base = x / (1 + s**2)
    return base + 3 * ctx.mean(-1).reshape(-1, 1, 1, 1, 1), base + 3 * null.mean(-1).reshape(-1, 1, 1, 1, 1)


def test_cfg_scale_form_is_uncond_plus_scale_times_difference_in_one_batched_call():
    den = Recorder()
    x, sigma, ctx = _inputs()
    null = torch.full_like(ctx, 0.25)
    out = components.build("guidance/cfg", denoiser=den, scale=4.0)(x, sigma, context=ctx, uncond={"context": null})
    c, u = _branches(x, sigma, ctx, null)
    torch.testing.assert_close(out, u + 4.0 * (c - u))
    assert den.batches == [4]


def test_cfg_one_plus_w_form_equals_scale_form_with_scale_one_plus_w():
    x, sigma, ctx = _inputs()
    a = components.build("guidance/cfg", denoiser=Recorder(), scale=2.5, form="one_plus_w")(x, sigma, context=ctx)
    c, u = _branches(x, sigma, ctx, torch.zeros_like(ctx))  # missing uncond keys are zeroed
    torch.testing.assert_close(a, 3.5 * c - 2.5 * u)


def test_per_frame_guidance_ramps_linearly_from_min_on_the_first_frame_to_max_on_the_last():
    x, sigma, ctx = _inputs(frames=5)
    out = components.build("guidance/cfg_per_frame", denoiser=Recorder(), min_scale=1.0, max_scale=3.0)(
        x, sigma, context=ctx)
    c, u = _branches(x, sigma, ctx, torch.zeros_like(ctx))
    for f, scale in enumerate([1.0, 1.5, 2.0, 2.5, 3.0]):
        torch.testing.assert_close(out[:, :, f], u[:, :, f] + scale * (c[:, :, f] - u[:, :, f]))


def test_per_frame_guidance_rejects_a_non_video():
    g = components.build("guidance/cfg_per_frame", denoiser=Recorder())
    with pytest.raises(ValueError, match="5-D video B C T H W, got 4-D"):
        g(torch.zeros(2, 3, 4, 4), torch.ones(2), context=torch.zeros(2, 5))


def test_oscillating_guidance_holds_high_then_alternates_per_step():
    x, sigma, ctx = _inputs()
    g = components.build("guidance/oscillating", denoiser=Recorder(), high=15.0, low=1.0, warmup_steps=2)
    c, u = _branches(x, sigma, ctx, torch.zeros_like(ctx))
    weights = []
    for i in range(6):
        out = g(x, sigma, context=ctx, step=Step(i, 6))
        weights.append(round(float(((out - c) / (c - u)).mean()), 4))  # out = c + w (c - u)
    assert weights == [15.0, 15.0, 15.0, 1.0, 15.0, 1.0]
    with pytest.raises(ValueError, match="step must be the sampler's step context"):
        g(x, sigma, context=ctx)


def test_oscillating_guidance_reads_the_samplers_step_so_runs_repeat_and_heun_keeps_one_weight_per_step():
    """Heun calls the denoiser twice per interior step; both calls of step i use w_i (no call counting), and a
    second run of the same sampler gives the same output (nothing carried over)."""
    x, _, ctx = _inputs()
    sigmas = torch.tensor([5.0, 3.0, 2.0, 1.0, 0.0])
    g = components.build("guidance/oscillating", denoiser=Recorder(), high=4.0, low=1.0, warmup_steps=1)
    seen = []

    class Spy:
        takes_step = True

        def __call__(self, x, sigma, *, step=None, **cond):
            seen.append(step.index)
            return g(x, sigma, step=step, **cond)

    heun = components.build("sampler/heun")
    first = heun(Spy(), x * 5, sigmas, extra_args={"context": ctx})
    assert seen == [0, 0, 1, 1, 2, 2, 3]  # the last step to σ = 0 is a plain Euler step
    assert torch.equal(heun(Spy(), x * 5, sigmas, extra_args={"context": ctx}), first)


def test_guidance_drives_a_sampler_through_extra_args():
    den = Recorder()
    g = components.build("guidance/cfg", denoiser=den, scale=2.0)
    x, _, ctx = _inputs()
    sigmas = torch.tensor([5.0, 1.0, 0.0])
    out = components.build("sampler/euler")(g, x * 5, sigmas, extra_args={"context": ctx})
    assert out.shape == x.shape and den.batches == [4, 4]


def test_uncond_keys_the_conditional_call_lacks_are_rejected():
    g = components.build("guidance/cfg", denoiser=Recorder())
    with pytest.raises(ValueError, match=r"uncond has keys \['text'\]"):
        g(torch.zeros(2, 3), torch.ones(2), context=torch.zeros(2, 5), uncond={"text": torch.zeros(2, 5)})
