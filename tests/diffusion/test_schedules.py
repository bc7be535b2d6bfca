"""Schedules: monotone log-SNR, VP identities, σ ↔ t round trips, grids against closed forms and diffusers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import components
from components.diffusion.schedules import karras_sigmas
from components.testing import strategies as zst


@given(zst.schedules(), st.lists(st.integers(0, 10_000), min_size=2, max_size=8, unique=True))
def test_log_snr_is_strictly_decreasing(schedule, ticks):
    t = torch.tensor(sorted(ticks), dtype=torch.float64) / 10_000
    lam = schedule.log_snr(t)
    assert bool((lam[1:] < lam[:-1]).all()), (t, lam)


@given(zst.schedules(), zst.times())
def test_alpha_squared_plus_sigma_squared_is_one(schedule, t):
    a, s = schedule(torch.tensor([t]))
    assert abs(float(a.double() ** 2 + s.double() ** 2) - 1) < 1e-6


@given(zst.schedules(), zst.times(0.0, 0.999))
def test_t_from_sigma_round_trips_in_fp32(schedule, t):
    t32 = torch.tensor([t], dtype=torch.float32)
    back = schedule.t_from_sigma(schedule.to_sigma(t32))
    assert back.dtype == torch.float32
    assert abs(float(back) - float(t32)) <= 1e-5


@given(zst.schedules(continuous=True), zst.times())
def test_t_from_sigma_round_trips_for_bf16_times(schedule, t):
    t16 = torch.tensor([t]).bfloat16()
    assert abs(float(schedule.t_from_sigma(schedule.to_sigma(t16))) - float(t16.float())) <= 1e-5


def test_cosine_hits_its_clipping_limits_and_is_zero_at_midpoint():
    sched = components.build("schedule/cosine", logsnr_min=-20, logsnr_max=20)
    lam = sched.log_snr(torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    torch.testing.assert_close(lam, torch.tensor([20.0, 0.0, -20.0], dtype=torch.float64), atol=1e-9, rtol=0)


def test_cosine_alpha_matches_the_cosine_closed_form_inside_the_clip_range():
    # unclipped cosine: alpha = cos(pi t / 2); the [-20, 20] clip changes it by < 1e-4
    sched = components.build("schedule/cosine")
    t = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    torch.testing.assert_close(sched.alpha(t), torch.cos(math.pi * t / 2), atol=1e-4, rtol=0)


@given(zst.schedules(), zst.times())
def test_t_from_log_snr_inverts_log_snr_inside_the_schedule_range(schedule, t):
    lam = schedule.log_snr(torch.tensor([t], dtype=torch.float64))  # every λ the schedule reaches (−inf at zero SNR)
    torch.testing.assert_close(schedule.log_snr(schedule.t_from_log_snr(lam)), lam, atol=1e-6, rtol=1e-9)


@given(zst.log_snrs(-20.0, 20.0))
def test_cosine_t_from_log_snr_is_the_inverse_of_log_snr(lam):
    sched = components.build("schedule/cosine", logsnr_min=-20, logsnr_max=20)
    lam = torch.tensor([lam], dtype=torch.float64)
    torch.testing.assert_close(sched.log_snr(sched.t_from_log_snr(lam)), lam, atol=1e-9, rtol=1e-12)


def test_cosine_t_from_log_snr_clamps_outside_the_range_and_gives_imagen_videos_augmentation_time():
    sched = components.build("schedule/cosine", logsnr_min=-20, logsnr_max=20)
    assert sched.t_from_log_snr(torch.tensor([30.0, -30.0], dtype=torch.float64)).tolist() == [0.0, 1.0]
    # SNR 5 as the hand-inverted cosine, t = (atan(exp(-λ/2)) - b) / a, which zoo/recipes/imagen_video.py used to write out
    b = math.atan(math.exp(-10.0))
    by_hand = (math.atan(math.exp(-0.5 * math.log(5.0))) - b) / (math.atan(math.exp(10.0)) - b)
    assert float(sched.t_from_log_snr(math.log(5.0))) == pytest.approx(by_hand, abs=1e-15)
    from zoo.recipes.imagen_video import NOISE_AUG_T

    assert NOISE_AUG_T == pytest.approx(by_hand, abs=1e-15)


def test_shifted_cosine_shifts_log_snr_by_the_pixel_count_ratio():
    base = components.build("schedule/cosine")
    shifted = components.build("schedule/shifted_cosine", resolution=128, frames=4)
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    torch.testing.assert_close(shifted.log_snr(t) - base.log_snr(t),
                               torch.full_like(t, 2 * math.log(64 / 128) + math.log(1 / 4)))


def test_edm_grid_is_the_karras_formula():
    n, lo, hi, rho = 7, 0.002, 80.0, 7.0
    i = np.arange(n)
    expected = (hi ** (1 / rho) + i / (n - 1) * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho
    got = karras_sigmas(n, lo, hi, rho)
    assert got[-1] == 0 and len(got) == n + 1
    np.testing.assert_allclose(got[:-1].numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("key,kwargs", [("schedule/linear", dict(beta_schedule="linear", beta_start=1e-4,
                                                                     beta_end=2e-2)),
                                        ("schedule/scaled_linear", dict(beta_schedule="scaled_linear",
                                                                       beta_start=0.00085, beta_end=0.012))])
def test_discrete_alphas_cumprod_match_diffusers(key, kwargs):
    from diffusers import DDPMScheduler

    ref = DDPMScheduler(num_train_timesteps=1000, **kwargs).alphas_cumprod.double()
    sched = components.build(key)
    k = torch.arange(1000, dtype=torch.float64)
    alpha_bar = sched.alpha(k / 999).double() ** 2
    torch.testing.assert_close(alpha_bar, ref, rtol=2e-6, atol=1e-9)


def test_zero_terminal_snr_matches_diffusers_rescale_and_ends_at_zero_snr():
    from diffusers import DDPMScheduler

    ref = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                        rescale_betas_zero_snr=True).alphas_cumprod.double()
    sched = components.build("schedule/scaled_linear", zero_terminal_snr=True)
    torch.testing.assert_close(sched.alphas_cumprod[:-1], ref[:-1], rtol=1e-5, atol=1e-9)
    assert sched.snr(torch.tensor([1.0])).item() == 0.0
    assert sched.alpha(torch.tensor([1.0])).item() == 0.0
    assert torch.isfinite(sched.sigmas(10)).all()


@pytest.mark.parametrize("spacing,cls", [("leading", "DDIMScheduler"), ("trailing", "EulerDiscreteScheduler")])
def test_discrete_timesteps_match_diffusers_spacing(spacing, cls):
    import diffusers

    ref = getattr(diffusers, cls)(timestep_spacing=spacing)
    ref.set_timesteps(10)
    ours = components.build("schedule/linear").timesteps(10, spacing) * 999
    np.testing.assert_allclose(ours.numpy(), ref.timesteps.double().numpy(), atol=1e-9)


def test_t_outside_unit_interval_is_rejected_with_the_value():
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\], got values in \[0.5, 1.5\]"):
        components.build("schedule/cosine").log_snr(torch.tensor([0.5, 1.5]))


def test_continuous_schedule_rejects_discrete_spacing():
    with pytest.raises(ValueError, match="spacing must be 'linspace'"):
        components.build("schedule/cosine").timesteps(10, "leading")


def test_negative_sigma_is_rejected():
    with pytest.raises(ValueError, match="sigma must be non-negative"):
        components.build("schedule/linear").t_from_sigma(torch.tensor([-1.0]))


def test_snr_shift_gives_cogvideox_schedulers_alpha_bar_table():
    """CogVideoX's ᾱ ← ᾱ / (s + (1 − s) ᾱ) then the zero-terminal-SNR rescale: diffusers' table (fp32 there, float64
    here: ≤ 1e-6 covers fp32 rounding of a cumulative product of 1000 terms); SNR divided by s before the rescale."""
    from diffusers import CogVideoXDDIMScheduler

    import components

    ref = CogVideoXDDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                 snr_shift_scale=3.0, rescale_betas_zero_snr=True, prediction_type="v_prediction")
    ours = components.build("schedule/scaled_linear", zero_terminal_snr=True, snr_shift_scale=3.0)
    torch.testing.assert_close(ours.alphas_cumprod.float(), ref.alphas_cumprod.float(), atol=1e-6, rtol=1e-5)
    plain = components.build("schedule/scaled_linear")
    shifted = components.build("schedule/scaled_linear", snr_shift_scale=3.0)
    snr = lambda a: a / (1 - a)  # noqa: E731
    torch.testing.assert_close(snr(shifted.alphas_cumprod), snr(plain.alphas_cumprod) / 3.0)
    with pytest.raises(ValueError, match="snr_shift_scale must be > 0"):
        components.build("schedule/scaled_linear", snr_shift_scale=0.0)
