"""Pixel-space numbers: temporal coherence, frame difference, the seam error of an extended clip, bits/dim.

All functions take ``B C T H W`` videos in the data range and return plain floats (means over clips) or per-clip
tensors, computed identically for real clips and for samples, so the numbers are comparable.
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor

from components.checks import check_video


__all__ = ["BITS_PER_DIM", "FRAME_DIFFERENCE", "TEMPORAL_COHERENCE", "bits_per_dim", "frame_difference", "frame_jump",
           "gaussian_baseline_bits_per_dim", "quantize_8bit", "seam_error", "standard_error", "summary",
           "temporal_coherence"]

TEMPORAL_COHERENCE = {
    "name": "temporal_coherence",
    "measures": "mean Pearson correlation between consecutive frames (each frame flattened over C, H, W and "
                "centred), averaged over frame pairs and clips. Independent noise frames give ~0, a frozen clip "
                "gives 1; a model that learned the data's motion should land near the value of the real clips.",
}


def temporal_coherence(videos: Tensor, eps: float = 1e-8) -> Tensor:
    """Per-clip mean correlation of frame ``t`` with frame ``t + 1``: ``(B, C, T, H, W)`` -> ``(B,)``, T >= 2."""
    check_video(videos, "videos", where="temporal_coherence")
    if videos.shape[2] < 2:
        raise ValueError(f"temporal_coherence: needs at least 2 frames, got T={videos.shape[2]}")
    f = rearrange(videos.detach().float(), "b c t h w -> b t (c h w)")
    f = f - f.mean(-1, keepdim=True)
    a, b = f[:, :-1], f[:, 1:]
    corr = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1) + eps)   # (B, T-1)
    return corr.mean(-1)


def seam_error(generated: Tensor, reference: Tensor, start: int, width: int = 1) -> float:
    """Mean squared error over frames ``[start, start + width)`` between an extended clip and the true continuation.

    ``start`` is the first generated frame (the seam). Both are ``B C T H W``; lower is better.
    """
    check_video(generated, "generated", where="seam_error")
    if generated.shape != reference.shape:
        raise ValueError(f"seam_error: generated {tuple(generated.shape)} and reference {tuple(reference.shape)} "
                         "must have the same shape")
    if not 0 <= start < start + width <= generated.shape[2]:
        raise ValueError(f"seam_error: frames [{start}, {start + width}) must lie in [0, {generated.shape[2]})")
    diff = generated[:, :, start:start + width].float() - reference[:, :, start:start + width].float()
    return float(diff.square().mean())


def frame_jump(videos: Tensor, index: int) -> float:
    """Mean squared change from frame ``index - 1`` to frame ``index``: how visible a seam at ``index`` is."""
    check_video(videos, "videos", where="frame_jump")
    if not 1 <= index < videos.shape[2]:
        raise ValueError(f"frame_jump: index must be in [1, {videos.shape[2]}), got {index}")
    return float((videos[:, :, index] - videos[:, :, index - 1]).float().square().mean())


def summary(values: Tensor) -> dict:
    """``{"mean", "std", "n"}`` of a per-clip tensor, as floats for JSON."""
    v = values.detach().float()
    return {"mean": float(v.mean()), "std": float(v.std()) if v.numel() > 1 else 0.0, "n": int(v.numel())}



FRAME_DIFFERENCE = {
    "name": "frame_difference",
    "measures": "mean squared difference between consecutive frames (data range [-1, 1]), averaged over pixels, "
                "frame pairs and clips: how much a clip moves; compare a model's value with the data's.",
}
BITS_PER_DIM = {
    "name": "bits_per_dim",
    "measures": "continuous-time variational bound (VDM, Kingma et al. 2021) on -log2 P(x) per dimension of 8-bit "
                "held-out clips (lower is better): prior KL at the schedule's lowest log-SNR + the diffusion loss "
                "importance-sampled on log-SNR + VDM's categorical 256-level decoder at logsnr_max "
                "(components/diffusion/likelihood.py); se is the standard error over clips (data and Monte-Carlo "
                "noise together). uniform_8bit = 8 exactly; gaussian_per_pixel = a Gaussian per (C, H, W) position "
                "fitted on the training clips (shared over frames), integrated over each 8-bit bin.",
}


def frame_difference(videos: Tensor) -> Tensor:
    """Per-clip mean squared change between consecutive frames: ``(B, C, T, H, W)`` -> ``(B,)``, T >= 2."""
    check_video(videos, "videos", where="frame_difference")
    if videos.shape[2] < 2:
        raise ValueError(f"frame_difference: needs at least 2 frames, got T={videos.shape[2]}")
    v = videos.detach().float()
    return (v[:, :, 1:] - v[:, :, :-1]).square().mean(dim=(1, 2, 3, 4))


def quantize_8bit(videos: Tensor) -> Tensor:
    """Round [-1, 1] videos to the 256-level grid k / 127.5 - 1 (for data that is not already 8-bit)."""
    return ((videos.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1


def standard_error(values: Tensor) -> dict:
    """``{"mean", "se", "n"}`` of per-clip values; se = std / sqrt(n)."""
    v = values.detach().double()
    se = float(v.std() / v.numel() ** 0.5) if v.numel() > 1 else float("nan")
    return {"mean": float(v.mean()), "se": se, "n": int(v.numel())}


def bits_per_dim(denoiser, clips: Tensor, *, logsnr_min: float = -20.0, logsnr_max: float = 12.0,
                 num_samples: int = 16, center: float = 1.0, seed: int = 0, batch: int = 8) -> dict:
    """Held-out bits/dim of a denoiser on 8-bit clips ``(N, C, T, H, W)`` in [-1, 1]: mean, se, n and the terms."""
    import torch

    from components.diffusion.likelihood import bits_per_dim as to_bpd
    from components.diffusion.likelihood import variational_bound

    check_video(clips, "clips", where="bits_per_dim")
    g = torch.Generator().manual_seed(seed)
    parts = []
    for chunk in clips.split(batch):
        parts.append(variational_bound(denoiser, chunk.float(), logsnr_min=logsnr_min, logsnr_max=logsnr_max,
                                       num_samples=num_samples, bins=256, center=center, generator=g))
    dims = clips[0].numel()
    terms = {k: to_bpd(torch.cat([p[k] for p in parts]), dims) for k in parts[0]}
    return {**standard_error(terms["total"]), **{k: float(v.mean()) for k, v in terms.items() if k != "total"},
            "logsnr_min": logsnr_min, "logsnr_max": logsnr_max, "num_samples": num_samples}


def gaussian_baseline_bits_per_dim(train: Tensor, test: Tensor) -> dict:
    """Bits/dim of ``test`` under an independent Gaussian per (C, H, W) position fitted on ``train`` (8-bit bins).

    P(x) = Φ((x + Δ/2 − μ)/s) − Φ((x − Δ/2 − μ)/s) per pixel, Δ = 2/255, the end bins extended to ±∞.
    """
    import math

    import torch

    check_video(train, "train", where="gaussian_baseline_bits_per_dim")
    check_video(test, "test", where="gaussian_baseline_bits_per_dim")
    pixels = rearrange(train.double(), "b c t h w -> (b t) c h w")
    mu, std = pixels.mean(0), pixels.std(0).clamp_min(1 / 255)
    x = rearrange(test.double(), "b c t h w -> b t c h w")
    normal = torch.distributions.Normal(mu, std)
    hi = torch.where(x >= 1 - 1e-6, torch.full_like(x, math.inf), x + 1 / 255)
    lo = torch.where(x <= -1 + 1e-6, torch.full_like(x, -math.inf), x - 1 / 255)
    mass = (normal.cdf(hi) - normal.cdf(lo)).clamp_min(1e-300)
    per_clip = -mass.log().flatten(1).sum(1) / (test[0].numel() * math.log(2))
    return standard_error(per_clip)
