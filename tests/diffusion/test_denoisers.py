"""Denoiser adapters: a VP network of any parameterization becomes the VE denoiser E[x0 | x]."""

from __future__ import annotations

import math

import pytest
import torch

import components


MEAN = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
COV = torch.tensor([[1.0, 0.3, 0.0], [0.3, 0.5, 0.1], [0.0, 0.1, 0.8]], dtype=torch.float64)


def posterior_mean_vp(z, alpha, sigma):
    """E[x | z] for z = alpha x + sigma eps, x ~ N(MEAN, COV), solved directly (float64)."""
    eye = torch.eye(3, dtype=torch.float64)
    out = []
    for zi, a, s in zip(z, alpha, sigma):
        gain = a * COV @ torch.linalg.inv(a * a * COV + s * s * eye)
        out.append(MEAN + gain @ (zi - a * MEAN))
    return torch.stack(out)


def cosine_alpha_sigma(t):
    """Independent closed form of the [-20, 20]-clipped cosine schedule."""
    b = math.atan(math.exp(-10))
    a = math.atan(math.exp(10)) - b
    phi = a * t + b
    return torch.cos(phi), torch.sin(phi)


def exact_vp_network(parameterization, levels):
    def net(z, time):
        alpha, sigma = levels(time.double())
        x0 = posterior_mean_vp(z.double(), alpha, sigma)
        a, s = alpha.reshape(-1, 1), sigma.reshape(-1, 1)
        eps = (z.double() - a * x0) / s
        return {"eps": eps, "v": a * eps - s * x0, "x0": x0}[parameterization]
    return net


DIFFUSERS_ALPHA_BAR = None


def linear_levels(timestep):
    from diffusers import DDPMScheduler

    global DIFFUSERS_ALPHA_BAR
    if DIFFUSERS_ALPHA_BAR is None:
        DIFFUSERS_ALPHA_BAR = DDPMScheduler(beta_schedule="linear").alphas_cumprod.double()
    ab = DIFFUSERS_ALPHA_BAR[timestep.round().long()]
    return ab.sqrt(), (1 - ab).sqrt()


@pytest.mark.parametrize("parameterization", ["eps", "v", "x0"])
@pytest.mark.parametrize("schedule", ["schedule/cosine", "schedule/linear"])
def test_vp_adapter_of_the_exact_network_is_the_exact_ve_denoiser(parameterization, schedule):
    levels = cosine_alpha_sigma if schedule == "schedule/cosine" else linear_levels
    den = components.build("denoiser/vp", model=exact_vp_network(parameterization, levels), schedule=schedule,
                           parameterization=parameterization)
    if schedule == "schedule/linear":  # levels on the integer training timesteps
        ab = linear_levels(torch.tensor([10.0, 250.0, 600.0, 990.0]))[0].square()
        sigma = ((1 - ab) / ab).sqrt()
    else:
        sigma = torch.tensor([0.01, 0.5, 3.0, 40.0], dtype=torch.float64)
    x = MEAN + torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    expected = components.build("denoiser/gaussian", mean=MEAN.tolist(), cov=COV.tolist())(x, sigma)
    torch.testing.assert_close(den(x, sigma), expected, atol=1e-6, rtol=1e-6)


def test_edm_v_adapter_of_the_exact_v_network_is_the_exact_denoiser():
    def net(x_in, c_noise):
        sigma = torch.exp(4 * c_noise).reshape(-1, 1)
        alpha = 1 / (1 + sigma**2).sqrt()
        z = x_in  # c_in x = x / sqrt(1 + sigma^2) is the VP sample
        x0 = posterior_mean_vp(z, alpha.flatten(), (sigma * alpha).flatten())
        eps = (z - alpha * x0) / (sigma * alpha)
        return alpha * eps - sigma * alpha * x0

    den = components.build("denoiser/edm", model=net, preconditioning="preconditioning/edm_v")
    x = torch.randn(3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3
    sigma = torch.tensor([0.05, 1.0, 20.0], dtype=torch.float64)
    expected = components.build("denoiser/gaussian", mean=MEAN.tolist(), cov=COV.tolist())(x, sigma)
    torch.testing.assert_close(den(x, sigma), expected, atol=1e-6, rtol=1e-6)


def test_gaussian_denoiser_matches_the_linear_solve():
    den = components.build("denoiser/gaussian", mean=MEAN.tolist(), cov=COV.tolist())
    x = torch.randn(2, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    sigma = torch.tensor([0.3, 2.0], dtype=torch.float64)
    expected = posterior_mean_vp(x, torch.ones(2, dtype=torch.float64), sigma)
    torch.testing.assert_close(den(x, sigma), expected)


def test_discrete_adapter_feeds_the_training_timestep():
    seen = []

    def net(z, time):
        seen.append(time)
        return torch.zeros_like(z)

    den = components.build("denoiser/vp", model=net, schedule="schedule/linear", quantize=True)
    ab = linear_levels(torch.tensor([37.0, 512.0]))[0].square()
    den(torch.zeros(2, 3), ((1 - ab) / ab).sqrt().float())
    torch.testing.assert_close(seen[0], torch.tensor([37.0, 512.0]))


def test_config_excludes_the_network_and_rebinds_one():
    net = exact_vp_network("v", cosine_alpha_sigma)
    den = components.build("denoiser/vp", model=net, schedule="schedule/cosine", parameterization="v")
    cfg = components.config_of(den)
    assert cfg == {"type": "denoiser/vp", "schedule": {"type": "schedule/cosine", "logsnr_min": -20.0,
                                                       "logsnr_max": 20.0},
                   "parameterization": "v", "model_time": "auto", "quantize": False}
    again = components.build(cfg, model=net)
    x, sigma = torch.ones(1, 3, dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)
    torch.testing.assert_close(again(x, sigma), den(x, sigma))


def test_unbound_adapter_says_how_to_bind_a_network():
    den = components.build("denoiser/vp")
    with pytest.raises(ValueError, match="no model bound"):
        den(torch.zeros(1, 3), torch.ones(1))


def test_mismatched_sigma_shape_is_rejected():
    den = components.build("denoiser/vp", model=lambda z, t: z)
    with pytest.raises(ValueError, match="sigma must be a scalar or have one entry per sample"):
        den(torch.zeros(2, 3), torch.ones(3))
