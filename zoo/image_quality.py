"""Full-reference image quality of a sample against a reference sample: PSNR and SSIM, frame by frame.

    psnr(a, b)   = 10 log10(R² / mean((a − b)²))                                    R: the data range
    ssim(a, b)   = mean over windows of (2μ_aμ_b + C1)(2σ_ab + C2) / ((μ_a² + μ_b² + C1)(σ_a² + σ_b² + C2))

[V-paper: Wang et al. 2004, "Image Quality Assessment: From Error Visibility to Structural Similarity", eq. 13;
Gaussian window 11 × 11, σ = 1.5, K1 = 0.01, K2 = 0.03, C_i = (K_i R)²] Shapes: videos ``(B, C, T, H, W)``; SSIM
averages each frame's channel-wise map (windows clipped at the border by ``valid`` convolution). Used by the step-cache
benchmark (benchmarks/step_caches.py) to score a cached sample against the uncached one from the same noise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor


__all__ = ["psnr", "ssim"]


def _check(a: Tensor, b: Tensor, where: str) -> None:
    if a.shape != b.shape or a.ndim != 5:
        raise ValueError(f"{where}: a and b must be videos (B, C, T, H, W) of one shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")


def psnr(a: Tensor, b: Tensor, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over the whole batch (inf for identical videos)."""
    _check(a, b, "psnr")
    mse = (a.double() - b.double()).square().mean()
    return float("inf") if mse == 0 else float(10 * torch.log10(data_range ** 2 / mse))


def ssim(a: Tensor, b: Tensor, data_range: float = 1.0, window: int = 11, sigma: float = 1.5) -> float:
    """Mean structural similarity of every frame (Gaussian window; the window shrinks to the frame if smaller)."""
    _check(a, b, "ssim")
    x, y = (rearrange(v.double(), "b c t h w -> (b t) c h w") for v in (a, b))
    size = min(window, x.shape[-1], x.shape[-2])
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-coords.square() / (2 * sigma ** 2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :]).expand(x.shape[1], 1, size, size)

    def blur(v: Tensor) -> Tensor:
        return F.conv2d(v, kernel, groups=x.shape[1])

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y = blur(x * x) - mu_x.square(), blur(y * y) - mu_y.square()
    cov = blur(x * y) - mu_x * mu_y
    score = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x.square() + mu_y.square() + c1) * (var_x + var_y + c2))
    return float(score.mean())
