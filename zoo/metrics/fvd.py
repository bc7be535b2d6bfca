"""FVD and KVD of two sets of videos (or of their I3D features), with a bootstrap standard error.

    FVD = ‖μ_r − μ_g‖² + tr Σ_r + tr Σ_g − 2 tr (Σ_r Σ_g)^{1/2}   on the 400 I3D logits (``zoo.metrics.i3d``)
    KVD = unbiased MMD² with k(a, b) = (aᵀb / 400 + 1)³            on the same features (``zoo.metrics.kernel``)

[V-paper: Unterthiner et al. 2018, "Towards Accurate Generative Models of Video: A New Metric & Challenges";
V-code: google-research/google-research frechet_video_distance/frechet_video_distance.py ``calculate_fvd``]

Either argument may be videos ``(N, C, T, H, W)`` in [−1, 1] (features are computed), features ``(N, D)``, or a
``FeatureStats`` (FVD only; streamed moments). Two video sets must have the same clip length (I3D features depend
on it). Fewer clips than D + 1 give a rank-deficient covariance: the value is still defined (the square root is
stable) but biased and noisy, and one warning says how many clips a full-rank covariance needs.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor

from .gaussian import FeatureStats, frechet_distance
from .i3d import i3d_features
from .kernel import polynomial_mmd_subsets


__all__ = ["FVD", "KVD", "SAMPLE_SIZE_CAVEAT", "feature_stats", "frechet_video_distance", "kernel_video_distance",
           "video_distances"]

FVD = {"name": "fvd", "measures": "Fréchet distance between Gaussian fits of the Kinetics-400 I3D logits of real "
                                  "and generated 16-frame clips at 224×224 (Unterthiner et al. 2018); lower is "
                                  "better, 0 for identical sets."}
KVD = {"name": "kvd", "measures": "unbiased squared MMD of the same I3D logits under the cubic polynomial kernel "
                                  "(k(a, b) = (a·b/400 + 1)^3); lower is better, ~0 for sets from one distribution."}
SAMPLE_SIZE_CAVEAT = ("FVD is biased upwards at small sample sizes (the bias falls roughly like 1/N) and the "
                      "bootstrap standard error measures only the spread of resampling, not that bias: compare FVDs "
                      "computed on the same number of clips; published FVDs use 2048+ clips, and with fewer clips "
                      "than 401 the 400-d covariance is rank-deficient.")


def _same_length(real, generated) -> None:
    lengths = [x.shape[2] if isinstance(x, Tensor) and x.ndim == 5 else getattr(x, "frames", None)
               for x in (real, generated)]
    if None not in lengths and lengths[0] != lengths[1]:
        raise ValueError(f"frechet_video_distance: real and generated clips must have the same length (frames, dim "
                         f"2 of B C T H W), got {lengths[0]} and {lengths[1]}")


def feature_stats(x: Tensor | FeatureStats, name: str, **feature_kwargs) -> FeatureStats:
    """``x`` as ``FeatureStats`` (videos go through ``i3d_features(x, **feature_kwargs)``; features kept)."""
    if isinstance(x, FeatureStats):
        return x
    if not isinstance(x, Tensor) or x.ndim not in (2, 5):
        raise ValueError(f"frechet_video_distance: {name} must be videos (N, C, T, H, W), features (N, D) or "
                         f"FeatureStats, got {type(x).__name__} {tuple(getattr(x, 'shape', ()))}")
    if x.ndim == 5:
        return FeatureStats.of(i3d_features(x, **feature_kwargs), frames=x.shape[2])
    return FeatureStats.of(x)


def _warn_rank(**sets: FeatureStats) -> None:
    """One warning naming each set with fewer clips than a full-rank covariance needs."""
    short = [f"{name} has {s.n} clips" for name, s in sets.items() if s.n < s.dim + 1]
    if short:
        dim = next(iter(sets.values())).dim
        warnings.warn(f"frechet_video_distance: {' and '.join(short)}; a full-rank covariance of {dim} features "
                      f"needs at least {dim + 1}, so this FVD is biased and noisy", stacklevel=3)


def _check_pair(real: FeatureStats, generated: FeatureStats) -> None:
    _same_length(real, generated)
    if real.dim != generated.dim:
        raise ValueError(f"frechet_video_distance: real and generated features must have one dimension, got "
                         f"{real.dim} and {generated.dim}")


def frechet_video_distance(real: Tensor | FeatureStats, generated: Tensor | FeatureStats, *, warn: bool = True,
                           **feature_kwargs) -> float:
    """FVD of two sets (videos, features or ``FeatureStats``); ``feature_kwargs`` go to ``i3d_features``."""
    _same_length(real, generated)
    r, g = feature_stats(real, "real", **feature_kwargs), feature_stats(generated, "generated", **feature_kwargs)
    _check_pair(r, g)
    if warn:
        _warn_rank(real=r, generated=g)
    return frechet_distance(r.mean, r.covariance, g.mean, g.covariance)


def kernel_video_distance(real: Tensor | FeatureStats, generated: Tensor | FeatureStats, *, subset_size: int = 1000,
                          subsets: int = 100, seed: int = 0, **feature_kwargs) -> dict:
    """KVD ``{"mean", "se", "subsets", "subset_size"}`` (needs the features: videos, features or kept stats)."""
    _same_length(real, generated)
    r, g = feature_stats(real, "real", **feature_kwargs), feature_stats(generated, "generated", **feature_kwargs)
    _check_pair(r, g)
    return polynomial_mmd_subsets(r.features, g.features, subset_size=subset_size, subsets=subsets, seed=seed)


def _bootstrap_fvd(real: Tensor, generated: Tensor, resamples: int, seed: int) -> float:
    """Standard deviation of FVD over ``resamples`` draws of both sets with replacement (NaN below 2)."""
    if resamples < 2:
        return float("nan")
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(resamples):
        a = real[torch.randint(len(real), (len(real),), generator=g)]
        b = generated[torch.randint(len(generated), (len(generated),), generator=g)]
        values.append(frechet_video_distance(FeatureStats.of(a), FeatureStats.of(b), warn=False))
    return float(torch.tensor(values, dtype=torch.float64).std())


def video_distances(real: Tensor | FeatureStats, generated: Tensor | FeatureStats, *, bootstrap: int = 100,
                    seed: int = 0, **feature_kwargs) -> dict:
    """FVD with its bootstrap standard error and KVD with its subset standard error, the set sizes and the caveat
    (``SAMPLE_SIZE_CAVEAT``): the record ``zoo eval`` and the demo write."""
    _same_length(real, generated)
    r, g = feature_stats(real, "real", **feature_kwargs), feature_stats(generated, "generated", **feature_kwargs)
    _check_pair(r, g)
    fvd = frechet_video_distance(r, g)
    kvd = polynomial_mmd_subsets(r.features, g.features, seed=seed)
    record = {"fvd": fvd, "fvd_se": _bootstrap_fvd(r.features, g.features, bootstrap, seed),
              "kvd": kvd["mean"], "kvd_se": kvd["se"], "n_real": r.n, "n_generated": g.n, "frames": r.frames,
              "bootstrap_resamples": bootstrap, "caveat": SAMPLE_SIZE_CAVEAT}
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()}  # JSON has no NaN
