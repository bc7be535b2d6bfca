"""Rectified flow / flow matching: the schedule, the velocity parameterization, training times, and sampling a flow
model with the VE samplers — against diffusers' FlowMatchEulerDiscreteScheduler (its own code) and against the exact
velocity field of Gaussian data (written here from the Gaussian's conditional mean, not from the code under test)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import components
from components.diffusion.rectified_flow import T_EPS, exponential_shift, flow_shift, shift_mu, video_tokens


def rf(**kw):
    return components.build("schedule/rectified_flow", **kw)


# ----------------------------------------------------------------------------------------------- the schedule
@given(st.floats(0.0, 1.0))
def test_path_and_ve_conversion(t):
    s = rf()
    a, sig = s(torch.tensor([t], dtype=torch.float64))
    assert float(a + sig) == pytest.approx(1.0)
    if t < 1:
        sigma_ve = s.to_sigma(torch.tensor([t], dtype=torch.float64))
        assert float(sigma_ve) == pytest.approx(t / (1 - t), rel=1e-12, abs=1e-300)
        assert float(s.t_from_sigma(sigma_ve)) == pytest.approx(t, abs=1e-12)
        assert float(s._alpha_from_sigma(sigma_ve)) == pytest.approx(1 - t, abs=1e-12)
    if 1e-6 < t < 1 - 1e-6:
        assert float(s.log_snr(torch.tensor(t, dtype=torch.float64))) == pytest.approx(2 * math.log((1 - t) / t))


def test_shifts():
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    torch.testing.assert_close(flow_shift(t, 1.0), t)
    torch.testing.assert_close(flow_shift(t, 3.0), 3 * t / (1 + 2 * t))
    torch.testing.assert_close(exponential_shift(t, math.log(3.0)), flow_shift(t, 3.0))
    assert shift_mu(256) == pytest.approx(0.5) and shift_mu(4096) == pytest.approx(1.15)
    assert video_tokens(8, 32, 32) == 8 * 16 * 16
    # a longer or larger video is shifted further towards noise
    assert shift_mu(video_tokens(16, 32, 32)) > shift_mu(video_tokens(8, 32, 32))


@pytest.mark.parametrize("call,match", [
    (lambda: rf(shift=0.0), "shift must be > 0"),
    (lambda: rf(shift=-2.0), "got -2.0"),
    (lambda: flow_shift(0.5, 0), "shift must be > 0"),
    (lambda: rf()(torch.tensor([1.2])), r"t must lie in \[0, 1\]"),
    (lambda: rf().timesteps(0), "num_steps must be >= 1"),
    (lambda: video_tokens(7, 32, 32, (2, 2, 2)), "frames=7"),
    (lambda: components.build("timesteps/logit_normal", std=-1.0), "std must be > 0"),
])
def test_bad_inputs_name_the_argument_and_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_grid_starts_just_below_pure_noise_and_ends_at_zero():
    sigmas = rf(shift=3.0).sigmas(20)
    assert sigmas.shape == (21,) and float(sigmas[-1]) == 0.0
    assert bool((sigmas[1:] < sigmas[:-1]).all())
    t0 = float(sigmas[0] / (1 + sigmas[0]))
    assert t0 == pytest.approx(1 - T_EPS, abs=1e-7)


# ----------------------------------------------------------------------------------------- the parameterization
levels = st.floats(0.02, 0.98)


@given(levels, st.integers(0, 2**31 - 1))
def test_flow_round_trips(t, seed):
    g = torch.Generator().manual_seed(seed)
    x0, eps = torch.randn(2, 3, 2, 4, 4, generator=g), torch.randn(2, 3, 2, 4, 4, generator=g)
    p = components.build("parameterization/flow")
    alpha, sigma = torch.tensor(1 - t), torch.tensor(t)
    z = alpha * x0 + sigma * eps
    u = p.target(x0, eps, alpha, sigma)
    torch.testing.assert_close(u, eps - x0)
    torch.testing.assert_close(p.to_x0(u, z, alpha, sigma), x0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(p.to_eps(u, z, alpha, sigma), eps, atol=1e-5, rtol=1e-5)
    assert p.to_x0(u.bfloat16(), z.bfloat16(), alpha, sigma).dtype == torch.float32


@given(st.floats(0.01, 50.0), st.integers(0, 2**31 - 1))
def test_flow_velocity_and_v_prediction_at_the_same_noise_level(sigma_ve, seed):
    """At VE level s both paths see x = x0 + s ε; RF scales it by α_r = 1/(1+s), VP by α_v = 1/sqrt(1+s²). The VP
    target v = α_v ε − σ_v x0 is (α_v − σ_v) z_r + (α_v α_r + σ_v σ_r) u of the RF sample z_r and velocity u."""
    g = torch.Generator().manual_seed(seed)
    x0, eps = torch.randn(64, generator=g, dtype=torch.float64), torch.randn(64, generator=g, dtype=torch.float64)
    a_r, s_r = 1 / (1 + sigma_ve), sigma_ve / (1 + sigma_ve)
    a_v, s_v = 1 / math.sqrt(1 + sigma_ve**2), sigma_ve / math.sqrt(1 + sigma_ve**2)
    flow, vpar = components.build("parameterization/flow"), components.build("parameterization/v")
    z_r = a_r * x0 + s_r * eps
    u = flow.target(x0, eps, a_r, s_r)
    v = vpar.target(x0, eps, a_v, s_v)
    torch.testing.assert_close(v, (a_v - s_v) * z_r + (a_v * a_r + s_v * s_r) * u)
    # and both recover the same x0 from their own sample
    torch.testing.assert_close(vpar.to_x0(v, (a_v / a_r) * z_r, a_v, s_v), flow.to_x0(u, z_r, a_r, s_r))


@given(st.floats(-8.0, 8.0))
def test_flow_target_error_factor(log_snr):
    """‖û − u‖² = (1 + sqrt(SNR))² ‖x̂0 − x0‖² (x̂0 − x0 = −t (û − u) with t = 1/(1 + e^{λ/2}))."""
    from components.diffusion.weighting import target_error_factor

    t = 1 / (1 + math.exp(log_snr / 2))
    f = float(target_error_factor(torch.tensor(log_snr, dtype=torch.float64), "flow"))
    assert f == pytest.approx(1 / t**2, rel=1e-9)


# ----------------------------------------------------------------------------------------------- training times
def test_uniform_timesteps_are_the_trainers_plain_rand_draw():
    draw = components.build("timesteps/uniform")(16, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(draw, torch.rand(16, generator=torch.Generator().manual_seed(3)), rtol=0, atol=0)


def test_timestep_distributions_match_their_formulas():
    n = 200_000
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    t = components.build("timesteps/logit_normal", mean=0.5, std=0.7)(n, generator=g())
    logit = torch.log(t / (1 - t))
    assert float(logit.mean()) == pytest.approx(0.5, abs=0.01) and float(logit.std()) == pytest.approx(0.7, abs=0.01)
    # mode sampling with scale 0 is uniform; with scale > 0 it puts more mass in the middle than the tails
    u = components.build("timesteps/mode", scale=0.0)(n, generator=g())
    torch.testing.assert_close(u, 1 - torch.rand(n, generator=g()))
    m = components.build("timesteps/mode", scale=1.29)(n, generator=g())
    middle = lambda x: float(((x > 0.25) & (x < 0.75)).double().mean())  # noqa: E731
    assert middle(m) > middle(u) + 0.05
    # CosMap: P(t <= 1/2) = P(tan(π u/2) <= 1) = 1/2
    c = components.build("timesteps/cosine_map")(n, generator=g())
    assert float((c <= 0.5).double().mean()) == pytest.approx(0.5, abs=0.005)
    # a shift moves training times towards noise exactly as it moves the sampling grid
    shifted = components.build("timesteps/uniform", shift=3.0)(8, generator=g())
    torch.testing.assert_close(shifted, flow_shift(torch.rand(8, generator=g()), 3.0))


# ------------------------------------------------------------------------ sampling a flow model through VE σ
MEAN = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
COV = torch.tensor([[1.0, 0.4, 0.0], [0.4, 0.6, 0.1], [0.0, 0.1, 0.3]], dtype=torch.float64)


def gaussian_velocity(z, t):
    """E[ε − x | z_t] for x ~ N(MEAN, COV), z = (1 − t) x + t ε: (z − E[x | z]) / t, E[x|z] the Gaussian posterior."""
    t = t.reshape(-1, 1).to(z.dtype)
    eye = torch.eye(len(MEAN), dtype=z.dtype)
    out = []
    for zi, ti in zip(z, t):
        a, s = 1 - ti, ti
        gain = a * COV @ torch.linalg.inv(a**2 * COV + s**2 * eye)
        x_hat = MEAN + gain @ (zi - a * MEAN)
        out.append((zi - x_hat) / ti)
    return torch.stack(out)


def flow_denoiser(schedule, log=None):
    def net(z, t):
        if log is not None:
            log.append((z.clone(), t.clone()))
        return gaussian_velocity(z, t)

    return components.build("denoiser/vp", model=net, schedule=schedule, parameterization="flow", model_time="t")


def exact_moments(sampler, denoiser, sigmas):
    """Mean and covariance of the (affine) deterministic sampler's output for x_T ~ N(MEAN, COV + σ_0² I)."""
    d = len(MEAN)
    x = MEAN.repeat(1 + d, 1)
    x[1:] += torch.eye(d, dtype=torch.float64)
    out = sampler(denoiser, x, sigmas)
    a = (out[1:] - out[0]).T
    return out[0], a @ (COV + sigmas[0] ** 2 * torch.eye(d, dtype=torch.float64)) @ a.T


def cov_error(key, shift, steps):
    schedule = rf(shift=shift)
    mean, cov = exact_moments(components.build(key), flow_denoiser(schedule), schedule.sigmas(steps).double())
    torch.testing.assert_close(mean, MEAN, atol=1e-6, rtol=0)  # every affine sampler keeps the mean exactly
    return float((cov - COV).norm() / COV.norm())


# Measured (float64, this Gaussian): Euler 0.065 / 0.032 at 40 / 80 steps (shift 1), DPM++ 2M 0.013 / 0.0026
# (shift 1) and 0.069 / 0.015 (shift 3, whose grid spends its steps near noise). Heun is left out on purpose: in VE σ
# its first step spans σ ≈ 1e6 → σ_1 and its correction multiplies D(σ_0) − D(σ_1) by ~1e6/σ_1 (docs/diffusion.md).
@pytest.mark.parametrize("key,steps,tol", [("sampler/euler", 200, 0.03), ("sampler/dpmpp_2m", 80, 0.02),
                                           ("sampler/unipc", 80, 0.02)])
@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_ve_samplers_on_the_exact_gaussian_velocity_reproduce_the_gaussian(key, steps, tol, shift):
    err = cov_error(key, shift, steps)
    assert err < tol, f"{key} shift {shift}: covariance relative error {err:.4f}"


@pytest.mark.parametrize("key,order", [("sampler/euler", 1), ("sampler/dpmpp_2m", 2)])
def test_flow_sampling_converges_at_the_solvers_order(key, order):
    e20, e40 = cov_error(key, 1.0, 20), cov_error(key, 1.0, 40)
    assert e40 < e20 / (2**order * 0.8), f"{key}: error {e20:.4f} -> {e40:.4f} when doubling the steps"


def test_the_network_sees_the_same_input_and_time_when_training_and_sampling():
    """Training noises x0 to z = (1 − t) x0 + t ε at time t; the sampler's adapter at VE level t/(1 − t) must hand
    the network that same z and that same t."""
    schedule = rf()
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(4, 3, dtype=torch.float64, generator=g), torch.randn(4, 3, dtype=torch.float64, generator=g)
    t = torch.tensor([0.1, 0.4, 0.7, 0.95], dtype=torch.float64)
    alpha, sigma = schedule(t)
    z_train = alpha[:, None] * x0 + sigma[:, None] * eps
    log = []
    sigma_ve = schedule.to_sigma(t)
    flow_denoiser(schedule, log)(x0 + sigma_ve[:, None] * eps, sigma_ve)
    z_seen, t_seen = log[0]
    torch.testing.assert_close(z_seen, z_train)
    torch.testing.assert_close(t_seen, t)
