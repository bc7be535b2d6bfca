"""pytest-benchmark: every ``attention/*`` variant × every backend usable here, forward; and ``attend`` vs SDPA.

Parametrised by the registry at collection time, so a new variant or backend appears without an edit.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import components
from components.attention import attend, available_backends, set_attention_backend

from .cases import make_inputs
from .pytest_support import bench_device, run_benchmark
from .shapes import ATTENTION, scaled_config


VARIANTS = components.list_components("attention/*")
BACKENDS = ["auto"] + [n for n, why in available_backends(bench_device()).items() if why is None]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("key", VARIANTS)
def test_attention_forward(benchmark, bench_ctx, key, backend):
    entry = components.get_component(key)
    tier = bench_ctx.tier
    shape = None if tier == "quick" else ATTENTION[tier].get(key.split("/", 1)[1], ATTENTION[tier]["*"])[0]
    cfg = scaled_config(entry.obj, entry.tiny, shape)
    args, kwargs = make_inputs(entry, cfg, shape, bench_ctx)
    with torch.device(bench_ctx.device):
        module = set_attention_backend(components.build(key, **cfg), backend)
    module = module.to(bench_ctx.dtype).eval()

    def fn():
        with torch.no_grad():
            return module(*args, **kwargs)

    try:
        fn()
    except (ValueError, NotImplementedError) as exc:
        pytest.skip(f"{key} with backend {backend}: {exc}")
    run_benchmark(benchmark, fn, bench_ctx, key=key, backend=backend, shape=shape.label if shape else "tiny")


@pytest.mark.parametrize("path", ["attend", "direct_sdpa"])
def test_attention_core_overhead(benchmark, bench_ctx, path):
    b, h, n, d = (1, 2, 64, 16) if bench_ctx.quick else (2, 8, 1024, 40)
    q, k, v = (torch.randn(b, h, n, d, device=bench_ctx.device, dtype=bench_ctx.dtype) for _ in range(3))
    fn = (lambda: attend(q, k, v, backend="sdpa")) if path == "attend" else (
        lambda: F.scaled_dot_product_attention(q, k, v))
    run_benchmark(benchmark, fn, bench_ctx, rounds=20, key="attention_backend/sdpa", path=path)
