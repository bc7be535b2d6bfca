"""Convolutions: every ``conv/*`` entry forward and backward, and (2+1)-D vs full 3-D convolution.

* Per entry: ``cases.module_cases`` at ``shapes.CONV`` (SD-1.5 levels on GPU, C = 64 at 8 × 16 × 16 on CPU); FLOPs
  from ``FlopCounterMode`` (exact for convolutions), bytes = input + output + weights.
* ``ratio/registry/<name>``: the registry's full 3-D entry vs each factorized entry (found by name: ``full``/``3d``
  vs ``2plus1``/``factorized``/``pseudo``) at the same config, interleaved, ``t_full / t_factorized`` against the
  counted FLOP ratio (an R(2+1)D entry that matches Conv3d's parameter count has a FLOP ratio near 1; pseudo-3-D,
  C→C spatial then C→C temporal, has 27/12). Skipped while the registry has no such pair.
* ``ratio/torch``: the same comparison on plain ``nn.Conv3d`` (3×3×3 vs 1×3×3 then 3×1×1, FLOP ratio 27/12 = 2.25;
  channels_last_3d on GPU) — the reference the registry entries are judged against. Goals: GPU (2+1)-D ≥ 1.8×
  Conv3d at C ≥ 320 (docs/perf.md §8); CPU only "not slower" (≥ 1.0×) because oneDNN's algorithm choice dominates
  (docs/perf.md §7).
"""

from __future__ import annotations

import torch
from torch import nn

import components

from ..cases import Context, base_record, error_record, finish, make_inputs, module_cases
from ..counting import probe
from ..shapes import CONV, scaled_config, shapes_for
from ..timing import interleaved, ratio_stats


REFERENCE = {"gpu": (1, 320, 16, 64, 64), "cpu": (1, 64, 8, 32, 32), "quick": (1, 8, 4, 8, 8)}


def _pair() -> tuple[str | None, list[str]]:
    """The full 3-D entry and every factorized one ((2+1)-D, pseudo-3-D) under ``conv/*``, found by name."""
    names = {k: k.split("/", 1)[1] for k in components.list_components("conv/*")}
    full = next((k for k, n in names.items() if "full" in n), None) or next(
        (k for k, n in names.items() if n in ("conv3d", "3d")), None)
    factorized = [k for k, n in names.items() if any(s in n for s in ("2plus1", "factorized", "2p1", "pseudo"))]
    return full, factorized


def _target(ctx: Context) -> tuple[str, float]:
    return (">= 1.8 (docs/perf.md §8)", 1.8) if ctx.device.type == "cuda" else (">= 1.0, not slower (docs/perf.md §7)", 1.0)


def _ratio_record(ctx, name, key, times, flop_ratio, flops, nbytes, fields) -> dict:
    ratio, lo, hi = ratio_stats(times["full"], times["factorized"])
    mid = len(times["full"]) // 2
    text, threshold = _target(ctx)
    rec = base_record(ctx, "conv", name, key=key, direction="fwd", ms=sorted(times["full"])[mid],
                      ms_factorized=sorted(times["factorized"])[mid], baseline="factorized", ratio=ratio,
                      ratio_q1=lo, ratio_q3=hi, flop_ratio=flop_ratio, efficiency=ratio / flop_ratio if flop_ratio
                      else None, metric="t_full / t_factorized", target=text,
                      target_met=ratio >= threshold if not ctx.quick else None, rounds=len(times["full"]), **fields)
    return finish(ctx, rec, flops, nbytes, rec["ms"])


def _torch_ratio(ctx: Context) -> dict:
    b, c, t, h, w = REFERENCE[ctx.tier]
    fields = dict(shape=f"B{b} C{c} T{t} {h}x{w}", batch=b, channels=c, frames=t, height=h, width=w)
    name = f"ratio/torch/{fields['shape']}"
    fmt = torch.channels_last_3d if ctx.device.type == "cuda" else torch.contiguous_format
    try:
        torch.manual_seed(0)
        full = nn.Conv3d(c, c, 3, padding=1).to(ctx.device, ctx.dtype, memory_format=fmt)
        spatial = nn.Conv3d(c, c, (1, 3, 3), padding=(0, 1, 1)).to(ctx.device, ctx.dtype, memory_format=fmt)
        temporal = nn.Conv3d(c, c, (3, 1, 1), padding=(1, 0, 0)).to(ctx.device, ctx.dtype, memory_format=fmt)
        x = torch.randn(b, c, t, h, w).to(ctx.device, ctx.dtype).contiguous(memory_format=fmt)
        with torch.no_grad():
            times = interleaved({"full": lambda: full(x), "factorized": lambda: temporal(spatial(x))}, ctx.device,
                                rounds=ctx.rounds, block_ms=ctx.block_ms)
    except Exception as exc:  # noqa: BLE001
        return error_record(ctx, "conv", name, exc, key="torch.nn.Conv3d", **fields)
    flops = 2.0 * b * c * c * 27 * t * h * w
    return _ratio_record(ctx, name, "torch.nn.Conv3d", times, 27 / 12, flops,
                         (2 * x.numel() + full.weight.numel()) * x.element_size(), fields)


def _registry_ratio(ctx: Context) -> list[dict]:
    full_key, fact_keys = _pair()
    if not (full_key and fact_keys):
        return [base_record(ctx, "conv", "ratio/registry", status="skipped",
                            note=f"no full-3D / (2+1)-D pair under conv/* (found {full_key}, {fact_keys})")]
    records = []
    for fact_key, shape in ((f, s) for f in fact_keys for s in shapes_for(CONV, "*", ctx.tier)):
        key = f"{full_key}+{fact_key}"
        name = f"ratio/registry/{fact_key.split('/', 1)[1]}/{shape.label if shape else 'tiny'}"
        try:
            mods, works = {}, {}
            for side, k in (("full", full_key), ("factorized", fact_key)):
                entry = components.get_component(k)
                cfg = scaled_config(entry.obj, entry.tiny or {}, shape)
                args, kwargs = make_inputs(entry, cfg, shape, ctx)
                torch.manual_seed(0)
                mod = components.build(k, **cfg).to(ctx.device, ctx.dtype).eval()
                mods[side] = (mod, args, kwargs)
                works[side] = probe(lambda k=k, cfg=cfg: components.build(k, **cfg), args, kwargs,
                                    device=ctx.device, backward=False)
            with torch.no_grad():
                times = interleaved({s: (lambda m=m, a=a, kw=kw: m(*a, **kw)) for s, (m, a, kw) in mods.items()},
                                    ctx.device, rounds=ctx.rounds, block_ms=ctx.block_ms)
        except Exception as exc:  # noqa: BLE001
            records.append(error_record(ctx, "conv", name, exc, key=key))
            continue
        f_full, f_fact = works["full"].flops("fwd"), works["factorized"].flops("fwd")
        flop_ratio = f_full / f_fact if f_full and f_fact else None
        records.append(_ratio_record(ctx, name, key, times, flop_ratio, f_full, works["full"].bytes("fwd"),
                                     dict(shape=shape.label if shape else "tiny")))
    return records


def run(ctx: Context) -> list[dict]:
    records: list[dict] = []
    for key in components.list_components("conv/*"):
        for shape in shapes_for(CONV, key.split("/", 1)[1], ctx.tier):
            ctx.log(f"conv: {key} {shape.label if shape else 'tiny'}")
            records += module_cases(ctx, "conv", key, shape, [None])
    ctx.log("conv: (2+1)-D vs 3-D ratios")
    records += _registry_ratio(ctx)
    records.append(_torch_ratio(ctx))
    return records
