"""``cache/magcache``: Magnitude-aware Cache — skip the block stack while the accumulated magnitude-ratio error is small.

[V-paper: Ma et al. 2025, MagCache "Fast Video Generation with Magnitude-Aware Cache", arXiv:2506.09045, §3]
[V-code: diffusers hooks/mag_cache.py ``MagCacheHeadHook`` / ``MagCacheBlockHook``] The residual of the whole block
stack Δ_i = x_L − x_0 shrinks by a per-step magnitude ratio γ_i = mean ‖Δ_i‖ / ‖Δ_{i−1}‖ (per token) that is nearly
model-intrinsic (calibrated once per model and grid, ``mag_ratios``). From step ⌊r·N + 0.5⌋ on::

    Γ ← Γ·γ_i,  k ← k + 1,  E ← E + |1 − Γ|
    E ≤ threshold and k ≤ K:  x_L ≈ x_0 + Δ (the last computed residual)
    otherwise:               compute every block, Γ ← 1, k ← 0, E ← 0

``mag_ratios`` (one per step, nearest-interpolated to the run's N steps) or ``calibrate=True``: never skip and record
γ_i of this run in ``calibrated_ratios`` (the list to pass as ``mag_ratios``). Shapes: tokens ``(B, N, D)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..registry import BadInput, register
from .base import StepCache, check_range, full_loop
from .examples import CACHE_DTYPES, cache_inputs, cache_output_shape, no_blocks, no_step


def nearest_interp(ratios: Sequence[float], length: int) -> list[float]:
    """``ratios`` resampled to ``length`` by nearest index (diffusers' ``nearest_interp``)."""
    if length == 1:
        return [ratios[-1]]
    scale = (len(ratios) - 1) / (length - 1)
    return [ratios[int(torch.round(torch.tensor(i * scale, dtype=torch.float32)))] for i in range(length)]


@register(
    "cache", "magcache", paper="Ma et al. 2025 (MagCache, arXiv:2506.09045); diffusers MagCache",
    tiny=dict(threshold=0.06, mag_ratios=[1.0, 0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.9]),
    inputs=cache_inputs, output_shape=cache_output_shape, frames=(2,), dtypes=CACHE_DTYPES,
    bad_inputs=[BadInput(match="threshold must be a number >= 0", init={"threshold": -1}),
                BadInput(match="retention_ratio must be a number in", init={"retention_ratio": 1.5}),
                BadInput(match="mag_ratios are needed", init={"mag_ratios": None}), no_step(), no_blocks()],
)
class MagCache(StepCache):
    """Reuse the block stack's residual while the accumulated error |1 − Πγ| stays ≤ ``threshold``.

    Args:
        threshold: E above which the blocks are computed (diffusers' default 0.06; ≥ 0).
        max_skip_steps: K, consecutive steps skipped at most (≥ 0).
        retention_ratio: r, the fraction of the first steps never skipped (in [0, 1]).
        mag_ratios: γ per step (the model's calibrated ratios; needed unless ``calibrate``).
        calibrate: compute every step and record this run's ratios in ``calibrated_ratios``."""

    key = "cache/magcache"

    def __init__(self, threshold: float = 0.06, max_skip_steps: int = 3, retention_ratio: float = 0.2,
                 mag_ratios: Sequence[float] | None = None, calibrate: bool = False) -> None:
        super().__init__()
        self.threshold = float(check_range(self.key, "threshold", threshold, 0.0))
        self.max_skip_steps = check_range(self.key, "max_skip_steps", max_skip_steps, 0, integer=True)
        self.retention_ratio = float(check_range(self.key, "retention_ratio", retention_ratio, 0.0, 1.0))
        if mag_ratios is None and not calibrate:
            raise ValueError(f"{self.key}: mag_ratios are needed (the model's per-step magnitude ratios); run once "
                             f"with calibrate=True and pass its calibrated_ratios, got mag_ratios=None")
        self.mag_ratios = None if mag_ratios is None else [float(r) for r in mag_ratios]
        self.calibrate = bool(calibrate)
        self.calibrated_ratios: list[float] = []

    def reset(self) -> None:
        super().reset()
        self.calibrated_ratios = []

    def decide(self, s: dict) -> bool:
        if self.calibrate:
            return True
        i, n = self.step.index, self.step.num_steps
        ratios = nearest_interp(self.mag_ratios, n) if len(self.mag_ratios) != n else self.mag_ratios
        if i < int(self.retention_ratio * n + 0.5):
            return True
        s["ratio"] = s.get("ratio", 1.0) * (ratios[i] if i < len(ratios) else 1.0)
        s["steps"] = s.get("steps", 0) + 1
        s["error"] = s.get("error", 0.0) + abs(1.0 - s["ratio"])
        if s.get("residual") is not None and s["error"] <= self.threshold and s["steps"] <= self.max_skip_steps:
            return False
        s["ratio"], s["steps"], s["error"] = 1.0, 0, 0.0
        return True

    def cached_blocks(self, s, net, tokens, run_block, depth, **facts):
        compute = self.decide(s)
        self.record(compute)
        if not compute:
            return tokens + s["residual"]
        out = full_loop(tokens, run_block, depth)
        residual = out - tokens
        if self.calibrate:
            previous = s.get("residual")
            ratio = 1.0 if previous is None else float(
                (torch.linalg.norm(residual.float(), dim=-1) / (torch.linalg.norm(previous.float(), dim=-1) + 1e-8))
                .mean())
            self.calibrated_ratios.append(ratio)
        s["residual"] = residual
        return out
