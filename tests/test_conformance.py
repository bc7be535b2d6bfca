"""Registry-driven conformance suite (docs/quality.md items 1-7 and 10): every registered entry, no per-entry code.

An entry is picked up the moment it is registered. Module entries get the full suite (forward shape and finite
values at T in its frame sweep, gradients to every parameter, determinism, bf16/fp16 against fp32, safetensors
round trip, config round trip, bad inputs, declared video properties); other entries (backends, schedules,
samplers, ...) get the parts that apply to a callable (build, call, shape, finite, determinism, config, bad inputs).
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

import components


ALL = components.list_components()
FLOATS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# relative L2 error against fp32 (docs/quality.md item 5)
DEFAULT_TOL = {"bfloat16": 2e-2, "float16": 1e-2}


def _entry(key):
    return components.get_component(key)


def _frames(entry):
    return entry.frames if entry.frames is not None else ((1, 2, 5) if entry.is_module_class else (None,))


def _build(entry, seed=0, **overrides):
    torch.manual_seed(seed)
    obj = components.build(entry.key, **{**entry.tiny, **overrides})
    why = getattr(obj, "unavailable_reason", lambda: None)()
    if why:
        pytest.skip(f"{entry.key} unavailable here: {why}")
    if isinstance(obj, nn.Module):
        obj.eval()
    return obj


def _inputs(entry, frames, seed=1):
    kwargs = {"batch": 2, "generator": torch.Generator().manual_seed(seed)}
    if frames is not None:
        kwargs["frames"] = frames
    return entry.inputs(entry.tiny, **kwargs)


def _tensors(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in _tensors(v)]
    if isinstance(out, list | tuple):
        return [t for v in out for t in _tensors(v)]
    return []


def _cast(value, dtype):
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(dtype)
    if isinstance(value, dict):
        return {k: _cast(v, dtype) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_cast(v, dtype) for v in value)
    return value


def _rel_l2(a, b):
    a, b = a.double(), b.double()
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


def _needs(entry, module=False):
    if entry.tiny is None or entry.inputs is None:
        pytest.fail(f"{entry.key} declares no tiny config or example inputs: register(..., tiny=..., inputs=...)")
    if module and not entry.is_module_class:
        pytest.skip(f"{entry.key} is not an nn.Module")


@pytest.mark.parametrize("key", ALL)
def test_entry_declares_tiny_config_and_inputs(key):
    entry = _entry(key)
    assert entry.tiny is not None, f"{key}: register(..., tiny=...) is missing"
    assert entry.inputs is not None, f"{key}: register(..., inputs=...) is missing"
    assert entry.summary, f"{key}: needs a docstring (its first paragraph is the catalogue summary)"
    assert entry.paper, f"{key}: register(..., paper=...) is missing"


@pytest.mark.parametrize("key", ALL)
def test_forward_shape_and_finite(key):
    entry = _entry(key)
    _needs(entry)
    obj = _build(entry)
    for frames in _frames(entry):
        args, kwargs = _inputs(entry, frames)
        with torch.no_grad():
            out = obj(*args, **kwargs)
        outs = _tensors(out)
        assert outs, f"{key}: returned no tensor"
        for t in outs:
            assert torch.isfinite(t).all(), f"{key}: non-finite output at frames={frames}"
        if entry.output_shape is not None:
            expected = tuple(entry.output_shape(entry.tiny, *args, **kwargs))
        else:
            expected = tuple(args[0].shape)
        assert tuple(outs[0].shape) == expected, f"{key}: output {tuple(outs[0].shape)} != {expected} (T={frames})"


@pytest.mark.parametrize("key", ALL)
def test_deterministic_init_and_forward(key):
    entry = _entry(key)
    _needs(entry)
    a, b = _build(entry, seed=0), _build(entry, seed=0)
    if isinstance(a, nn.Module):
        for (name, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(p, q), f"{key}: parameter {name} differs between two seeded builds"
    frames = _frames(entry)[-1]
    with torch.no_grad():
        out1 = _tensors(a(*_inputs(entry, frames)[0], **_inputs(entry, frames)[1]))
        out2 = _tensors(a(*_inputs(entry, frames)[0], **_inputs(entry, frames)[1]))
    for x, y in zip(out1, out2):
        assert torch.equal(x, y), f"{key}: two identical forwards differ"


@pytest.mark.parametrize("key", ALL)
def test_gradients_reach_every_parameter(key):
    entry = _entry(key)
    _needs(entry, module=True)
    obj = _build(entry)
    obj.train()
    args, kwargs = _inputs(entry, _frames(entry)[-1])
    args = tuple(a.requires_grad_() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)
    outs = _tensors(obj(*args, **kwargs))
    # a random projection of the output, so parameters behind a zero-initialised layer still get a signal
    loss = sum((o * torch.randn(o.shape, generator=torch.Generator().manual_seed(3))).sum() for o in outs)
    loss.backward()
    missing = [n for n, p in obj.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{key}: parameters without a gradient: {missing}"
    for n, p in obj.named_parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all(), f"{key}: non-finite gradient for {n}"
    if isinstance(args[0], torch.Tensor) and args[0].requires_grad:
        assert args[0].grad is not None and torch.isfinite(args[0].grad).all(), f"{key}: no finite input gradient"


@pytest.mark.parametrize("key", ALL)
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precision_close_to_fp32(key, dtype):
    entry = _entry(key)
    _needs(entry)
    if dtype not in entry.dtypes:
        pytest.skip(f"{key} declares no {dtype} support")
    obj = _build(entry)
    args, kwargs = _inputs(entry, _frames(entry)[-1])
    with torch.no_grad():
        ref = _tensors(obj(*args, **kwargs))
        low_obj = obj.to(FLOATS[dtype]) if isinstance(obj, nn.Module) else obj
        low = _tensors(low_obj(*_cast(args, FLOATS[dtype]), **_cast(kwargs, FLOATS[dtype])))
    tol = entry.tolerance.get(dtype, DEFAULT_TOL[dtype])
    for r, lo in zip(ref, low):
        if r.is_floating_point():
            assert torch.isfinite(lo).all(), f"{key}: non-finite {dtype} output"
            err = _rel_l2(lo, r)
            assert err <= tol, f"{key}: {dtype} relative L2 error {err:.2e} > {tol:.0e}"


@pytest.mark.parametrize("key", ALL)
def test_bf16_scaled_input_stays_finite(key):
    entry = _entry(key)
    _needs(entry, module=True)
    if "bfloat16" not in entry.dtypes:
        pytest.skip(f"{key} declares no bfloat16 support")
    obj = _build(entry).to(torch.bfloat16)
    args, kwargs = _inputs(entry, _frames(entry)[-1])
    args = tuple(a * 1e3 if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)
    with torch.no_grad():
        for t in _tensors(obj(*_cast(args, torch.bfloat16), **_cast(kwargs, torch.bfloat16))):
            assert torch.isfinite(t).all(), f"{key}: bf16 output not finite for inputs scaled by 1e3"


@pytest.mark.parametrize("key", ALL)
def test_safetensors_and_config_round_trip(key, tmp_path):
    entry = _entry(key)
    _needs(entry)
    obj = _build(entry)
    cfg = components.config_of(obj)
    assert json.loads(json.dumps(cfg)) == cfg
    rebuilt = components.build(json.loads(json.dumps(cfg)))
    assert components.config_of(rebuilt) == cfg, f"{key}: config does not round-trip"
    if not isinstance(obj, nn.Module):
        return
    path = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in obj.state_dict().items()}, str(path))
    rebuilt.load_state_dict(load_file(str(path)), strict=True)
    rebuilt.eval()
    args, kwargs = _inputs(entry, _frames(entry)[-1])
    with torch.no_grad():
        for x, y in zip(_tensors(obj(*args, **kwargs)), _tensors(rebuilt(*args, **kwargs))):
            assert torch.equal(x, y), f"{key}: output changed after a safetensors round trip"


@pytest.mark.parametrize("key", ALL)
def test_bad_inputs_raise_clear_errors(key):
    entry = _entry(key)
    _needs(entry)
    if entry.is_module_class and not entry.bad_inputs:
        pytest.fail(f"{key}: declares no bad inputs (register(..., bad_inputs=[BadInput(...)]))")
    for case in entry.bad_inputs:
        if case.init is not None:
            with pytest.raises(case.error, match=case.match):
                components.build(entry.key, **{**entry.tiny, **case.init})
        if case.inputs is not None:
            obj = _build(entry)
            args, kwargs = case.inputs(entry.tiny)
            with pytest.raises(case.error, match=case.match):
                obj(*args, **kwargs)


@pytest.mark.parametrize("key", [k for k in ALL if "frame_independent" in _entry(k).properties])
def test_frame_independent(key):
    """Spatial-only components: applying them frame by frame equals applying them to the whole clip."""
    entry = _entry(key)
    obj = _build(entry)
    (x, *rest), kwargs = _inputs(entry, 5)
    with torch.no_grad():
        whole = obj(x, *rest, **kwargs)
        per_frame = torch.cat([obj(x[:, :, i : i + 1], *rest, **kwargs) for i in range(x.shape[2])], dim=2)
    torch.testing.assert_close(per_frame, whole, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("key", [k for k in ALL if "permutation_equivariant" in _entry(k).properties])
def test_permutation_equivariant_over_frames(key):
    """Without position information, permuting the frames permutes the output the same way."""
    entry = _entry(key)
    obj = _build(entry)
    (x, *rest), kwargs = _inputs(entry, 5)
    perm = torch.tensor([3, 0, 4, 1, 2])
    with torch.no_grad():
        out = obj(x, *rest, **kwargs)
        out_perm = obj(x[:, :, perm], *rest, **kwargs)
    torch.testing.assert_close(out_perm, out[:, :, perm], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("key", [k for k in ALL if "causal" in _entry(k).properties])
def test_causal_ignores_future_frames(key):
    """Frame i of the output has zero gradient with respect to every input frame after i."""
    entry = _entry(key)
    obj = _build(entry)
    (x, *rest), kwargs = _inputs(entry, 5)
    x = x.requires_grad_()
    out = obj(x, *rest, **kwargs)
    for i in range(x.shape[2] - 1):
        (grad,) = torch.autograd.grad(out[:, :, i].sum(), x, retain_graph=True)
        assert grad[:, :, i + 1 :].abs().max() == 0, f"{key}: frame {i} depends on later frames"


@pytest.mark.parametrize("key", [k for k in ALL if _entry(k).properties & {"zero_at_init", "identity_at_init"}])
def test_identity_or_zero_at_init(key):
    """Temporal parts added to an image model start as identity (or as a zero residual branch)."""
    entry = _entry(key)
    obj = _build(entry)
    (x, *rest), kwargs = _inputs(entry, 5)
    with torch.no_grad():
        out = obj(x, *rest, **kwargs)
    expected = torch.zeros_like(out) if "zero_at_init" in entry.properties else x
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-6)
