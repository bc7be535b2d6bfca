"""Sampler step overhead, delegated to ``benchmarks/sampler_overhead.py`` (``run(quick: bool = False)``).

That module times the zoo's sampler steps (euler, ddim, dpmpp_2m, unipc, deis; bare and through the ``denoiser/vp``
adapter) against diffusers' ``scheduler.step`` in the same loop; this suite adds the common fields (suite, id, device,
status) to its records, and a ``speedup`` over diffusers becomes the case's ``ratio`` with the docs/perf.md §8 target
(≥ 3×).
"""

from __future__ import annotations

from ..cases import Context, base_record


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
    from .. import sampler_overhead

    return [normalise(ctx, raw, i) for i, raw in enumerate(sampler_overhead.run(quick=ctx.quick))]
