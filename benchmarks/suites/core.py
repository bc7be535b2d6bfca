"""The attention core itself: what ``attend`` costs on top of the kernel, and whether ``auto`` picks the fast path.

* ``overhead/<shape>``: ``attend(q, k, v, backend="sdpa")`` vs ``F.scaled_dot_product_attention(q, k, v)`` — the
  same kernel, so the difference is validation, backend resolution and (above 65,535 rows on CUDA) chunking.
  Interleaved rounds, median of per-round ratios; target ``ratio - 1 <= 5 %`` (docs/perf.md §8 spirit: the dispatcher
  must be free). ``overhead_us`` is the median per-round absolute difference.
* ``temporal_path/<shape>``: ``attend(q, k, v)`` with ``auto`` vs the *faster* of direct SDPA and plain math
  (``softmax(q kᵀ·s) v``) at temporal shapes (N = frames ≤ 32, huge batch): the baseline is whichever of the two
  has the lower median, then the median of per-round ``t_baseline / t_auto``; target ≥ 0.9 (docs/perf.md §7 item 3: on CPU SDPA loses 20-60 % to math at N = 16, so auto must not blindly call it).
Inputs are ``(B, heads, N, head_dim)`` random normal in the run's dtype.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from components.attention import attend, resolve_backend
from components.attention.backends import attention_flops

from ..cases import Context, base_record, error_record, finish
from ..timing import interleaved, ratio_stats


# (label, B, heads, N, head_dim)
OVERHEAD = {
    "gpu": [("spatial_64x64_d40", 32, 8, 4096, 40), ("spatial_32x32_d64", 32, 8, 1024, 64),
            ("full_16x32x32_d64", 1, 8, 16384, 64), ("full_16x32x32_d128", 1, 8, 16384, 128),
            ("temporal_f16_d40", 4096, 8, 16, 40), ("temporal_f16_d40_65536rows", 8192, 8, 16, 40),
            ("launch_bound", 1, 2, 64, 32)],
    "cpu": [("spatial_32x32_d40", 2, 8, 1024, 40), ("full_8x16x16_d64", 1, 8, 2048, 64),
            ("temporal_f16_d40", 1024, 8, 16, 40), ("launch_bound", 1, 2, 64, 32)],
    "quick": [("launch_bound", 1, 2, 64, 16), ("temporal_f8", 64, 2, 8, 16)],
}
TEMPORAL = {
    "gpu": [(f"f{f}_d40", 8192, 8, f, 40) for f in (8, 16, 25)] + [("f16_d64", 4096, 8, 16, 64)],
    "cpu": [("f16_d40", 1024, 8, 16, 40), ("f16_d64", 256, 8, 16, 64), ("f8_d40", 1024, 8, 8, 40),
            ("f25_d40", 512, 8, 25, 40)],
    "quick": [("f8_d16", 64, 2, 8, 16)],
}
OVERHEAD_TARGET = 0.05
TEMPORAL_TARGET = 0.9


def plain_math(q, k, v):
    """The naive attention of docs/perf.md §7: ``softmax(q kᵀ / √d) v`` in the inputs' dtype."""
    return ((q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5).softmax(-1) @ v


def _qkv(ctx: Context, b: int, h: int, n: int, d: int):
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(b, h, n, d, generator=gen).to(ctx.device, ctx.dtype) for _ in range(3)]


def _shape_fields(b, h, n, d) -> dict:
    return dict(shape=f"B{b} h{h} N{n} d{d}", batch=b, num_heads=h, frames=None, tokens=n, head_dim=d)


def _overhead(ctx: Context, label: str, b: int, h: int, n: int, d: int) -> dict:
    name = f"overhead/{label}"
    fields = dict(key="attention_backend/sdpa", backend_requested="sdpa", direction="fwd", **_shape_fields(b, h, n, d))
    try:
        q, k, v = _qkv(ctx, b, h, n, d)
        with torch.no_grad():
            times = interleaved({"attend": lambda: attend(q, k, v, backend="sdpa"),
                                 "direct": lambda: F.scaled_dot_product_attention(q, k, v)},
                                ctx.device, rounds=ctx.rounds, block_ms=ctx.block_ms)
    except Exception as exc:  # noqa: BLE001 - direct SDPA above the CUDA grid limit fails: that is a result
        return error_record(ctx, "attention_core", name, exc, **fields)
    ratio, lo, hi = ratio_stats(times["attend"], times["direct"])
    diffs = sorted(a - b for a, b in zip(times["attend"], times["direct"]))
    ms = sorted(times["attend"])[len(diffs) // 2]
    rec = base_record(ctx, "attention_core", name, backend="sdpa", ms=ms,
                      ms_baseline=sorted(times["direct"])[len(diffs) // 2], baseline="F.scaled_dot_product_attention",
                      ratio=ratio, ratio_q1=lo, ratio_q3=hi, overhead_pct=100 * (ratio - 1),
                      overhead_us=1e3 * diffs[len(diffs) // 2], metric="attend time / direct SDPA time",
                      target=f"<= {1 + OVERHEAD_TARGET:.2f}", target_met=ratio <= 1 + OVERHEAD_TARGET,
                      rounds=len(diffs), **fields)
    flops = attention_flops(b, h, n, n, d)
    return finish(ctx, rec, flops, 4 * b * h * n * d * q.element_size(), ms)


def _temporal(ctx: Context, label: str, b: int, h: int, n: int, d: int) -> dict:
    name = f"temporal_path/{label}"
    fields = dict(key="attention_backend/auto", backend_requested="auto", direction="fwd", **_shape_fields(b, h, n, d))
    fields["frames"] = n
    try:
        q, k, v = _qkv(ctx, b, h, n, d)
        with torch.no_grad():
            ran = resolve_backend(q, k, v).name
            times = interleaved({"auto": lambda: attend(q, k, v),
                                 "sdpa": lambda: F.scaled_dot_product_attention(q, k, v),
                                 "math": lambda: plain_math(q, k, v)},
                                ctx.device, rounds=ctx.rounds, block_ms=ctx.block_ms)
    except Exception as exc:  # noqa: BLE001
        return error_record(ctx, "attention_core", name, exc, **fields)
    # the faster baseline by median over all rounds; a per-round min of two noisy timings would be biased low
    faster = min(("sdpa", "math"), key=lambda n: sorted(times[n])[len(times[n]) // 2])
    best = times[faster]
    ratio, lo, hi = ratio_stats(best, times["auto"])
    mid = len(best) // 2
    rec = base_record(ctx, "attention_core", name, backend=ran, ms=sorted(times["auto"])[mid],
                      ms_sdpa=sorted(times["sdpa"])[mid], ms_math=sorted(times["math"])[mid],
                      baseline=f"{faster} (the faster of sdpa and plain math)", ms_baseline=sorted(best)[mid],
                      ratio=ratio, ratio_q1=lo, ratio_q3=hi, metric="speed of auto / speed of the faster of sdpa, math",
                      target=f">= {TEMPORAL_TARGET}", target_met=ratio >= TEMPORAL_TARGET, rounds=len(best), **fields)
    return finish(ctx, rec, attention_flops(b, h, n, n, d), 4 * b * h * n * d * q.element_size(), rec["ms"])


def run(ctx: Context) -> list[dict]:
    records = []
    for label, *shape in OVERHEAD[ctx.tier]:
        ctx.log(f"attention_core: overhead {label}")
        records.append(_overhead(ctx, label, *shape))
    for label, *shape in TEMPORAL[ctx.tier]:
        ctx.log(f"attention_core: temporal path {label}")
        records.append(_temporal(ctx, label, *shape))
    return records
