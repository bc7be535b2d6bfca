"""Factorized (spatial then temporal) vs full spacetime attention on the same token grid: time ratio vs FLOP ratio.

Two levels, both interleaved (median of per-round ratios ``t_full / t_factorized``):

* ``core/<grid>``: the attention core alone — ``attend`` on ``(B, h, T·S, d)`` vs ``attend`` on the per-frame fold
  ``(B·T, h, S, d)`` plus the per-pixel fold ``(B·S, h, T, d)``, *including* the layout permutes the folds need
  (the docs/perf.md §7 CPU measurement). FLOP ratio = T·S / (S + T).
* ``modules/<grid>``: the registry variants ``attention/spacetime`` vs ``attention/temporal(attention/spatial(x))``
  with the same ``dim``/``num_heads`` (projections included; two projection sets on the factorized side, so its FLOP
  ratio is lower). Skipped when the registry lacks any of the three.

Goals: time ratio ≥ 0.8 × FLOP ratio (docs/perf.md §8, GPU at 16 × 32 × 32 tokens; applied to the module level on CPU
too); the CPU core additionally against docs/perf.md §7 item 2, ≥ 8× at 16 × 16 × 16 (measured 8.7-12.9× against a FLOP
ratio of 15.1×). ``efficiency`` = time ratio / FLOP ratio.
"""

from __future__ import annotations

import torch
from einops import rearrange

import components
from components.attention import attend, resolve_backend

from ..cases import Context, base_record, error_record, finish
from ..counting import probe
from ..timing import interleaved, ratio_stats


# (batch, frames, height, width, heads, head_dim)
GRIDS = {
    "gpu": [(1, 16, 32, 32, 8, 64), (1, 13, 30, 45, 48, 64)],
    "cpu": [(1, 16, 16, 16, 8, 64)],
    "quick": [(1, 4, 8, 8, 2, 16)],
}
KEYS = ("attention/spatial", "attention/temporal", "attention/spacetime")


def _targets(ctx: Context, flop_ratio: float, level: str) -> tuple[str, float]:
    if ctx.device.type == "cpu" and level == "core":
        return ">= 8.0 (docs/perf.md §7, CPU, 16x16x16)", 8.0
    return f">= 0.8 x FLOP ratio = {0.8 * flop_ratio:.3g}", 0.8 * flop_ratio


def _record(ctx, name, times, flop_ratio, flops_full, bytes_full, fields) -> dict:
    ratio, lo, hi = ratio_stats(times["full"], times["factorized"])
    mid = len(times["full"]) // 2
    text, threshold = _targets(ctx, flop_ratio, name.split("/")[0])
    rec = base_record(ctx, "factorized", name, ms=sorted(times["full"])[mid],
                      ms_factorized=sorted(times["factorized"])[mid], baseline="factorized", ratio=ratio, ratio_q1=lo,
                      ratio_q3=hi, flop_ratio=flop_ratio, efficiency=ratio / flop_ratio,
                      metric="t_full / t_factorized", target=text,
                      target_met=ratio >= threshold if not ctx.quick else None, rounds=len(times["full"]), **fields)
    return finish(ctx, rec, flops_full, bytes_full, rec["ms"])


def _core(ctx: Context, b, t, hh, ww, heads, d) -> dict:
    s = hh * ww
    name = f"core/B{b} T{t} {hh}x{ww} h{heads} d{d}"
    fields = dict(key="attention_backend/auto", direction="fwd", batch=b, frames=t, height=hh, width=ww,
                  num_heads=heads, head_dim=d, shape=f"B{b} T{t} {hh}x{ww} h{heads} d{d}")
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(b, heads, t * s, d, generator=gen).to(ctx.device, ctx.dtype) for _ in range(3))

    def full():
        return attend(q, k, v)

    def factorized():
        fold_s = [rearrange(x, "b h (t s) d -> (b t) h s d", t=t) for x in (q, k, v)]
        y = rearrange(attend(*fold_s), "(b t) h s d -> b h (t s) d", b=b)
        fold_t = [rearrange(x, "b h (t s) d -> (b s) h t d", t=t) for x in (y, k, v)]
        return rearrange(attend(*fold_t), "(b s) h t d -> b h (t s) d", b=b)

    try:
        with torch.no_grad():
            times = interleaved({"full": full, "factorized": factorized}, ctx.device, rounds=max(5, ctx.rounds // 2),
                                block_ms=ctx.block_ms)
    except Exception as exc:  # noqa: BLE001
        return error_record(ctx, "factorized", name, exc, **fields)
    ran = [resolve_backend(q[:, :, :n], k[:, :, :n], v[:, :, :n]).name for n in (t * s, s, t)]
    fields["backend"] = f"full: {ran[0]}, spatial: {ran[1]}, temporal: {ran[2]}"
    flops_full = 4.0 * b * heads * (t * s) ** 2 * d
    flop_ratio = (t * s) ** 2 / (t * s * s + s * t * t)
    return _record(ctx, name, times, flop_ratio, flops_full, 4 * q.numel() * q.element_size(), fields)


def _modules(ctx: Context, b, t, hh, ww, heads, d) -> dict:
    dim = heads * d
    name = f"modules/B{b} T{t} {hh}x{ww} C{dim} h{heads}"
    fields = dict(key="+".join(KEYS), direction="fwd", batch=b, frames=t, height=hh, width=ww, channels=dim,
                  num_heads=heads, head_dim=d, shape=f"B{b} T{t} {hh}x{ww} C{dim} h{heads}")
    missing = [k for k in KEYS if not components.has_component(k)]
    if missing:
        return base_record(ctx, "factorized", name, status="skipped", note=f"registry lacks {missing}", **fields)
    try:
        def build(key):
            return lambda: components.build(key, dim=dim, num_heads=heads)

        torch.manual_seed(0)
        spatial, temporal, full = (build(k)().to(ctx.device, ctx.dtype).eval() for k in KEYS)
        x = torch.randn(b, dim, t, hh, ww, generator=torch.Generator().manual_seed(0)).to(ctx.device, ctx.dtype)
        work = {k: probe(build(k), (x,), {}, device=ctx.device, backward=False) for k in KEYS}
        if any(w.flops("fwd") is None for w in work.values()):
            raise RuntimeError("FLOPs could not be counted: " + "; ".join(w.note for w in work.values() if w.note))
        with torch.no_grad():
            times = interleaved({"full": lambda: full(x), "factorized": lambda: temporal(spatial(x))}, ctx.device,
                                rounds=max(5, ctx.rounds // 2), block_ms=ctx.block_ms)
    except Exception as exc:  # noqa: BLE001
        return error_record(ctx, "factorized", name, exc, **fields)
    f_full = work[KEYS[2]].flops("fwd")
    flop_ratio = f_full / (work[KEYS[0]].flops("fwd") + work[KEYS[1]].flops("fwd"))
    return _record(ctx, name, times, flop_ratio, f_full, work[KEYS[2]].bytes("fwd"), fields)


def run(ctx: Context) -> list[dict]:
    records = []
    for grid in GRIDS[ctx.tier]:
        ctx.log(f"factorized: grid {grid}")
        records.append(_core(ctx, *grid))
        records.append(_modules(ctx, *grid))
    return records
