"""One benchmark case = one registry entry at one shape, one backend, one direction; this file runs it.

``module_cases`` builds the entry from its (scaled) tiny config, makes inputs with the entry's own ``inputs`` hook
(re-sized to the shape's frames and spatial size), counts the logical work once (``counting.probe``), then times
the forward under ``no_grad`` and the backward (``autograd.grad`` of the same output with ``retain_graph``, so only
the backward is timed), records peak memory, the backend the zoo resolved for every ``attend`` call (CPU and GPU)
and, on GPU, the kernel family the profiler saw. Failures (unsupported backend, out of memory, a shape an entry
refuses) become records with ``status`` set, never a crashed run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

import components
from components.attention import resolve_backend, set_attention_backend
from components.attention.backends import attend as _real_attend

from .counting import Work, _tensors, declared_attention_flops, patched_attend, probe
from .hardware import kernel_family
from .shapes import Shape, scaled_config
from .timing import measure, peak_memory_mb


@dataclass
class Context:
    """Run-wide settings shared by every suite."""

    device: torch.device
    dtype: torch.dtype
    quick: bool
    warmup: int = 2
    repeats: int = 10
    rounds: int = 11
    block_ms: float = 20.0
    ceilings: dict = field(default_factory=dict)
    peak: dict = field(default_factory=dict)
    log: Callable[[str], None] = print

    @property
    def tier(self) -> str:
        return "quick" if self.quick else ("gpu" if self.device.type == "cuda" else "cpu")


def case_id(suite: str, name: str) -> str:
    return f"{suite}:{name}"


def finish(ctx: Context, rec: dict, flops: float | None, nbytes: float | None, ms: float | None) -> dict:
    """Add throughput and fractions of datasheet peak and of the ceilings measured in this run."""
    sec = ms * 1e-3 if ms else None
    tflops = flops / sec / 1e12 if flops and sec else None
    gbps = nbytes / sec / 1e9 if nbytes and sec else None

    def frac(value, ref):
        return 100.0 * value / ref if value is not None and ref else None

    rec.update(
        flops=flops, bytes=nbytes, tflops=tflops, gbps=gbps,
        pct_peak_tflops=frac(tflops, ctx.peak.get("tflops")), pct_peak_gbps=frac(gbps, ctx.peak.get("gbps")),
        pct_gemm_ceiling=frac(tflops, ctx.ceilings.get("gemm_tflops")),
        pct_copy_ceiling=frac(gbps, ctx.ceilings.get("copy_gbps")),
    )
    return rec


def base_record(ctx: Context, suite: str, name: str, **fields) -> dict:
    rec = {"id": case_id(suite, name), "suite": suite, "name": name, "key": None, "device": ctx.device.type,
           "dtype": str(ctx.dtype).replace("torch.", ""), "status": "ok", "note": ""}
    rec.update(fields)
    return rec


def error_record(ctx: Context, suite: str, name: str, exc: BaseException, **fields) -> dict:
    unsupported = isinstance(exc, NotImplementedError) or isinstance(exc, ValueError) and "cannot run" in str(exc)
    status = "unsupported" if unsupported else "error"
    if isinstance(exc, torch.OutOfMemoryError):
        status = "oom"
        torch.cuda.empty_cache()
    msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    ctx.log(f"  {status}: {name}: {msg}")
    return base_record(ctx, suite, name, status=status, note=msg, **fields)


def make_inputs(entry, cfg: dict, shape: Shape | None, ctx: Context, seed: int = 0) -> tuple[tuple, dict]:
    """The entry's own example inputs for ``cfg``, re-sized to ``shape`` (frames and H×W; context length)."""
    gen = torch.Generator().manual_seed(seed)
    if shape is None:
        extra = {"frames": max(entry.frames) if entry.frames else 4} if entry.is_module_class or entry.frames else {}
        args, kwargs = entry.inputs(cfg, batch=2, generator=gen, **extra)
    else:
        args, kwargs = entry.inputs(cfg, frames=shape.frames, batch=shape.batch, generator=gen)

    def resize(t):
        if not isinstance(t, torch.Tensor):
            return t
        if shape is not None and t.ndim == 5:
            t = torch.randn(*t.shape[:3], shape.height, shape.width, generator=gen, dtype=t.dtype)
        elif shape is not None and shape.context_len and t.ndim == 3 and t.shape[0] == shape.batch:
            t = torch.randn(t.shape[0], shape.context_len, t.shape[2], generator=gen, dtype=t.dtype)
        t = t.to(ctx.device)
        return t.to(ctx.dtype) if t.is_floating_point() else t

    def walk(v):
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return type(v)(walk(x) for x in v)
        return resize(v)

    return walk(tuple(args)), walk(dict(kwargs))


def _builder(key: str, cfg: dict, backend: str | None) -> Callable[[], object]:
    def build():
        obj = components.build(key, **cfg)
        if backend is not None and isinstance(obj, nn.Module):
            set_attention_backend(obj, backend)
        return obj
    return build


def resolved_backends(fn: Callable[[], object]) -> str | None:
    """Names of the backends ``attend`` resolved during ``fn()`` (what actually ran, not what was asked)."""
    names: list[str] = []

    def tracer(q, k, v, *, mask=None, dropout_p=0.0, backend="auto", **kwargs):
        names.append(resolve_backend(q, k, v, mask=mask, dropout_p=dropout_p, backend=backend).name)
        return _real_attend(q, k, v, mask=mask, dropout_p=dropout_p, backend=backend, **kwargs)

    with patched_attend(tracer):
        fn()
    return "+".join(sorted(set(names))) or None


def module_cases(ctx: Context, suite: str, key: str, shape: Shape | None, backends: list[str | None],
                 directions: tuple[str, ...] = ("fwd", "bwd")) -> list[dict]:
    """Every (backend, direction) case of registry entry ``key`` at ``shape``."""
    entry = components.get_component(key)
    cfg = scaled_config(entry.obj, entry.tiny or {}, shape)
    label = shape.label if shape is not None else "tiny"
    common = dict(key=key, shape=label, config=cfg)
    if shape is not None:
        common.update(batch=shape.batch, frames=shape.frames, height=shape.height, width=shape.width,
                      channels=shape.channels, head_dim=shape.head_dim)
    try:
        args, kwargs = make_inputs(entry, cfg, shape, ctx)
        work = probe(_builder(key, cfg, None), args, kwargs, device=ctx.device, backward="bwd" in directions)
    except Exception as exc:  # noqa: BLE001
        return [error_record(ctx, suite, f"{key}|{label}", exc, **common)]
    if shape is None:
        x = next((t for t in _tensors(args) if t.ndim == 5), None)
        if x is not None:
            common.update(batch=x.shape[0], channels=x.shape[1], frames=x.shape[2], height=x.shape[3], width=x.shape[4])
    records = []
    for backend in backends:
        for direction in directions:
            name = f"{key}|{backend or 'default'}|{label}|{direction}"
            try:
                records.append(_run(ctx, suite, name, key, cfg, backend, direction, args, kwargs, work, common))
            except Exception as exc:  # noqa: BLE001
                records.append(error_record(ctx, suite, name, exc, backend_requested=backend, direction=direction,
                                            **common))
    return records


def _run(ctx, suite, name, key, cfg, backend, direction, args, kwargs, work: Work, common) -> dict:
    torch.manual_seed(0)
    with torch.device(ctx.device):
        module = _builder(key, cfg, backend)()
    if isinstance(module, nn.Module):
        module = module.to(ctx.dtype).eval()
    if direction == "fwd":
        def fn():
            with torch.no_grad():
                return module(*args, **kwargs)
    else:
        leaf_args = tuple(a.detach().requires_grad_() if isinstance(a, torch.Tensor) and a.is_floating_point()
                          else a for a in args)
        out = [o for o in _tensors(module(*leaf_args, **kwargs)) if o.requires_grad]
        if not out:
            raise ValueError("backward cannot run: the output does not require grad")
        leaves = [a for a in leaf_args if isinstance(a, torch.Tensor) and a.requires_grad]
        leaves += [p for p in module.parameters() if p.requires_grad] if isinstance(module, nn.Module) else []
        grads = [torch.randn_like(o) for o in out]

        def fn():
            return torch.autograd.grad(out, leaves, grads, retain_graph=True, allow_unused=True)
    fwd_call = (lambda: module(*args, **kwargs)) if direction == "fwd" else None
    ran = None
    if work.calls:
        with torch.no_grad():
            ran = resolved_backends(fwd_call or (lambda: module(*args, **kwargs)))
    timing = measure(fn, ctx.device, warmup=ctx.warmup, repeats=ctx.repeats, block_ms=ctx.block_ms)
    kernel, top = kernel_family(fn, ctx.device)
    mem, mem_method = peak_memory_mb(fn, ctx.device)
    attn_declared = declared_attention_flops(module, args, kwargs) if work.calls else None
    note = work.note
    if attn_declared is not None and abs(attn_declared - work.attn_flops) > 0.01 * max(attn_declared, 1.0):
        note = (note + "; " if note else "") + (f"declared attention FLOPs {attn_declared:.4g} != probed "
                                                 f"{work.attn_flops:.4g} (declared used)")
    attn = attn_declared if attn_declared is not None else work.attn_flops
    factor = 1.0 if direction == "fwd" else 2.5
    flops = work.flops(direction)
    if flops is not None and attn_declared is not None:
        flops += factor * (attn_declared - work.attn_flops)
    rec = base_record(ctx, suite, name, backend_requested=backend, backend=ran, kernel=kernel, kernels=top,
                      direction=direction, ms=timing.ms, ms_q1=timing.q1, ms_q3=timing.q3,
                      repeats=len(timing.samples), calls_per_sample=timing.calls_per_sample,
                      attn_flops=factor * attn if work.calls else None,
                      attn_flops_source=("declared" if attn_declared is not None else work.source) if work.calls
                      else None, peak_mem_mb=mem, mem_method=mem_method, note=note, **common)
    return finish(ctx, rec, flops, work.bytes(direction), timing.ms)
