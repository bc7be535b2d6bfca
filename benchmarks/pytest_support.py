"""Helpers for the pytest-benchmark files ``benchmarks/test_bench_*.py``, run by
``pytest benchmarks/ --benchmark-only`` (pyproject's testpaths is ``tests/``, so they run only when named).

``ZOO_BENCH_DEVICE`` (default: cuda when available) and ``ZOO_BENCH_TIER`` (``quick`` default, ``cpu`` or ``gpu``:
the shape tables of ``benchmarks.shapes``) choose what runs. pytest-benchmark times with a host timer, so on CUDA the
benchmarked callable synchronises once per round; use ``python -m benchmarks`` (CUDA events, L2 flush) for the
numbers you report.
"""

from __future__ import annotations

import os

import torch

from benchmarks.cases import Context


def bench_device() -> torch.device:
    name = os.environ.get("ZOO_BENCH_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def bench_context() -> Context:
    device = bench_device()
    tier = os.environ.get("ZOO_BENCH_TIER", "quick")
    if tier not in ("quick", "cpu", "gpu"):
        raise ValueError(f"ZOO_BENCH_TIER must be quick, cpu or gpu, got {tier!r}")
    ctx = Context(device=device, dtype=torch.bfloat16 if device.type == "cuda" else torch.float32,
                  quick=tier == "quick", log=lambda message: None)
    return ctx


def run_benchmark(benchmark, fn, ctx: Context, *, rounds: int = 5, **info) -> None:
    """Time ``fn`` with pytest-benchmark (synchronising on CUDA) and attach the case's metadata."""
    def call():
        out = fn()
        if ctx.device.type == "cuda":
            torch.cuda.synchronize(ctx.device)
        return out

    benchmark.extra_info.update({k: v for k, v in info.items() if v is not None})
    benchmark.pedantic(call, rounds=rounds, iterations=1, warmup_rounds=1)
