"""Numbers the demo reports: one temporal-coherence metric and the seam error of an extended clip.

All functions take ``B C T H W`` videos in the data range and return plain floats (means over clips) or per-clip
tensors, computed identically for real clips and for samples, so the numbers are comparable.
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor

from components.checks import check_video


__all__ = ["TEMPORAL_COHERENCE", "frame_jump", "seam_error", "summary", "temporal_coherence"]

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

