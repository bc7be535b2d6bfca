"""Whole denoiser forward per recipe: ``zoo.list_models()`` × ``zoo.create_model(name, preset)``.

Preset ``tiny`` in quick mode and on CPU, ``paper`` (else the first non-tiny preset) on GPU. Example inputs: the
recipe net's registry ``inputs`` hook re-sized to the preset's frames × height × width (``(args, kwargs)`` for
``model(x, t, **cond)``). Reports ms per forward, FLOPs (attention convention + FlopCounterMode), MFU against the
datasheet peak, peak memory.
"""

from __future__ import annotations

import torch

import components

from ..cases import Context, base_record, error_record, finish, make_inputs
from ..counting import probe
from ..shapes import Shape
from ..timing import measure, peak_memory_mb


def _preset(zoo, name: str, tier: str) -> str:
    presets = list(zoo.get_recipe(name).presets)
    if tier != "gpu":
        return "tiny" if "tiny" in presets else presets[-1]
    return "paper" if "paper" in presets else next((p for p in presets if p != "tiny"), presets[0])


def _example_inputs(zoo, name: str, preset: str, ctx: Context):
    """``(args, kwargs)`` for ``model(x, t, **cond)``: the recipe net's registry ``inputs`` re-sized to the
    preset's frames × height × width."""
    recipe = zoo.get_recipe(name)
    entry = components.get_component(recipe.net)
    p = recipe.preset(preset)
    shape = Shape(batch=1, frames=p.frames, height=p.height, width=p.width)
    return make_inputs(entry, dict(p.config), shape, ctx)


def _to(value, ctx):
    if isinstance(value, torch.Tensor):
        value = value.to(ctx.device)
        return value.to(ctx.dtype) if value.is_floating_point() else value
    if isinstance(value, dict):
        return {k: _to(v, ctx) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to(v, ctx) for v in value)
    return value


def run(ctx: Context) -> list[dict]:
    try:
        import zoo
    except Exception as exc:  # noqa: BLE001 - a broken zoo package is a result, not a crashed harness
        return [error_record(ctx, "recipes", "recipes", exc)]
    records = []
    for model_name in zoo.list_models():
        preset = _preset(zoo, model_name, ctx.tier)
        name = f"{model_name}|{preset}|fwd"
        fields = dict(key=f"zoo/{model_name}", preset=preset, direction="fwd")
        ctx.log(f"recipes: {model_name} ({preset})")
        try:
            args, kwargs = _to(_example_inputs(zoo, model_name, preset, ctx), ctx)
            work = probe(lambda m=model_name, p=preset: zoo.create_model(m, preset=p), args, kwargs, device=ctx.device,
                         backward=False)
            with torch.device(ctx.device):
                model = zoo.create_model(model_name, preset=preset)
            model = model.to(ctx.dtype).eval()

            def fn(model=model, args=args, kwargs=kwargs):
                with torch.no_grad():
                    return model(*args, **kwargs)

            timing = measure(fn, ctx.device, warmup=ctx.warmup, repeats=ctx.repeats, block_ms=ctx.block_ms)
            mem, method = peak_memory_mb(fn, ctx.device)
        except Exception as exc:  # noqa: BLE001
            records.append(error_record(ctx, "recipes", name, exc, **fields))
            continue
        x = next((a for a in args if isinstance(a, torch.Tensor) and a.ndim == 5), None)
        fields["shape"] = f"{preset}: x {list(x.shape)}" if x is not None else preset
        rec = base_record(ctx, "recipes", name, ms=timing.ms, ms_q1=timing.q1, ms_q3=timing.q3,
                          peak_mem_mb=mem, mem_method=method, note=work.note, **fields)
        records.append(finish(ctx, rec, work.flops("fwd"), work.bytes("fwd"), timing.ms))
    return records
