"""Parameterizations: exact round trips in fp32 (also for bf16 inputs), E4/E6 identities, EDM preconditioning."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given

import components
from components.diffusion.parameterizations import get_parameterization
from components.testing import strategies as zst


def _data(shape, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g).to(dtype), torch.randn(shape, generator=g).to(dtype)


@given(zst.parameterizations(), zst.schedules(), zst.times(0.001, 0.999), zst.video_shapes(), zst.dtypes(),
       zst.seeds())
def test_target_to_x0_and_to_eps_round_trip_in_fp32(param, schedule, t, shape, dtype, seed):
    x0, eps = _data(shape, seed, dtype)
    alpha, sigma = schedule(torch.tensor(t))
    z = alpha * x0.float() + sigma * eps.float()
    pred = param.target(x0, eps, alpha, sigma)
    assert pred.dtype == torch.float32
    scale = max(1.0, 1 / float(alpha), 1 / float(sigma))  # division by a small alpha/sigma amplifies fp32 rounding
    torch.testing.assert_close(param.to_x0(pred, z, alpha, sigma), x0.float(), atol=1e-5 * scale, rtol=0)
    torch.testing.assert_close(param.to_eps(pred, z, alpha, sigma), eps.float(), atol=1e-5 * scale, rtol=0)


@given(zst.log_snrs(), zst.video_shapes(), zst.seeds())
def test_v_is_alpha_eps_minus_sigma_x_and_inverts(lam, shape, seed):
    x0, eps = _data(shape, seed, torch.float64)
    lam = torch.tensor(lam, dtype=torch.float64)  # alpha² + sigma² = 1 must hold to float64 precision here
    alpha, sigma = torch.sigmoid(lam).sqrt(), torch.sigmoid(-lam).sqrt()
    v = get_parameterization("v").target(x0, eps, alpha, sigma)
    torch.testing.assert_close(v, alpha * eps - sigma * x0)
    z = alpha * x0 + sigma * eps
    torch.testing.assert_close(alpha * z - sigma * v, x0)
    torch.testing.assert_close(sigma * z + alpha * v, eps)


def test_conversions_compute_in_fp32_for_bf16_inputs():
    pred, z = _data((2, 3, 2, 4, 4), 0, torch.bfloat16)
    out = components.build("parameterization/v").to_x0(pred, z, torch.tensor(0.625).bfloat16(), 0.78)
    assert out.dtype == torch.float32
    # a bf16 computation would round to ~3 significant digits; fp32 matches the float64 result to ~1e-7
    expected = 0.625 * z.double() - 0.78 * pred.double()
    torch.testing.assert_close(out.double(), expected, atol=1e-6, rtol=0)


def test_unknown_parameterization_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match=r"parameterization must be one of .*'v_prediction'.*got 'velocity'"):
        get_parameterization("velocity")


def test_diffusers_prediction_type_names_are_accepted():
    assert get_parameterization("epsilon").name == "eps"
    assert get_parameterization("v_prediction").name == "v"
    assert get_parameterization("sample").name == "x0"


@given(zst.sigmas(0.002, 700), zst.seeds())
def test_edm_coefficients_match_the_closed_form(sigma, seed):
    pre = components.build("preconditioning/edm", sigma_data=0.5)
    c_skip, c_out, c_in, c_noise = (float(c) for c in pre.coefficients(torch.tensor(sigma, dtype=torch.float64)))
    assert c_skip == pytest.approx(0.25 / (sigma**2 + 0.25), rel=1e-9)
    assert c_out == pytest.approx(sigma * 0.5 / (sigma**2 + 0.25) ** 0.5, rel=1e-9)
    assert c_in == pytest.approx(1 / (sigma**2 + 0.25) ** 0.5, rel=1e-9)
    assert c_noise == pytest.approx(0.25 * torch.log(torch.tensor(sigma, dtype=torch.float64)).item(), abs=1e-12)


@pytest.mark.parametrize("key", ["preconditioning/edm", "preconditioning/edm_v"])
def test_edm_target_reproduces_x0_through_to_x0(key):
    x0, n = _data((3, 2, 2, 4, 4), 1, torch.float64)
    sigma = torch.tensor([0.01, 1.0, 50.0], dtype=torch.float64)
    pre = components.build(key)
    x = x0 + sigma.reshape(-1, 1, 1, 1, 1) * n
    torch.testing.assert_close(pre.to_x0(pre.target(x0, n, sigma), x, sigma), x0)


def test_svd_edm_v_network_predicts_the_vp_v_target():
    # docs/papers.md §10.1: F = alpha n - s x0 with alpha = 1/sqrt(1+s^2), s = sigma alpha gives D = x0
    x0, n = _data((4, 3), 2, torch.float64)
    sigma = torch.tensor([0.1, 1.0, 3.0, 700.0], dtype=torch.float64).reshape(-1, 1)
    alpha = 1 / (1 + sigma**2).sqrt()
    target = components.build("preconditioning/edm_v").target(x0, n, sigma.flatten())
    torch.testing.assert_close(target, alpha * n - sigma * alpha * x0)
