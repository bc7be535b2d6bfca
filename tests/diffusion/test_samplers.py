"""Samplers against the exact denoiser of a Gaussian data set, plus the contract (determinism, no host sync,
differentiability, callback, fp32, bad grids).

Every sampler is affine in its start x_T and its noise draws when the denoiser is affine (the Gaussian one is), so
the exact mean and covariance of its output are read off by pushing basis vectors through it (``exact_moments``):
no Monte Carlo error, and the expected values (μ, Σ, the closed-form probability-flow solution) never come from
the code under test.
"""

from __future__ import annotations

import pytest
import torch

import components
from components.diffusion.schedules import karras_sigmas


MEAN = torch.tensor([1.0, -2.0], dtype=torch.float64)
COV = torch.tensor([[1.0, 0.4], [0.4, 0.6]], dtype=torch.float64)
SIGMA_MAX, SIGMA_MIN = 20.0, 0.01

SAMPLERS = [("sampler/euler", {}), ("sampler/heun", {}), ("sampler/heun", {"s_churn": 5.0}),
            ("sampler/dpmpp_2m", {}), ("sampler/ddim", {}), ("sampler/ddim", {"eta": 1.0}),
            ("sampler/euler_ancestral", {}), ("sampler/ddpm", {"gamma": 0.3}), ("sampler/ancestral_pc", {}),
            ("sampler/dpm_2", {}), ("sampler/dpm_2_ancestral", {}), ("sampler/lms", {}),
            ("sampler/dpmpp_2s_ancestral", {}), ("sampler/dpmpp_sde", {}), ("sampler/dpmpp_2m_sde", {}),
            ("sampler/dpmpp_2m_sde", {"solver_type": "heun"}), ("sampler/dpmpp_3m_sde", {}),
            ("sampler/unipc", {}), ("sampler/unipc", {"order": 3, "variant": "bh1"}), ("sampler/deis", {}),
            ("sampler/deis", {"order": 3})]
IDS = [k.split("/")[1] + "".join(f"-{a}{b}" for a, b in kw.items()) for k, kw in SAMPLERS]


def gaussian():
    return components.build("denoiser/gaussian", mean=MEAN.tolist(), cov=COV.tolist())


def grid(steps):
    return karras_sigmas(steps, SIGMA_MIN, SIGMA_MAX).double()


def exact_moments(sample, sigmas):
    """Mean and covariance of sample(D, x_T, sigmas) for x_T ~ N(MEAN, COV + σ_max² I), exactly (affine maps)."""
    draws = []
    sample(gaussian(), MEAN[None].clone(), sigmas, noise_sampler=lambda k: draws.append(k) or torch.zeros(1, 2))
    d, n_draws = 2, len(draws)
    rows = 1 + d + n_draws * d
    x = MEAN.repeat(rows, 1)
    x[1:1 + d] += torch.eye(d, dtype=torch.float64)

    def noise(k):
        out = torch.zeros(rows, d, dtype=torch.float64)
        out[1 + d + k * d:1 + d + (k + 1) * d] = torch.eye(d, dtype=torch.float64)
        return out

    out = sample(gaussian(), x, sigmas, noise_sampler=noise)
    base = out[0]
    a = (out[1:1 + d] - base).T
    b = (out[1 + d:] - base).reshape(n_draws, d, d)
    cov = a @ (COV + sigmas[0] ** 2 * torch.eye(d, dtype=torch.float64)) @ a.T + torch.einsum("kij,kil->jl", b, b)
    return base, cov


def cov_error(cov):
    return float((cov - COV).norm() / COV.norm())


@pytest.mark.parametrize("key,knobs", SAMPLERS, ids=IDS)
def test_sampler_with_exact_denoiser_reproduces_the_gaussian(key, knobs):
    second_order = key in ("sampler/heun", "sampler/dpmpp_2m")
    stochastic = bool(knobs) or "ancestral" in key or key.endswith("_sde")
    steps = 60 if second_order else 200
    mean, cov = exact_moments(components.build(key, **knobs), grid(steps))
    torch.testing.assert_close(mean, MEAN, atol=2e-3, rtol=0)
    # first-order stochastic samplers converge as O(1/steps) (about 4% at 200 Karras steps); ODE solvers faster
    assert cov_error(cov) < (0.05 if stochastic and not second_order else 0.03), f"{key}: covariance relative error {cov_error(cov):.3f}"


@pytest.mark.parametrize("key,knobs", SAMPLERS, ids=IDS)
def test_samplers_converge_to_the_data_covariance_as_steps_grow(key, knobs):
    errors = [cov_error(exact_moments(components.build(key, **knobs), grid(n))[1]) for n in (10, 20, 40)]
    assert errors[2] < errors[1] < errors[0], f"{key}: errors {errors} do not shrink with steps"


def probability_flow_solution(x_t, sigma_max):
    """Closed form of the PF-ODE for Gaussian data: per eigen-direction x - μ scales by sqrt(λ/(λ + σ²))."""
    vals, vecs = torch.linalg.eigh(COV)
    return MEAN + (((x_t - MEAN) @ vecs) * (vals / (vals + sigma_max**2)).sqrt()) @ vecs.T


@pytest.mark.parametrize("key", ["sampler/euler", "sampler/heun", "sampler/dpmpp_2m", "sampler/ddim"])
def test_deterministic_samplers_converge_to_the_probability_flow_solution(key):
    x_t = MEAN + torch.randn(16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * SIGMA_MAX
    expected = probability_flow_solution(x_t, SIGMA_MAX)
    errs = [float((components.build(key)(gaussian(), x_t, grid(n)) - expected).abs().max()) for n in (25, 100)]
    assert errs[1] < errs[0] / 3 and errs[1] < 0.05, f"{key}: errors {errs}"


def test_ddim_eta_zero_is_deterministic_and_equals_euler():
    x_t = torch.randn(4, 2, generator=torch.Generator().manual_seed(1)) * SIGMA_MAX
    sigmas = karras_sigmas(12, SIGMA_MIN, SIGMA_MAX)
    a = components.build("sampler/ddim", eta=0.0)(gaussian(), x_t, sigmas)
    b = components.build("sampler/ddim", eta=0.0)(gaussian(), x_t, sigmas, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)
    torch.testing.assert_close(a, components.build("sampler/euler")(gaussian(), x_t, sigmas), atol=1e-5, rtol=1e-5)


def test_ddim_eta_one_equals_ddpm_with_gamma_zero():
    x_t = torch.randn(4, 2, generator=torch.Generator().manual_seed(1)) * SIGMA_MAX
    sigmas = karras_sigmas(12, SIGMA_MIN, SIGMA_MAX)
    a = components.build("sampler/ddim", eta=1.0)(gaussian(), x_t, sigmas, generator=torch.Generator().manual_seed(3))
    b = components.build("sampler/ddpm")(gaussian(), x_t, sigmas, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_ddim_inversion_with_fixed_point_steps_inverts_ddim():
    x0 = MEAN + torch.randn(8, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    sigmas = karras_sigmas(20, 0.05, SIGMA_MAX).double()[:-1]  # end at σ_min > 0: the last DDIM step stays invertible
    x_t = components.build("sampler/ddim_inversion", fixed_point_steps=30)(gaussian(), x0, sigmas.flip(0))
    back = components.build("sampler/ddim")(gaussian(), x_t, sigmas)
    torch.testing.assert_close(back, x0, atol=1e-4, rtol=0)


def test_ddim_inversion_error_shrinks_with_steps_without_fixed_point_steps():
    x0 = MEAN + torch.randn(8, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    errs = []
    for n in (10, 80):
        sigmas = karras_sigmas(n, 0.05, SIGMA_MAX).double()[:-1]
        x_t = components.build("sampler/ddim_inversion")(gaussian(), x0, sigmas.flip(0))
        errs.append(float((components.build("sampler/ddim")(gaussian(), x_t, sigmas) - x0).abs().max()))
    assert errs[1] < errs[0] / 3, errs


@pytest.mark.parametrize("key", ["sampler/euler_ancestral", "sampler/ddpm", "sampler/ancestral_pc", "sampler/heun"])
def test_stochastic_samplers_repeat_with_the_same_generator_seed(key):
    sample = components.build(key, **({"s_churn": 2.0} if key == "sampler/heun" else {}))
    x_t = torch.randn(3, 2, generator=torch.Generator().manual_seed(0)) * SIGMA_MAX
    sigmas = karras_sigmas(6, SIGMA_MIN, SIGMA_MAX)
    runs = [sample(gaussian(), x_t, sigmas, generator=torch.Generator().manual_seed(s)) for s in (5, 5, 6)]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


class _NoHostSync(torch.overrides.TorchFunctionMode):
    """Raises on any tensor -> python conversion once armed (the first denoiser call arms it)."""

    FORBIDDEN = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.__bool__, torch.Tensor.__float__,
                 torch.Tensor.__int__, torch.Tensor.__index__, torch.Tensor.numpy}

    def __init__(self):
        super().__init__()
        self.armed = False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if self.armed and func in self.FORBIDDEN:
            raise AssertionError(f"host synchronisation inside the sampling loop: {func.__name__}")
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("key,knobs", SAMPLERS, ids=IDS)
def test_sampler_loop_never_synchronises_with_the_host(key, knobs):
    mode = _NoHostSync()

    def linear_denoiser(x, sigma):
        mode.armed = True
        return x / (1 + sigma.reshape(-1, 1) ** 2)

    x_t = torch.randn(2, 3, generator=torch.Generator().manual_seed(0)) * 10
    with mode:
        components.build(key, **knobs)(linear_denoiser, x_t, karras_sigmas(5, 0.01, 10.0),
                                       generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("key,knobs", SAMPLERS, ids=IDS)
def test_samples_are_differentiable_with_respect_to_the_start(key, knobs):
    x_t = (torch.randn(2, 2, generator=torch.Generator().manual_seed(0)) * 10).requires_grad_()
    out = components.build(key, **knobs)(gaussian(), x_t, karras_sigmas(5, 0.01, 10.0),
                                         generator=torch.Generator().manual_seed(0))
    out.sum().backward()
    assert x_t.grad is not None and torch.isfinite(x_t.grad).all() and x_t.grad.abs().sum() > 0


def test_callback_gets_each_steps_values():
    seen = []
    sigmas = karras_sigmas(4, 0.01, 10.0)
    components.build("sampler/dpmpp_2m")(gaussian(), torch.zeros(2, 2), sigmas, callback=seen.append)
    assert [s["i"] for s in seen] == [0, 1, 2, 3]
    assert set(seen[0]) == {"i", "x", "sigma", "sigma_next", "denoised"}
    torch.testing.assert_close(torch.stack([s["sigma_next"] for s in seen]), sigmas[1:])


def test_bf16_start_is_sampled_in_fp32():
    out = components.build("sampler/euler")(gaussian(), torch.zeros(2, 2, dtype=torch.bfloat16),
                                            karras_sigmas(3, 0.01, 10.0))
    assert out.dtype == torch.float32


def test_progress_bar_runs(capsys):
    components.build("sampler/euler", progress=True)(gaussian(), torch.zeros(1, 2), karras_sigmas(3, 0.01, 10.0))


@pytest.mark.parametrize("sigmas,match", [([1.0, 2.0, 0.0], "strictly decreasing"), ([1.0, 0.5, -0.1], "non-negative"),
                                          ([[1.0, 0.0]], "1-D tensor"), ([1.0, float("nan")], "finite")])
def test_bad_sigma_grids_are_rejected_with_the_values(sigmas, match):
    with pytest.raises(ValueError, match=f"sampler/euler: sigmas must be .*{match}"):
        components.build("sampler/euler")(gaussian(), torch.zeros(1, 2), torch.tensor(sigmas))
