"""The flow schedule's ``trailing`` spacing and ``shift_terminal`` against diffusers' FlowMatchEulerDiscreteScheduler
fed the ``sigmas`` the HunyuanVideo and LTX-Video pipelines pass (peer: diffusers 0.42).

Tolerance: diffusers builds its grid in float32 (numpy sigmas cast to fp32 tensors, the shift in fp32); ours is
float64. A few fp32 operations on values in [0, 1] differ by a few ulp of 1 (2^-24 ≈ 6e-8): bound 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import components


diffusers = pytest.importorskip("diffusers")


@pytest.mark.parametrize("steps", [1, 2, 7, 50])
def test_trailing_grid_is_hunyuan_video_pipelines(steps):
    """HunyuanVideo: ``sigmas = np.linspace(1, 0, n + 1)[:-1]`` through the scheduler's static shift 7."""
    ref = diffusers.FlowMatchEulerDiscreteScheduler(shift=7.0)
    ref.set_timesteps(sigmas=np.linspace(1.0, 0.0, steps + 1)[:-1])
    ours = components.build("schedule/rectified_flow", shift=7.0).timesteps(steps, "trailing")
    torch.testing.assert_close(ours, ref.sigmas[:-1].double(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("steps", [2, 50])
def test_trailing_grid_with_dynamic_shift_and_terminal_is_ltx_pipelines(steps):
    """LTX-Video: ``sigmas = np.linspace(1, 1/n, n)``, the dynamic shift μ and the stretch to ``shift_terminal`` 0.1
    (the LTX-Video scheduler config: base/max shift 0.95/2.05 over 1024/4096 tokens)."""
    ref = diffusers.FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
                                                    base_image_seq_len=1024, max_image_seq_len=4096,
                                                    shift_terminal=0.1)
    mu = 1.7
    ref.set_timesteps(sigmas=np.linspace(1.0, 1.0 / steps, steps), mu=mu)
    ours = components.build("schedule/rectified_flow", mu=mu, shift_terminal=0.1).timesteps(steps, "trailing")
    torch.testing.assert_close(ours, ref.sigmas[:-1].double(), rtol=0, atol=1e-6)
    assert ours[-1].item() == pytest.approx(0.1, abs=1e-12)


def test_one_step_trailing_grid_is_pure_noise_even_with_a_terminal_stretch():
    """One step: the grid is [1] (nothing to stretch; diffusers' stretch would divide by zero), finite."""
    sched = components.build("schedule/rectified_flow", mu=1.7, shift_terminal=0.1)
    assert sched.timesteps(1, "trailing").tolist() == [1.0]
    assert torch.isfinite(sched.sigmas(1, "trailing")).all()


def test_linspace_grid_unchanged_and_spacing_refused():
    sched = components.build("schedule/rectified_flow", shift=3.0)
    ref = diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0)
    ref.set_timesteps(10)
    torch.testing.assert_close(sched.timesteps(10), ref.sigmas[:-1].double(), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match=r"spacing must be one of \('linspace', 'trailing'\), got 'leading'"):
        sched.timesteps(10, "leading")
    with pytest.raises(ValueError, match="shift_terminal must be in"):
        components.build("schedule/rectified_flow", shift_terminal=0.0)
