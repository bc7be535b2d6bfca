"""pytest-benchmark: every ``conv/*`` and ``block/*`` entry, forward and backward, parametrised by the registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import components

from .cases import make_inputs
from .counting import _tensors
from .pytest_support import run_benchmark
from .shapes import BLOCK, CONV, scaled_config


KEYS = components.list_components(["conv/*", "block/*", "blocks/*"])


@pytest.mark.parametrize("direction", ["fwd", "bwd"])
@pytest.mark.parametrize("key", KEYS)
def test_module(benchmark, bench_ctx, key, direction):
    entry = components.get_component(key)
    table = CONV if key.startswith("conv/") else BLOCK
    shape = None if bench_ctx.quick else table[bench_ctx.tier]["*"][0]
    cfg = scaled_config(entry.obj, entry.tiny or {}, shape)
    args, kwargs = make_inputs(entry, cfg, shape, bench_ctx)
    with torch.device(bench_ctx.device):
        module = components.build(key, **cfg)
    if isinstance(module, nn.Module):
        module = module.to(bench_ctx.dtype).eval()
    if direction == "fwd":
        def fn():
            with torch.no_grad():
                return module(*args, **kwargs)
    else:
        args = tuple(a.requires_grad_() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)
        outs = [o for o in _tensors(module(*args, **kwargs)) if o.requires_grad]
        if not outs:
            pytest.skip(f"{key}: output does not require grad")
        leaves = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad] + list(module.parameters())
        grads = [torch.randn_like(o) for o in outs]

        def fn():
            return torch.autograd.grad(outs, leaves, grads, retain_graph=True, allow_unused=True)
    run_benchmark(benchmark, fn, bench_ctx, key=key, direction=direction, shape=shape.label if shape else "tiny")
