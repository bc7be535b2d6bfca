"""The Fréchet distance (zoo/metrics/gaussian.py): the stable square root against scipy, the closed form for diagonal
Gaussians, streaming moments against one-shot ones."""

from __future__ import annotations

import pytest
import torch

from zoo.metrics import FeatureStats, frechet_distance, sqrtm_psd, trace_sqrt_product


scipy_linalg = pytest.importorskip("scipy.linalg")


def _features(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mixing = torch.randn(d, d, generator=g, dtype=torch.float64) / d ** 0.5
    return torch.randn(n, d, generator=g, dtype=torch.float64) @ mixing + torch.randn(d, generator=g).double()


@pytest.mark.parametrize("n", [300, 40], ids=["full_rank", "rank_deficient"])
def test_trace_sqrt_product_matches_scipy_sqrtm(n):
    s1 = FeatureStats.of(_features(n, 64, 0)).covariance
    s2 = FeatureStats.of(_features(n, 64, 1)).covariance
    expected = scipy_linalg.sqrtm((s1 @ s2).numpy()).trace().real
    assert abs(float(trace_sqrt_product(s1, s2)) - expected) <= 1e-6 * abs(expected)


def test_sqrtm_psd_matches_scipy_and_squares_back():
    cov = FeatureStats.of(_features(30, 48, 2)).covariance  # rank 29 < 48
    root = sqrtm_psd(cov)
    expected = torch.from_numpy(scipy_linalg.sqrtm(cov.numpy()).real)
    assert (root - expected).abs().max() <= 1e-6 * expected.abs().max()
    assert (root @ root - cov).abs().max() <= 1e-10 * cov.abs().max()


def test_diagonal_gaussians_have_the_closed_form():
    g = torch.Generator().manual_seed(3)
    mu1, mu2 = torch.randn(16, generator=g).double(), torch.randn(16, generator=g).double()
    v1, v2 = torch.rand(16, generator=g).double() + 0.1, torch.rand(16, generator=g).double()
    v2[:4] = 0  # singular
    expected = float((mu1 - mu2).square().sum() + (v1.sqrt() - v2.sqrt()).square().sum())
    got = frechet_distance(mu1, torch.diag(v1), mu2, torch.diag(v2))
    assert abs(got - expected) <= 1e-10 * expected


def test_identical_sets_are_at_distance_zero():
    stats = FeatureStats.of(_features(50, 32, 4))
    scale = float(stats.covariance.trace())
    assert frechet_distance(stats.mean, stats.covariance, stats.mean, stats.covariance) <= 1e-8 * scale  # √ of round-off eigenvalues: ~1e-10 relative


def test_streaming_moments_equal_one_shot():
    x = _features(101, 24, 5)
    streamed = FeatureStats()
    for chunk in x.split(17):
        streamed.update(chunk)
    assert streamed.n == 101
    assert torch.allclose(streamed.mean, x.mean(0), rtol=0, atol=1e-12)
    assert torch.allclose(streamed.covariance, torch.cov(x.T), rtol=0, atol=1e-12)


def test_feature_stats_refuse_bad_shapes():
    with pytest.raises(ValueError, match="features must be 2-D"):
        FeatureStats().update(torch.zeros(3))
    with pytest.raises(ValueError, match="needs at least 2 clips, got 1"):
        _ = FeatureStats.of(torch.zeros(1, 4)).covariance
    with pytest.raises(ValueError, match="keep=True"):
        _ = FeatureStats(keep=False).update(torch.zeros(2, 4)).features
