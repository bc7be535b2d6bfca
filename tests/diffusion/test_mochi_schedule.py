"""``schedule/linear_quadratic`` (Mochi 1's sampling grid) against diffusers' ``linear_quadratic_schedule`` (its own
code, pipeline_mochi.py): the same float64 arithmetic, so equal to 1e-12; the process itself is rectified flow's."""

from __future__ import annotations

import pytest
import torch

import components


diffusers = pytest.importorskip("diffusers")


@pytest.mark.parametrize("steps", [2, 3, 7, 64])
@pytest.mark.parametrize("threshold", [0.025, 0.1])
def test_linear_quadratic_grid_is_diffusers(steps, threshold):
    from diffusers.pipelines.mochi.pipeline_mochi import linear_quadratic_schedule

    schedule = components.build("schedule/linear_quadratic", threshold_noise=threshold)
    expected = torch.tensor(linear_quadratic_schedule(steps, threshold), dtype=torch.float64)
    torch.testing.assert_close(schedule.timesteps(steps), expected, atol=1e-12, rtol=0)
    sigmas = schedule.sigmas(steps)
    assert sigmas.shape == (steps + 1,) and sigmas[-1] == 0 and bool((sigmas[:-1] > sigmas[1:]).all())


def test_one_step_goes_from_noise_to_data():
    """diffusers' formula divides by zero at one step; ours is the one Euler step from t = 1 to 0."""
    schedule = components.build("schedule/linear_quadratic")
    torch.testing.assert_close(schedule.timesteps(1), torch.ones(1, dtype=torch.float64))
    assert schedule.sigmas(1)[-1] == 0


def test_linear_quadratic_process_is_rectified_flow():
    t = torch.tensor([0.1, 0.5, 0.9])
    ours, flow = components.build("schedule/linear_quadratic"), components.build("schedule/rectified_flow")
    for a, b in zip(ours(t), flow(t), strict=True):
        torch.testing.assert_close(a, b)


def test_linear_quadratic_refuses_bad_arguments():
    with pytest.raises(ValueError, match="threshold_noise must be in"):
        components.build("schedule/linear_quadratic", threshold_noise=0.0)
    with pytest.raises(ValueError, match="num_steps must be >= 1"):
        components.build("schedule/linear_quadratic").timesteps(0)
    with pytest.raises(ValueError, match="linear_steps must be in"):
        components.build("schedule/linear_quadratic", linear_steps=5).timesteps(4)
