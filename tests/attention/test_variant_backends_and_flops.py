"""Backend parity of every variant (math vs sdpa, fp32) and ``flops`` against the attention calls actually made."""

from __future__ import annotations

import pytest
import torch

import components
import components.attention.base as base
from components.attention import set_attention_backend


# (key, constructor options, forward kwargs maker)
def _context(per_frame=False, mask=False):
    def make(frames):
        g = torch.Generator().manual_seed(4)
        shape = (2, frames, 5, 6) if per_frame else (2, 5, 6)
        out = {"context": torch.randn(*shape, generator=g)}
        if mask:
            keep = torch.ones(shape[:-1], dtype=torch.bool)
            keep[..., -2:] = False
            out["context_mask"] = keep
        return out
    return make


NONE = lambda frames: {}  # noqa: E731
CASES = {
    "spatial": ("attention/spatial", {}, NONE),
    "spacetime": ("attention/spacetime", {}, NONE),
    "temporal": ("attention/temporal", {}, NONE),
    "temporal_causal": ("attention/temporal", {"causal": True}, NONE),
    "temporal_relative_images": ("attention/temporal", {"position": "relative", "causal": True},
                                 lambda frames: {"num_image_frames": 1}),
    "temporal_sinusoidal": ("attention/temporal", {"position": "sinusoidal"}, NONE),
    "sparse_causal": ("attention/sparse_causal", {}, NONE),
    "cross_frame": ("attention/cross_frame", {}, NONE),
    "fully_cross_frame": ("attention/fully_cross_frame", {}, NONE),
    "fully_cross_frame_keys": ("attention/fully_cross_frame", {"key_frames": [0, -1]}, NONE),
    "windowed": ("attention/windowed", {"window": [2, 2, 2]}, NONE),
    "cross": ("attention/cross", {"context_dim": 6}, _context()),
    "cross_per_frame_masked": ("attention/cross", {"context_dim": 6}, _context(per_frame=True, mask=True)),
}


def build(key, options, backend="auto"):
    torch.manual_seed(0)
    return components.build(key, dim=8, num_heads=2, qk_norm=True, backend=backend, **options).eval()


@pytest.mark.parametrize("case", list(CASES))
def test_math_and_sdpa_backends_agree(case):
    key, options, kwargs = CASES[case]
    x = torch.randn(2, 8, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    math_module = build(key, options, backend="math")
    sdpa_module = set_attention_backend(build(key, options, backend="math"), "sdpa")
    with torch.no_grad():
        torch.testing.assert_close(sdpa_module(x, **kwargs(4)), math_module(x, **kwargs(4)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", list(CASES))
def test_flops_count_the_attention_calls_made(case, monkeypatch):
    """``flops`` = Σ 4·B·heads·N_q·N_k·head_dim over the ``attend`` calls (causal halved); with projections, plus
    2·in·out FLOPs per token through to_q / to_k / to_v / to_out."""
    key, options, kwargs = CASES[case]
    module = build(key, options)
    x = torch.randn(2, 8, 4, 4, 4)
    counted = {"attention": 0.0, "projections": 0.0}
    original = base.attend

    def counting_attend(q, k, v, **kw):
        counted["attention"] += 4.0 * q.shape[0] * q.shape[1] * q.shape[2] * k.shape[2] * q.shape[3] / (
            2 if kw.get("causal") else 1)
        return original(q, k, v, **kw)

    def count_linear(layer, inputs, output):
        counted["projections"] += 2.0 * inputs[0].numel() * layer.out_features

    monkeypatch.setattr(base, "attend", counting_attend)
    for name in ("to_q", "to_k", "to_v", "to_out"):
        getattr(module, name).register_forward_hook(count_linear)
    forward_kwargs = kwargs(4)
    with torch.no_grad():
        module(x, **forward_kwargs)
    extra = {}
    if key == "attention/cross":
        extra = {"context_len": 5, "per_frame_context": forward_kwargs["context"].ndim == 4}
    assert module.flops(x.shape, **extra) == counted["attention"]
    total = module.flops(x.shape, include_projections=True, **extra)
    assert total == counted["attention"] + counted["projections"]


def test_flops_orders_the_factorizations():
    """Spacetime ≫ spatial + temporal at video shapes (docs/perf.md §3.1: the saving is ≈ the number of frames)."""
    shape = (1, 64, 16, 32, 32)
    kw = dict(dim=64, num_heads=1)
    full = components.build("attention/spacetime", **kw).flops(shape)
    factorized = components.build("attention/spatial", **kw).flops(shape) + components.build(
        "attention/temporal", **kw).flops(shape)
    assert 14 < full / factorized < 16


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("case", [c for c in CASES if c not in ("spatial", "spacetime", "temporal", "cross_frame")])
def test_options_in_low_precision_stay_close_to_fp32(case, dtype):
    """The conformance suite checks the tiny configs; this covers the options (positions, masks, windows, context)."""
    key, options, kwargs = CASES[case]
    module = build(key, options)
    x = torch.randn(2, 8, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    forward_kwargs = kwargs(4)
    with torch.no_grad():
        ref = module(x, **forward_kwargs).double()
        low_kwargs = {k: v.to(dtype) if v.is_floating_point() else v for k, v in forward_kwargs.items()
                      if isinstance(v, torch.Tensor)}
        low = module.to(dtype)(x.to(dtype), **{**forward_kwargs, **low_kwargs}).double()
    assert ((low - ref).norm() / ref.norm()).item() <= (2e-2 if dtype is torch.bfloat16 else 1e-2)
