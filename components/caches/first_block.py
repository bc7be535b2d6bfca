"""``cache/first_block``: First Block Cache — run the first block, skip the rest while its residual barely moves.

[V-code: diffusers hooks/first_block_cache.py ``FBCHeadBlockHook`` / ``FBCBlockHook``; ParaAttention README "First
Block Cache"] At every step the first block runs; its residual r₁ = B₁(x) − x is compared with the one of the last
fully computed step r₁':

    δ = mean|r₁ − r₁'| / mean|r₁'|
    δ > threshold:  compute blocks 2..L; keep r₁' ← r₁ and the tail residual Δ = x_L − B₁(x)
    otherwise:      x_L ≈ B₁(x) + Δ (the tail residual of the last computed step)

Shapes: tokens ``(B, N, D)`` in and out of the block loop. The first step of a run is always computed.
"""

from __future__ import annotations

from ..registry import BadInput, register
from .base import StepCache, check_range, full_loop
from .examples import CACHE_DTYPES, cache_inputs, cache_output_shape, no_blocks, no_step


@register(
    "cache", "first_block", paper="ParaAttention First Block Cache (2025); diffusers FirstBlockCache",
    tiny=dict(threshold=0.05), inputs=cache_inputs, output_shape=cache_output_shape, frames=(2,), dtypes=CACHE_DTYPES,
    bad_inputs=[BadInput(match="threshold must be a number >= 0", init={"threshold": -0.1}), no_step(),
                no_blocks()],
)
class FirstBlockCache(StepCache):
    """Skip blocks 2..L while the first block's residual changes by at most ``threshold`` (relative mean-abs).

    Args:
        threshold: δ above which the remaining blocks are computed (diffusers' default 0.05; ≥ 0, 0 never skips
            a changed residual)."""

    key = "cache/first_block"

    def __init__(self, threshold: float = 0.05) -> None:
        super().__init__()
        self.threshold = float(check_range(self.key, "threshold", threshold, 0.0))

    def cached_blocks(self, s, net, tokens, run_block, depth, **facts):
        head = run_block(0, tokens)
        residual = head - tokens
        previous = s.get("head_residual")
        compute = previous is None or self.relative_change(residual, previous) > self.threshold
        self.record(compute)
        if not compute:
            return head + s["tail_residual"]
        out = full_loop(head, run_block, depth, start=1)
        s["head_residual"], s["tail_residual"] = residual, out - head
        return out

    @staticmethod
    def relative_change(residual, previous) -> float:
        """δ = mean|r − r'| / mean|r'| (a python float: the decision is taken on the host, as diffusers')."""
        return float((residual - previous).abs().mean() / previous.abs().mean())
