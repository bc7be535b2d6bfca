"""ControlVideo's interleaved-frame smoother: a video linear in time is a fixed point of the linear interpolator;
the right frames are replaced at the right steps; keep_eps reproduces ControlVideo's DDIM update exactly."""

from __future__ import annotations

import pytest
import torch

import components
from components.diffusion import Step, smooth_frames


def linear_video(frames=7):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 3, 1, 4, 4, generator=g), torch.randn(2, 3, 1, 4, 4, generator=g)
    return a + b * torch.arange(frames, dtype=torch.float32).reshape(1, 1, -1, 1, 1)


def constant_denoiser(value):
    return lambda x, sigma, **cond: value.clone()


@pytest.mark.parametrize("frames", [2, 5, 8])
@pytest.mark.parametrize("mode", ["alternate", "odd", "even"])
def test_linear_in_time_video_is_unchanged(frames, mode):
    video = linear_video(frames)
    smoother = components.build("wrapper/interleaved_smoother", denoiser=constant_denoiser(video), frames=mode)
    for i in range(3):
        torch.testing.assert_close(smoother(torch.zeros_like(video), torch.ones(2), step=Step(i, 3)), video)


def test_odd_frames_become_neighbour_midpoints_and_the_rest_stays():
    x0 = torch.randn(1, 2, 6, 3, 3, generator=torch.Generator().manual_seed(1))
    out = smooth_frames(x0, parity=1)
    for j in (1, 3):
        torch.testing.assert_close(out[:, :, j], (x0[:, :, j - 1] + x0[:, :, j + 1]) / 2)
    for j in (0, 2, 4, 5):  # other parity, and the last frame with a single neighbour
        assert torch.equal(out[:, :, j], x0[:, :, j])


def test_alternates_parity_on_the_chosen_steps_only():
    x0 = torch.randn(1, 1, 5, 1, 1, generator=torch.Generator().manual_seed(2))
    smoother = components.build("wrapper/interleaved_smoother", denoiser=constant_denoiser(x0), steps=[1, 2])
    outs = [smoother(torch.zeros_like(x0), torch.ones(1), step=Step(i, 4)) for i in range(4)]
    assert torch.equal(outs[0], x0) and torch.equal(outs[3], x0)
    torch.testing.assert_close(outs[1], smooth_frames(x0, parity=0))  # odd step: even frames
    torch.testing.assert_close(outs[2], smooth_frames(x0, parity=1))  # even step: odd frames
    # the step comes from the context, not from counting: the same step again gives the same output
    torch.testing.assert_close(smoother(torch.zeros_like(x0), torch.ones(1), step=Step(1, 4)), outs[1])


def test_a_sampler_hands_the_smoother_its_step_and_a_second_run_repeats_the_first():
    x0 = torch.randn(1, 1, 5, 1, 1, generator=torch.Generator().manual_seed(2))
    smoother = components.build("wrapper/interleaved_smoother", denoiser=constant_denoiser(x0), steps=[1])
    sigmas = torch.tensor([3.0, 2.0, 1.0, 0.0])
    seen = []
    first = components.build("sampler/euler")(smoother, torch.zeros_like(x0), sigmas,
                                              callback=lambda d: seen.append(d["denoised"]))
    assert torch.equal(seen[0], x0) and torch.equal(seen[2], x0)
    torch.testing.assert_close(seen[1], smooth_frames(x0, parity=0))
    assert torch.equal(components.build("sampler/euler")(smoother, torch.zeros_like(x0), sigmas), first)


def test_custom_interpolator_is_used():
    x0 = torch.zeros(1, 1, 5, 1, 1)
    smoother = components.build("wrapper/interleaved_smoother", denoiser=constant_denoiser(x0), frames="odd",
                                interpolator=lambda prev, nxt: torch.full_like(prev, 7.0))
    out = smoother(x0, torch.ones(1), step=Step(0, 1))
    assert out[0, 0, :, 0, 0].tolist() == [0.0, 7.0, 0.0, 7.0, 0.0]


def test_keep_eps_reproduces_controlvideos_update():
    """One Euler (= DDIM η=0) step with the wrapper equals x' = S + σ' ε̂, ε̂ = (x − x̂0)/σ of the unsmoothed x̂0."""
    g = torch.Generator().manual_seed(3)
    x, x0 = torch.randn(1, 2, 5, 2, 2, generator=g) * 3, torch.randn(1, 2, 5, 2, 2, generator=g)
    sigmas = torch.tensor([3.0, 2.0])
    smoother = components.build("wrapper/interleaved_smoother", denoiser=constant_denoiser(x0), frames="odd",
                                keep_eps=True)
    out = components.build("sampler/euler")(smoother, x, sigmas)
    expected = smooth_frames(x0, 1) + sigmas[1] * (x - x0) / sigmas[0]
    torch.testing.assert_close(out, expected)


def test_keep_eps_needs_the_grid_of_the_step_context():
    x0 = torch.zeros(1, 1, 5, 1, 1)
    smoother = components.build("wrapper/interleaved_smoother", denoiser=constant_denoiser(x0), keep_eps=True)
    with pytest.raises(ValueError, match="keep_eps=True needs the step context's sigmas"):
        smoother(x0, torch.ones(1), step=Step(0, 4))
