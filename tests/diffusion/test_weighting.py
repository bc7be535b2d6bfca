"""Loss weightings and their equivalences (E6): errors of ε and v are SNR and 1 + SNR times the x0 error."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given

import components
from components.diffusion.parameterizations import get_parameterization
from components.testing import strategies as zst


def _errors(lam: float, seed: int):
    """Squared errors of x0, ε and v for one random imperfect prediction (via an ε-prediction error)."""
    g = torch.Generator().manual_seed(seed)
    x0, eps, err = (torch.randn(64, generator=g, dtype=torch.float64) for _ in range(3))
    lam_t = torch.tensor(lam, dtype=torch.float64)
    alpha, sigma = torch.sigmoid(lam_t).sqrt(), torch.sigmoid(-lam_t).sqrt()
    z = alpha * x0 + sigma * eps
    eps_hat = eps + err
    x0_hat = get_parameterization("eps").to_x0(eps_hat, z, alpha, sigma)
    v, v_hat = (get_parameterization("v").target(a, b, alpha, sigma) for a, b in ((x0, eps), (x0_hat, eps_hat)))
    mse = lambda a, b: (a - b).square().sum()  # noqa: E731
    return lam_t, {"x0": mse(x0_hat, x0), "eps": mse(eps_hat, eps), "v": mse(v_hat, v)}


@given(zst.log_snrs(-10, 10), zst.seeds())
def test_v_loss_is_one_plus_snr_times_x0_loss(lam, seed):
    lam_t, e = _errors(lam, seed)
    torch.testing.assert_close(e["v"], (1 + torch.exp(lam_t)) * e["x0"], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(e["eps"], torch.exp(lam_t) * e["x0"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("key,kwargs", [("weighting/uniform", {"target": "v"}), ("weighting/snr", {}),
                                        ("weighting/min_snr", {"gamma": 5.0}), ("weighting/edm", {})])
@pytest.mark.parametrize("target", ["x0", "eps", "v"])
def test_for_target_gives_the_same_loss_in_every_target_space(key, kwargs, target):
    w = components.build(key, **kwargs)
    for lam in (-6.0, 0.0, 1.3, 7.0):
        lam_t, e = _errors(lam, 3)
        torch.testing.assert_close(w.for_target(lam_t, target) * e[target], w(lam_t) * e["x0"], rtol=1e-9,
                                   atol=1e-12)


def test_min_snr_on_eps_is_min_snr_gamma_over_snr():
    lam = torch.tensor([-3.0, 0.0, 1.0, 4.0], dtype=torch.float64)
    snr = torch.exp(lam)
    w = components.build("weighting/min_snr", gamma=5.0).for_target(lam, "eps")
    torch.testing.assert_close(w, torch.minimum(snr, torch.tensor(5.0, dtype=torch.float64)) / snr)


def test_edm_weighting_with_unit_sigma_data_is_the_v_loss():
    lam = torch.linspace(-8, 8, 9, dtype=torch.float64)
    edm = components.build("weighting/edm", sigma_data=1.0)
    uniform_v = components.build("weighting/uniform", target="v")
    torch.testing.assert_close(edm(lam), uniform_v(lam))
    torch.testing.assert_close(edm.for_target(lam, "v"), torch.ones_like(lam))


def test_uniform_eps_is_the_snr_weighting():
    lam = torch.linspace(-8, 8, 9, dtype=torch.float64)
    torch.testing.assert_close(components.build("weighting/uniform", target="eps")(lam),
                               components.build("weighting/snr")(lam))
