"""Peer equivalence with diffusers 0.42 schedulers on one deterministic toy model (issue #3 item 8).

Bridged conventions (docs/diffusion.md lists them): diffusers samples VP latents z for DDIM / DPM-Solver++ and
VE latents x = z/α for the k-diffusion-style schedulers (Euler, Euler ancestral, Heun); ours are always VE, so the
start is converted with α_T = 1/sqrt(1 + σ_T²) and the end (σ = 0, α = 1) needs no conversion. Timesteps use integer
spacings ("leading"/"trailing"/DPM's rounded linspace) so both sides feed the network the same timestep. The
stochastic ones share the noise by drawing from identically seeded generators in the same order: one
randn(x.shape) per step.
"""

from __future__ import annotations

import pytest
import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
)

import components


SD = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
STEPS = 10


def toy_model(z, t):
    """Deterministic smooth stand-in for a network: depends on the sample and the timestep."""
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1, *([1] * (z.ndim - 1)))
    return 0.3 * z * torch.cos(1.3 * t / 1000) + 0.1 * torch.sin(2 * z)


def start(sigma_max, seed=0):
    return torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(seed)) * sigma_max


def run_diffusers(scheduler, sample, generator=None, **step_kwargs):
    for t in scheduler.timesteps:
        out = toy_model(scheduler.scale_model_input(sample, t), t)
        kwargs = {"generator": generator} if generator is not None else {}
        sample = scheduler.step(out, t, sample, **kwargs, **step_kwargs).prev_sample
    return sample


def denoiser(schedule, prediction):
    return components.build("denoiser/vp", model=toy_model, schedule=schedule, parameterization=prediction)


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_matches_diffusers(prediction, eta):
    ref = DDIMScheduler(beta_schedule="linear", clip_sample=False, prediction_type=prediction,
                        timestep_spacing="leading", set_alpha_to_one=True)
    ref.set_timesteps(STEPS)
    ab = ref.alphas_cumprod[ref.timesteps].double()
    sigmas = torch.cat([((1 - ab) / ab).sqrt(), torch.zeros(1, dtype=torch.float64)]).float()
    x_t = start(float(sigmas[0]))
    z_t = x_t / (1 + sigmas[0] ** 2).sqrt()
    expected = run_diffusers(ref, z_t.clone(), torch.Generator().manual_seed(7) if eta else None, eta=eta)
    ours = components.build("sampler/ddim", eta=eta)(denoiser("schedule/linear", prediction), x_t, sigmas,
                                                     generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name,cls,stochastic", [("euler", EulerDiscreteScheduler, False),
                                                 ("euler_ancestral", EulerAncestralDiscreteScheduler, True),
                                                 ("heun", HeunDiscreteScheduler, False)])
def test_k_style_samplers_match_diffusers(name, cls, stochastic):
    ref = cls(timestep_spacing="trailing", **SD)
    ref.set_timesteps(STEPS)
    sigmas = EulerDiscreteScheduler(timestep_spacing="trailing", **SD)
    sigmas.set_timesteps(STEPS)
    sigmas = sigmas.sigmas.float()
    x_t = start(float(sigmas[0]))
    expected = run_diffusers(ref, x_t.clone(), torch.Generator().manual_seed(3) if stochastic else None)
    ours = components.build(f"sampler/{name}")(denoiser("schedule/scaled_linear", "eps"), x_t, sigmas,
                                               generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_dpmpp_2m_matches_diffusers(prediction):
    ref = DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=2, prediction_type=prediction, **SD)
    ref.set_timesteps(STEPS)
    sigmas = ref.sigmas.float()
    x_t = start(float(sigmas[0]))
    expected = run_diffusers(ref, x_t / (1 + sigmas[0] ** 2).sqrt())
    ours = components.build("sampler/dpmpp_2m")(denoiser("schedule/scaled_linear", prediction), x_t, sigmas)
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)


def test_euler_ancestral_matches_diffusers_with_a_replayed_noise_sequence():
    """The other way to share noise: pre-draw the sequence and replay it through ``noise_sampler``."""
    ref = EulerAncestralDiscreteScheduler(timestep_spacing="trailing", **SD)
    ref.set_timesteps(STEPS)
    sigmas = ref.sigmas.float()
    x_t = start(float(sigmas[0]))
    draw = torch.Generator().manual_seed(11)
    noise = [torch.randn(x_t.shape, generator=draw) for _ in range(STEPS)]
    replay = torch.Generator().manual_seed(11)
    expected = run_diffusers(ref, x_t.clone(), replay)
    ours = components.build("sampler/euler_ancestral")(denoiser("schedule/scaled_linear", "eps"), x_t, sigmas,
                                                       noise_sampler=lambda k: noise[k])
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)
