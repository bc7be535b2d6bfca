"""KVD: the unbiased squared MMD between two feature sets under the cubic polynomial kernel.

    k(a, b) = (aᵀb / d + 1)³
    MMD²ᵤ = 1/(m(m−1)) Σ_{i≠j} k(xᵢ, xⱼ) + 1/(n(n−1)) Σ_{i≠j} k(yᵢ, yⱼ) − 2/(mn) Σ_{i,j} k(xᵢ, yⱼ)

The FVD paper reports KVD beside FVD on the same I3D logits, with the kernel of KID; like KID, large sets are scored
as the mean over random subsets of ``subset_size`` clips (the kernel matrices of 10⁴ clips would not fit), and the
spread over subsets gives a standard error. [V-paper: Unterthiner et al. 2018 (KVD beside FVD); Bińkowski et al. 2018
"Demystifying MMD GANs" §4 (KID)]
"""

from __future__ import annotations

import torch
from torch import Tensor


__all__ = ["polynomial_mmd", "polynomial_mmd_subsets"]


def _kernel(a: Tensor, b: Tensor) -> Tensor:
    return (a @ b.T / a.shape[1] + 1) ** 3


def polynomial_mmd(x: Tensor, y: Tensor) -> float:
    """Unbiased MMD² of ``x (m, D)`` and ``y (n, D)`` (m, n ≥ 2) under the cubic polynomial kernel, in float64."""
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"polynomial_mmd: x and y must be (N, D) with one D, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    m, n = x.shape[0], y.shape[0]
    if min(m, n) < 2:
        raise ValueError(f"polynomial_mmd: each set needs at least 2 clips, got {m} and {n}")
    x, y = x.double(), y.double()
    kxx, kyy, kxy = _kernel(x, x), _kernel(y, y), _kernel(x, y)
    within_x = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    within_y = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(within_x + within_y - 2 * kxy.mean())


def polynomial_mmd_subsets(x: Tensor, y: Tensor, *, subset_size: int = 1000, subsets: int = 100,
                           seed: int = 0) -> dict:
    """KID-style: ``{"mean", "se", "subsets", "subset_size"}`` over random subsets (without replacement within
    one); when neither set is larger than ``subset_size``, one exact value on all clips (se NaN)."""
    if max(x.shape[0], y.shape[0]) <= subset_size:
        return {"mean": polynomial_mmd(x, y), "se": float("nan"), "subsets": 1, "subset_size": None}
    size = min(subset_size, x.shape[0], y.shape[0])
    g = torch.Generator().manual_seed(seed)
    values = torch.tensor([polynomial_mmd(x[torch.randperm(x.shape[0], generator=g)[:size]],
                                          y[torch.randperm(y.shape[0], generator=g)[:size]])
                           for _ in range(subsets)], dtype=torch.float64)
    return {"mean": float(values.mean()), "se": float(values.std() / subsets ** 0.5), "subsets": subsets,
            "subset_size": size}
