"""Forward process: E1 marginal and the E2/E3 transition compose to the marginal."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given

import components
from components.diffusion.forward import q_sample, q_transition, transition_std
from components.testing import strategies as zst


def test_marginal_with_given_noise_is_alpha_x_plus_sigma_eps():
    g = torch.Generator().manual_seed(0)
    x, eps = torch.randn(2, 3, 2, 4, 4, generator=g), torch.randn(2, 3, 2, 4, 4, generator=g)
    alpha = torch.tensor([0.6, 0.8])
    z, used = components.build("forward/marginal")(x, alpha, (1 - alpha**2).sqrt(), noise=eps)
    expected = torch.stack([0.6 * x[0] + 0.8 * eps[0], 0.8 * x[1] + 0.6 * eps[1]])
    torch.testing.assert_close(z, expected)
    assert used is not None and torch.equal(used, eps)


@given(zst.schedules(continuous=True), zst.times(0.0, 0.98), zst.times(0.01, 1.0))
def test_transition_composed_with_marginal_has_the_marginal_moments(schedule, s, dt):
    t = min(1.0, s + dt)
    a_s, s_s = schedule(torch.tensor(s, dtype=torch.float64))
    a_t, s_t = schedule(torch.tensor(t, dtype=torch.float64))
    scale, std = transition_std(a_s, s_s, a_t, s_t)
    # mean: scale * a_s x = a_t x; variance: scale^2 s_s^2 + std^2 = s_t^2
    assert abs(float(scale * a_s - a_t)) <= 1e-9 * max(1.0, float(a_t))
    assert abs(float(scale**2 * s_s**2 + std**2 - s_t**2)) <= 1e-9


def test_transition_samples_match_the_marginal_empirically():
    g = torch.Generator().manual_seed(0)
    x = torch.full((20000, 1), 1.5)
    a_s, a_t = torch.tensor(0.9), torch.tensor(0.5)
    s_s, s_t = (1 - a_s**2).sqrt(), (1 - a_t**2).sqrt()
    z_s, _ = q_sample(x, a_s, s_s, generator=g)
    z_t = q_transition(z_s, a_s, s_s, a_t, s_t, generator=g)
    assert abs(z_t.mean().item() - 0.5 * 1.5) < 0.02
    assert abs(z_t.var().item() - s_t.item() ** 2) < 0.03


def test_transition_to_a_less_noisy_level_is_rejected():
    with pytest.raises(ValueError, match="at least as noisy"):
        q_transition(torch.zeros(2, 3), 0.5, 0.75**0.5, 0.9, 0.19**0.5)


def test_noise_of_the_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match="noise and x must have the same shape"):
        q_sample(torch.zeros(2, 3), 0.6, 0.8, noise=torch.zeros(2, 4))
