"""Helpers shared by the diffusion-math files: fp32 upcasting, broadcasting of per-sample levels, input checks.

Every check raises ``ValueError`` naming the argument, the constraint and the value given. Checks that read tensor
values (t in [0, 1], sigmas monotone) synchronise with the host, so samplers run them once before their loop and
adapters call the unchecked ``_``-prefixed schedule methods inside it.
"""

from __future__ import annotations

import torch
from torch import Tensor


def compute_dtype(*values) -> torch.dtype:
    """float64 if any tensor input is float64, else float32: the dtype all diffusion arithmetic runs in."""
    for v in values:
        if isinstance(v, Tensor) and v.dtype == torch.float64:
            return torch.float64
    return torch.float32


def upcast(*values) -> list[Tensor]:
    """The tensors (or numbers) as tensors of ``compute_dtype``; never downcasts float64."""
    dtype = compute_dtype(*values)
    device = next((v.device for v in values if isinstance(v, Tensor)), None)
    return [v.to(dtype) if isinstance(v, Tensor) else torch.as_tensor(v, dtype=dtype, device=device) for v in values]


def expand_to(level: Tensor, x: Tensor, name: str = "alpha") -> Tensor:
    """A noise-level coefficient broadcast against ``x`` ``(B, ...)``.

    Accepted: a scalar (0-d tensor or number), shape ``(B,)`` (one level per sample), or any shape that already
    broadcasts against ``x`` with the same number of dimensions (e.g. ``(B, 1, T, 1, 1)`` for per-frame levels).
    """
    if not isinstance(level, Tensor):
        return torch.as_tensor(level, dtype=x.dtype, device=x.device)
    if level.ndim == 0:
        return level
    if level.ndim == 1 and x.ndim >= 1:
        if level.shape[0] not in (1, x.shape[0]):
            raise ValueError(
                f"{name} must be a scalar or have one entry per sample (shape ({x.shape[0]},)), "
                f"got shape {tuple(level.shape)} for a sample of shape {tuple(x.shape)}"
            )
        return level.reshape(-1, *([1] * (x.ndim - 1)))
    if level.ndim != x.ndim or any(a not in (1, b) for a, b in zip(level.shape, x.shape)):
        raise ValueError(
            f"{name} of shape {tuple(level.shape)} does not broadcast against the sample of shape {tuple(x.shape)}; "
            f"pass a scalar, shape ({x.shape[0]},) or a shape of the same rank with 1s"
        )
    return level


def check_same_shape(a: Tensor, b: Tensor, name_a: str, name_b: str, where: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{where}: {name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")


def check_unit_interval(t: Tensor, name: str = "t", where: str = "") -> None:
    """``t`` must lie in [0, 1] (and be finite)."""
    prefix = f"{where}: " if where else ""
    if t.numel() and not bool(((t >= 0) & (t <= 1)).all()):
        lo, hi = float(t.min()), float(t.max())
        raise ValueError(f"{prefix}{name} must lie in [0, 1], got values in [{lo:.6g}, {hi:.6g}]")


def check_sigmas(sigmas: Tensor, where: str, *, increasing: bool = False) -> Tensor:
    """A sampler's noise levels: 1-D, finite, non-negative, monotone (non-increasing unless ``increasing``)."""
    if not isinstance(sigmas, Tensor):
        sigmas = torch.as_tensor(sigmas, dtype=torch.float32)
    if sigmas.ndim != 1 or sigmas.numel() < 2:
        raise ValueError(f"{where}: sigmas must be a 1-D tensor of at least 2 noise levels, got shape "
                         f"{tuple(sigmas.shape)}")
    s = sigmas.detach().double()
    if not bool(torch.isfinite(s).all()):
        raise ValueError(f"{where}: sigmas must be finite, got {sigmas.tolist()}")
    if bool((s < 0).any()):
        raise ValueError(f"{where}: sigmas must be non-negative, got minimum {float(s.min()):.6g}")
    steps = s[1:] - s[:-1]
    if increasing and bool((steps <= 0).any()):
        raise ValueError(f"{where}: sigmas must be strictly increasing (inversion runs from data to noise), got "
                         f"{[round(v, 6) for v in sigmas.tolist()]}")
    if not increasing and bool((steps >= 0).any()):
        raise ValueError(f"{where}: sigmas must be strictly decreasing (noise to data), got "
                         f"{[round(v, 6) for v in sigmas.tolist()]}")
    return sigmas
