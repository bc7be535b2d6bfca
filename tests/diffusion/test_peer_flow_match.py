"""Peer: diffusers' FlowMatchEulerDiscreteScheduler (SD3 / Flux / Wan / HunyuanVideo's sampler) against our
``schedule/rectified_flow`` + ``denoiser/vp`` (parameterization ``flow``) + ``sampler/euler`` in VE σ.

Bridged conventions: diffusers' ``sigmas`` are our flow times t (its ``timesteps`` are 1000 t, what its network
gets); its sample is z_t, ours is the VE sample x = z_t / (1 − t). Both end at t = 0, where the two coincide. Our grid
starts at t = 1 − 1e-6 instead of 1 (σ_VE = ∞ there), which moves the first network input by one part in 10⁶.
"""

from __future__ import annotations

import pytest
import torch

import components
from components.diffusion.rectified_flow import shift_mu


diffusers = pytest.importorskip("diffusers")


def velocity(z, t):
    """A nonlinear toy velocity model u(z, t), t ∈ [0, 1] (what diffusers calls with timestep / 1000)."""
    t = t.reshape(-1, *([1] * (z.ndim - 1))).to(z.dtype)
    return torch.tanh(1.5 * z) * (1 + t) - 0.3 * z * t.square() + 0.2 * torch.sin(3 * z + t)


def diffusers_run(noise, steps, **config):
    mu = config.pop("mu", None)
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(**config)
    scheduler.set_timesteps(steps, mu=mu)
    z = noise.clone()
    for timestep in scheduler.timesteps:
        u = velocity(z, (timestep / 1000).expand(z.shape[0]))
        z = scheduler.step(u, timestep, z).prev_sample
    return z, scheduler.sigmas


def ours(noise, steps, **schedule_kwargs):
    schedule = components.build("schedule/rectified_flow", **schedule_kwargs)
    denoiser = components.build("denoiser/vp", model=velocity, schedule=schedule, parameterization="flow",
                                model_time="t")
    sigmas = schedule.sigmas(steps)
    return components.build("sampler/euler")(denoiser, noise * sigmas[0], sigmas), schedule


CASES = [
    ({"shift": 1.0}, {"shift": 1.0}),
    ({"shift": 3.0}, {"shift": 3.0}),
    ({"use_dynamic_shifting": True, "mu": shift_mu(1024)}, {"mu": shift_mu(1024)}),
    ({"use_dynamic_shifting": True, "mu": shift_mu(4096)}, {"mu": shift_mu(4096)}),
]


@pytest.mark.parametrize("theirs_cfg,ours_cfg", CASES, ids=["shift1", "shift3", "dynamic1024", "dynamic4096"])
def test_flow_match_euler_equals_euler_in_ve_sigma(theirs_cfg, ours_cfg):
    noise = torch.randn(2, 3, 4, 6, 6, generator=torch.Generator().manual_seed(0))
    expected, their_sigmas = diffusers_run(noise, 20, **theirs_cfg)
    got, schedule = ours(noise, 20, **ours_cfg)
    # the grids: our times are diffusers' sigmas
    torch.testing.assert_close(schedule.timesteps(20).float(), their_sigmas[:-1], atol=1e-6, rtol=0)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
