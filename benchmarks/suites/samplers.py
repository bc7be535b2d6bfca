"""Sampler step overhead, delegated to ``benchmarks/sampler_overhead.py`` (``run(quick: bool = False)``).

That module (owned by the samplers work) times the zoo's sampler steps against diffusers' ``scheduler.step``;
this suite imports it lazily, so the harness works before it exists (one ``skipped`` record says why), and adds the
common fields (suite, id, device, status) to whatever dicts it returns; a ``speedup`` over diffusers becomes the
case's ``ratio`` with the docs/perf.md §8 target (≥ 3×).
"""

from __future__ import annotations

import importlib

from ..cases import Context, base_record


MODULE = "benchmarks.sampler_overhead"
SPEEDUP_TARGET = 3.0  # docs/perf.md §7 item 4 / §8: ≥ 3× faster than diffusers' scheduler.step


def _first(d: dict, *names):
    return next((d[n] for n in names if d.get(n) is not None), None)


def normalise(ctx: Context, raw: dict, index: int) -> dict:
    """A record in the harness's schema from one of sampler_overhead's dicts (its own fields are kept)."""
    name = str(_first(raw, "name", "case", "id", "key") or f"case{index}")
    ms = _first(raw, "ms", "time_ms", "median_ms")
    if ms is None and _first(raw, "us", "time_us", "median_us") is not None:
        ms = _first(raw, "us", "time_us", "median_us") / 1e3
    rec = base_record(ctx, "samplers", name, key=_first(raw, "key", "sampler"))
    rec.update({k: v for k, v in raw.items() if k not in ("id", "suite")})
    rec.update(name=name, ms=ms, status=raw.get("status", "ok"))
    if raw.get("speedup") is not None and raw.get("ratio") is None:  # ours vs diffusers' scheduler.step
        rec.update(ratio=raw["speedup"], ratio_q1=raw.get("speedup_q1"), ratio_q3=raw.get("speedup_q3"),
                   metric="diffusers step time / zoo step time", target=f">= {SPEEDUP_TARGET}",
                   target_met=raw["speedup"] >= SPEEDUP_TARGET if not ctx.quick else None)
    return rec


def run(ctx: Context) -> list[dict]:
    try:
        module = importlib.import_module(MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != MODULE:
            raise
        ctx.log(f"samplers: skipped ({MODULE} does not exist yet)")
        return [base_record(ctx, "samplers", "sampler_overhead", status="skipped",
                            note=f"{MODULE} does not exist yet")]
    if not hasattr(module, "run"):
        return [base_record(ctx, "samplers", "sampler_overhead", status="skipped", note=f"{MODULE} has no run()")]
    return [normalise(ctx, raw, i) for i, raw in enumerate(module.run(quick=ctx.quick))]
