"""VDM's claim (§3.1, E9) on a problem with a known answer: sampling the later frames of a jointly Gaussian video
given the earlier ones, reconstruction guidance lands much closer to the exact conditional mean Σ_ba Σ_aa⁻¹ x_a
than replacement, and closer as w_r grows from 1 to 5.

Data: 8 frames × 4 pixels, AR(1) in time (ρ = 0.9) ⊗ a spatial correlation 0.5^|i−j|; the exact denoiser
E[x | x + σn] = Σ(Σ + σ²I)⁻¹(x + σn) is ``denoiser/gaussian``. The Euler sampler with that denoiser and with either
wrapper is affine in the start x_T and in the replacement noise, so the mean of the samples is the run with x_T = 0
and zero noise: exact, no Monte Carlo error (one test checks it against 2,000 real samples).
"""

from __future__ import annotations

import pytest
import torch

import components
from components.diffusion.schedules import karras_sigmas


T, P, KNOWN = 8, 4, 4
SEED = 0


def _covariance() -> torch.Tensor:
    t, p = torch.arange(T, dtype=torch.float64), torch.arange(P, dtype=torch.float64)
    return torch.kron(0.9 ** (t[:, None] - t[None, :]).abs(), 0.5 ** (p[:, None] - p[None, :]).abs())


COV = _covariance()  # feature index t·P + p: the flattening of a (B, 1, T, 1, P) video


def gaussian():
    return components.build("denoiser/gaussian", mean=[0.0] * (T * P), cov=COV.tolist())


def sigmas(steps: int = 32) -> torch.Tensor:
    return karras_sigmas(steps, 0.002, 80.0).double()


def videos(n: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(SEED)
    flat = (torch.linalg.cholesky(COV) @ torch.randn(T * P, n, generator=g, dtype=torch.float64)).T
    return flat.reshape(n, 1, T, 1, P)


def exact_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """E[x_b | x_a] = Σ_ba Σ_aa⁻¹ x_a, scattered into a video (known entries = x_a)."""
    a = mask.expand(1, 1, T, 1, P).reshape(-1)
    flat = x.reshape(x.shape[0], -1)
    out = flat.clone()
    out[:, ~a] = (COV[~a][:, a] @ torch.linalg.solve(COV[a][:, a], flat[:, a].T)).T
    return out.reshape(x.shape)


def frames_mask(known) -> torch.Tensor:
    mask = torch.zeros(1, 1, T, 1, 1, dtype=torch.bool)
    mask[:, :, list(known)] = True
    return mask


def mean_sample(method: str, mask: torch.Tensor, weight: float = 0.0, x: torch.Tensor | None = None) -> torch.Tensor:
    """The exact mean of Euler sampling with the guided Gaussian denoiser (zero start and zero noise)."""
    x = videos() if x is None else x
    knobs = {"weight": weight} if method == "reconstruction" else {}
    guided = components.build(f"wrapper/{method}", denoiser=gaussian(), known=x, mask=mask,
                              noise_sampler=lambda k: torch.zeros(x.shape, dtype=torch.float64), **knobs)
    return components.build("sampler/euler")(guided, torch.zeros_like(x), sigmas())


def mean_error(method: str, mask: torch.Tensor, weight: float = 0.0) -> float:
    """‖mean − exact‖ / ‖exact‖ over the unknown entries of 16 videos drawn from the data."""
    x = videos()
    exact, got = exact_mean(x, mask), mean_sample(method, mask, weight, x)
    unknown = ~mask.expand_as(x)
    return float((got - exact)[unknown].norm() / exact[unknown].norm())


CONTINUATION = frames_mask(range(KNOWN))
INTERPOLATION = frames_mask(range(0, T, 2))


def test_mean_of_samples_is_the_zero_noise_run():
    x = videos(1)
    n = 2000
    xs, mask = x.expand(n, -1, -1, -1, -1), CONTINUATION
    g = torch.Generator().manual_seed(1)
    guided = components.build("wrapper/reconstruction", denoiser=gaussian(), known=xs, mask=mask, weight=2.0,
                              generator=g)
    start = torch.randn(xs.shape, generator=g, dtype=torch.float64) * sigmas()[0]
    samples = components.build("sampler/euler")(guided, start, sigmas())
    expected = mean_sample("reconstruction", mask, 2.0, x)[0]
    spread = samples.std(0) / n**0.5
    assert ((samples.mean(0) - expected).abs() < 5 * spread + 1e-9).all()


def test_replacement_misses_the_conditional_mean():
    assert mean_error("replacement", CONTINUATION) > 0.5


@pytest.mark.parametrize("weight", [1.0, 2.0, 5.0])
def test_reconstruction_guidance_is_closer_than_replacement(weight):
    assert mean_error("reconstruction", CONTINUATION, weight) < mean_error("replacement", CONTINUATION)


def test_reconstruction_error_falls_as_weight_grows_to_five():
    errors = [mean_error("reconstruction", CONTINUATION, w) for w in (1.0, 2.0, 5.0)]
    assert errors[0] > errors[1] + 0.05 > errors[2] + 0.1
    assert errors[2] < 0.5 * mean_error("replacement", CONTINUATION)


def test_reconstruction_guidance_helps_interpolation():
    assert mean_error("reconstruction", INTERPOLATION, 5.0) < 0.7 * mean_error("replacement", INTERPOLATION)


def test_zero_weight_is_replacement():
    torch.testing.assert_close(mean_sample("reconstruction", CONTINUATION, 0.0),
                               mean_sample("replacement", CONTINUATION))


def test_guided_x0_matches_the_papers_vp_formula():
    """x̃_b = x̂_b − (w_r α/2) ∇_{z_b}‖x_a − x̂_a‖² with z = α x (VP): the VE form drops α, as documented."""
    x, mask, w, sigma = videos(2), CONTINUATION, 3.0, torch.tensor(2.5, dtype=torch.float64)
    noisy = x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    den = gaussian()
    alpha = 1 / (1 + sigma**2).sqrt()
    z = (torch.where(mask, x, noisy) * alpha).requires_grad_()  # replacement with zero noise, in VP coordinates
    x0 = den(z / alpha, sigma)
    (grad_z,) = torch.autograd.grad(((x - x0).square() * mask).sum(), z)
    expected = torch.where(mask, x, x0.detach() - 0.5 * w * alpha * grad_z)
    guided = components.build("wrapper/reconstruction", denoiser=den, known=x, mask=mask, weight=w,
                              noise_sampler=lambda k: torch.zeros_like(x))
    torch.testing.assert_close(guided(noisy, sigma), expected)


def test_super_resolution_guidance_approaches_the_conditional_mean():
    """Known: a 2×2 average-pooled version y = A x of a Gaussian 4×4 image; exact E[x | y] = Σ Aᵀ(A Σ Aᵀ)⁻¹ y."""
    n = 4
    i = torch.arange(n, dtype=torch.float64)
    side = 0.8 ** (i[:, None] - i[None, :]).abs()
    cov = torch.kron(side, side)  # (h, w) row-major
    den = components.build("denoiser/gaussian", mean=[0.0] * n * n, cov=cov.tolist())
    pool = torch.zeros(4, n * n, dtype=torch.float64)
    for h in range(n):
        for w in range(n):
            pool[(h // 2) * 2 + w // 2, h * n + w] = 0.25
    g = torch.Generator().manual_seed(3)
    x = (torch.linalg.cholesky(cov) @ torch.randn(n * n, 8, generator=g, dtype=torch.float64)).T
    y = (pool @ x.T).T
    exact = (cov @ pool.T @ torch.linalg.solve(pool @ cov @ pool.T, y.T)).T
    low = y.reshape(8, 1, 1, 2, 2)

    def error(weight):
        guided = components.build("wrapper/reconstruction", denoiser=den, known=low,
                                  mask=torch.ones(1, 1, 1, 1, 1, dtype=torch.bool), weight=weight, downsample="area")
        mean = components.build("sampler/euler")(guided, torch.zeros(8, 1, 1, n, n, dtype=torch.float64), sigmas())
        return float((mean.reshape(8, -1) - exact).norm() / exact.norm())

    assert error(0.0) == pytest.approx(1.0)  # unguided: the prior mean 0
    assert error(5.0) < 0.5 * error(1.0) < 0.5


def test_downsample_accepts_a_callable():
    pool = torch.nn.functional.avg_pool3d
    den = components.get_component("wrapper/reconstruction").tiny["denoiser"]
    guided = components.build("wrapper/reconstruction", denoiser=den, weight=1.0,
                              downsample=lambda v: pool(v, (1, 2, 2)))
    x = torch.randn(1, 2, 3, 4, 4)
    out = guided(x, torch.tensor(1.0), known=torch.zeros(1, 2, 3, 2, 2), mask=torch.ones(1, 1, 1, 1, 1).bool())
    assert out.shape == x.shape
    assert components.config_of(guided)["downsample"] == "callable"
    with pytest.raises(ValueError, match="rebind the callable"):
        components.build(components.config_of(guided))
