"""The Fréchet distance between Gaussian fits of two feature sets, with streaming moments and a stable square root.

    d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁ Σ₂)^{1/2}                       [V-paper: Unterthiner et al. 2018 Eq. 1;
                                                                               Dowson & Landau 1982]

``tr (Σ₁ Σ₂)^{1/2}`` is computed as ``tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}`` — the same eigenvalues, but of a symmetric
positive semi-definite matrix, so two symmetric eigendecompositions in float64 give it with no complex parts and no
failure when the covariances are rank-deficient (fewer clips than feature dimensions), where ``scipy.linalg.sqrtm``
of the non-symmetric product needs the ε-regularisation of the FID code. Moments stream: ``FeatureStats.update``
merges one batch at a time (Chan et al.'s pairwise update of the mean and the centred second moment), so thousands
of clips never sit in memory, only their running sums.
"""

from __future__ import annotations

import torch
from torch import Tensor


__all__ = ["FeatureStats", "frechet_distance", "sqrtm_psd", "trace_sqrt_product"]


class FeatureStats:
    """Running mean and covariance (float64) of ``(N, D)`` feature batches; ``frames`` records the clip length the
    features came from (``None``: unknown), so two sets of different lengths are not compared by mistake.

    ``keep=True`` also keeps the features themselves (for KVD and the bootstrap: 3.2 kB a clip at D = 400).
    """

    def __init__(self, *, frames: int | None = None, keep: bool = False) -> None:
        self.frames, self.keep = frames, keep
        self.n, self.mean, self.m2 = 0, None, None
        self._kept: list[Tensor] = []

    def update(self, features: Tensor) -> FeatureStats:
        """Merge a batch ``(N, D)`` into the running moments; returns ``self``."""
        if features.ndim != 2:
            raise ValueError(f"FeatureStats.update: features must be 2-D (N, D), got shape {tuple(features.shape)}")
        f = features.detach().to("cpu", torch.float64)
        if self.mean is not None and f.shape[1] != self.mean.numel():
            raise ValueError(f"FeatureStats.update: features have {f.shape[1]} dimensions, the running stats "
                             f"{self.mean.numel()}")
        nb = f.shape[0]
        if nb == 0:
            return self
        mb = f.mean(0)
        m2b = (f - mb).T @ (f - mb)
        if self.mean is None:
            self.n, self.mean, self.m2 = nb, mb, m2b
        else:
            n = self.n + nb
            delta = mb - self.mean
            self.mean = self.mean + delta * (nb / n)
            self.m2 = self.m2 + m2b + torch.outer(delta, delta) * (self.n * nb / n)
            self.n = n
        if self.keep:
            self._kept.append(f)
        return self

    @property
    def dim(self) -> int:
        return 0 if self.mean is None else self.mean.numel()

    @property
    def covariance(self) -> Tensor:
        """The unbiased covariance ``(D, D)`` (``m2 / (n − 1)``); needs n ≥ 2."""
        if self.n < 2:
            raise ValueError(f"FeatureStats: a covariance needs at least 2 clips, got {self.n}")
        return self.m2 / (self.n - 1)

    @property
    def features(self) -> Tensor:
        """The kept features ``(N, D)`` (only with ``keep=True``)."""
        if not self.keep:
            raise ValueError("FeatureStats: features were not kept; build it with keep=True")
        return torch.cat(self._kept) if self._kept else torch.zeros(0, self.dim, dtype=torch.float64)

    @classmethod
    def of(cls, features: Tensor, *, frames: int | None = None, keep: bool = True) -> FeatureStats:
        """The stats of one ``(N, D)`` tensor."""
        return cls(frames=frames, keep=keep).update(features)


def sqrtm_psd(matrix: Tensor) -> Tensor:
    """The principal square root of a symmetric positive semi-definite ``(D, D)`` matrix (eigenvalues below 0,
    round-off, are set to 0): ``V diag(√λ) Vᵀ``."""
    m = matrix.double()
    values, vectors = torch.linalg.eigh((m + m.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def trace_sqrt_product(sigma1: Tensor, sigma2: Tensor) -> Tensor:
    """``tr (Σ₁ Σ₂)^{1/2}`` for PSD ``Σ₁, Σ₂`` as ``Σ √λᵢ(Σ₁^{1/2} Σ₂ Σ₁^{1/2})`` (float64 scalar)."""
    root = sqrtm_psd(sigma1)
    inner = root @ sigma2.double() @ root
    return torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0).sqrt().sum()


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """The squared Fréchet (2-Wasserstein) distance between N(μ₁, Σ₁) and N(μ₂, Σ₂) (see the module docstring)."""
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.numel(), mu1.numel()):
        raise ValueError(f"frechet_distance: means {tuple(mu1.shape)}, {tuple(mu2.shape)} and covariances "
                         f"{tuple(sigma1.shape)}, {tuple(sigma2.shape)} must be (D,) and (D, D) with one D")
    diff = mu1.double() - mu2.double()
    d2 = diff @ diff + sigma1.double().trace() + sigma2.double().trace() - 2 * trace_sqrt_product(sigma1, sigma2)
    return float(d2.clamp_min(0))
