"""FVD / KVD of two sets (zoo/metrics/fvd.py, kernel.py): the unbiased MMD, the bootstrap record, and the bad inputs
of issue #23 (range, too few clips for a full-rank covariance, mismatched clip lengths)."""

from __future__ import annotations

import itertools

import pytest
import torch

import components
from zoo.metrics import (
    SAMPLE_SIZE_CAVEAT,
    FeatureStats,
    frechet_video_distance,
    kernel_video_distance,
    polynomial_mmd,
    video_distances,
)


def _features(n: int, d: int = 8, seed: int = 0, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


@pytest.fixture(scope="module")
def tiny_i3d():
    return components.build("net/i3d", width_divisor=16, num_classes=6).eval()


def _videos(n: int, frames: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 3, frames, 16, 16, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_polynomial_mmd_is_the_unbiased_estimator():
    x, y = _features(5, seed=1), _features(6, seed=2, shift=0.5)

    def k(a, b):
        return float((a @ b / 8 + 1) ** 3)

    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(5), 2)) / 20
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(6), 2)) / 30
    xy = sum(k(a, b) for a in x for b in y) / 30
    assert polynomial_mmd(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kvd_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    same = kernel_video_distance(_features(400, seed=3), _features(400, seed=4))["mean"]
    shifted = kernel_video_distance(_features(400, seed=3), _features(400, seed=4, shift=1.0))["mean"]
    assert abs(same) < 0.05 < shifted


def test_kvd_subsets_give_a_standard_error():
    out = kernel_video_distance(_features(300, seed=5), _features(300, seed=6), subset_size=100, subsets=10)
    assert out["subsets"] == 10 and out["subset_size"] == 100 and out["se"] > 0


def test_fvd_of_features_grows_with_the_shift():
    base = _features(200, seed=7)
    near = frechet_video_distance(base, _features(200, seed=8, shift=0.1))
    far = frechet_video_distance(base, _features(200, seed=8, shift=1.0))
    assert near < far and far == pytest.approx(8 * 1.0, rel=0.3)


def test_too_few_clips_for_a_full_rank_covariance_warns_with_the_number():
    with pytest.warns(UserWarning, match="real has 5 clips; a full-rank covariance of 8 features needs at least 9") as seen:
        frechet_video_distance(_features(5, seed=9), _features(50, seed=10))
    assert len(seen) == 1


def test_mismatched_clip_lengths_are_refused(tiny_i3d):
    with pytest.raises(ValueError, match="same length .* got 8 and 4"):
        frechet_video_distance(_videos(2, 8, 0), _videos(2, 4, 1), model=tiny_i3d)
    a, b = FeatureStats(frames=16).update(_features(3)), FeatureStats(frames=8).update(_features(3))
    with pytest.raises(ValueError, match="got 16 and 8"):
        frechet_video_distance(a, b)


def test_values_outside_the_range_are_refused_naming_the_range(tiny_i3d):
    videos = _videos(2, 8, 2)
    videos[0, 0, 0, 0, 0] = 1.5
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\] .*found values in \[-0.9\d*, 1.5\]"):
        frechet_video_distance(videos, _videos(2, 8, 3), model=tiny_i3d)


def test_features_of_a_non_video_are_refused():
    with pytest.raises(ValueError, match="must be videos .* got Tensor \\(3,\\)"):
        frechet_video_distance(torch.zeros(3), _features(4))


def frame_means(x: torch.Tensor) -> torch.Tensor:
    """A stand-in feature network: the mean colour of each frame, ``(B, 3, 16, H, W) -> (B, 48)``."""
    return x.mean(dim=(3, 4)).flatten(1)


def test_video_distances_record_has_the_errors_the_sizes_and_the_caveat():
    with pytest.warns(UserWarning, match="real has 4 clips and generated has 5 clips; a full-rank covariance of 48 features needs at least 49"):
        record = video_distances(_videos(4, 8, 4), _videos(5, 8, 5), bootstrap=20, model=frame_means)
    assert record["n_real"] == 4 and record["n_generated"] == 5 and record["frames"] == 8
    assert record["fvd"] > 0 and record["fvd_se"] > 0 and record["kvd_se"] is None
    assert record["caveat"] == SAMPLE_SIZE_CAVEAT
