"""``cache/taylorseer``: TaylorSeer — forecast the block stack's output by a Taylor series over the steps.

[V-paper: Liu et al. 2025, TaylorSeer "From Reusing to Forecasting: Accelerating Diffusion Models with TaylorSeers",
arXiv:2503.06923, §3.3, eq. 7-9] [V-code: diffusers hooks/taylorseer_cache.py ``TaylorSeerState`` /
``TaylorSeerCacheHook``] On computed steps the output of the block stack F(i) (the last block's tokens) updates its
finite differences; on the others it is forecast::

    compute at i:  Δ⁰ ← F(i),  Δ^{k+1} ← (Δ^k(i) − Δ^k(i_prev)) / (i − i_prev)      k < max_order
    forecast at i: F(i) ≈ Σ_k Δ^k · (i − i_last)^k / k!

Step i is computed when i < ``disable_cache_before_step``, when (i − before − 1) mod ``cache_interval`` = 0, or when
i ≥ ``disable_cache_after_step``. Equivalent to diffusers' TaylorSeer with ``cache_identifiers=[r"blocks\\.\\d+"]``
(every block forecast; the last one's forecast is the stack's). Shapes: tokens ``(B, N, D)``.
"""

from __future__ import annotations

import math

import torch

from ..registry import BadInput, register
from .base import StepCache, check_range, full_loop
from .examples import CACHE_DTYPES, cache_inputs, cache_output_shape, no_blocks, no_step


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, None: None}


@register(
    "cache", "taylorseer", paper="Liu et al. 2025 (TaylorSeer, arXiv:2503.06923); diffusers TaylorSeerCache",
    tiny=dict(cache_interval=2, disable_cache_before_step=1), inputs=cache_inputs, output_shape=cache_output_shape, frames=(2,), dtypes=CACHE_DTYPES,
    bad_inputs=[BadInput(match="cache_interval must be an integer >= 1", init={"cache_interval": 0}),
                BadInput(match="max_order must be an integer", init={"max_order": -1}),
                BadInput(match="factors_dtype must be one of", init={"factors_dtype": "int8"}), no_step(),
                no_blocks()],
)
class TaylorSeer(StepCache):
    """Forecast the block stack's output between full computations every ``cache_interval`` steps.

    Args:
        cache_interval: steps between full computations (diffusers' default 5; ≥ 1).
        disable_cache_before_step: the first steps, always computed (≥ 0; diffusers 3).
        disable_cache_after_step: steps from this one on always computed (None: never).
        max_order: the Taylor order (≥ 0; 1 = linear extrapolation).
        factors_dtype: dtype of the stored differences (``"float32"``, ``"bfloat16"``, ``"float16"``; None: the
            tokens')."""

    key = "cache/taylorseer"

    def __init__(self, cache_interval: int = 5, disable_cache_before_step: int = 3,
                 disable_cache_after_step: int | None = None, max_order: int = 1,
                 factors_dtype: str | None = "float32") -> None:
        super().__init__()
        self.cache_interval = check_range(self.key, "cache_interval", cache_interval, 1, integer=True)
        self.before = check_range(self.key, "disable_cache_before_step", disable_cache_before_step, 0, integer=True)
        self.after = (None if disable_cache_after_step is None else
                      check_range(self.key, "disable_cache_after_step", disable_cache_after_step, 0, integer=True))
        self.max_order = check_range(self.key, "max_order", max_order, 0, integer=True)
        if factors_dtype not in DTYPES:
            raise ValueError(f"{self.key}: factors_dtype must be one of {tuple(DTYPES)}, got {factors_dtype!r}")
        self.factors_dtype = DTYPES[factors_dtype]

    def computes(self, i: int) -> bool:
        """Whether step i is a full computation (diffusers' ``_measure_should_compute``)."""
        return (i < self.before or (i - self.before - 1) % self.cache_interval == 0
                or (self.after is not None and i >= self.after))

    def update(self, s: dict, features: torch.Tensor, i: int) -> None:
        """New divided differences from the computed output at step i."""
        new = {0: features}
        last, old = s.get("last"), s.get("factors", {})
        if last is not None:
            for k in range(self.max_order):
                if k not in old or old[k].shape != new[k].shape:
                    break
                new[k + 1] = (new[k] - old[k].to(features.dtype)) / (i - last)
        dtype = self.factors_dtype or features.dtype
        s["factors"], s["last"], s["dtype"] = {k: f.to(dtype) for k, f in new.items()}, i, features.dtype

    def forecast(self, s: dict, i: int) -> torch.Tensor:
        offset = i - s["last"]
        out = torch.zeros_like(s["factors"][0], dtype=s["dtype"])
        for k, factor in s["factors"].items():
            out = out + factor.to(s["dtype"]) * (offset ** k / math.factorial(k))
        return out

    def cached_blocks(self, s, net, tokens, run_block, depth, **facts):
        i = self.step.index
        compute = self.computes(i) or s.get("last") is None
        self.record(compute)
        if not compute:
            return self.forecast(s, i)
        out = full_loop(tokens, run_block, depth)
        self.update(s, out, i)
        return out
