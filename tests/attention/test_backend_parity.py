"""Every attention backend available here against the plain-math reference (issue #2, item 6).

fp32 to 1e-5 (absolute and relative), bf16 to 2e-2 relative L2; with and without boolean / additive masks and
causal; odd sequence lengths; head dims 40, 64 and 72.
"""

from __future__ import annotations

import pytest
import torch

from components.attention import attend, available_backends


DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
BACKENDS = [name for name, why in available_backends(DEVICE).items() if why is None and name != "math"]
UNAVAILABLE = {name: why for name, why in available_backends(DEVICE).items() if why is not None}


def _qkv(head_dim, n_q, n_k, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = ((2, 3, n_q, head_dim), (2, 3, n_k, head_dim), (2, 3, n_k, head_dim))
    return [torch.randn(s, generator=g).to(DEVICE, dtype) for s in shapes]


def _mask(kind, n_q, n_k, dtype):
    g = torch.Generator().manual_seed(7)
    if kind is None:
        return None
    keep = torch.rand(2, 1, n_q, n_k, generator=g) > 0.3
    keep[..., 0] = True  # no fully masked row: softmax over nothing is undefined
    if kind == "bool":
        return keep.to(DEVICE)
    return torch.where(keep, torch.randn(keep.shape, generator=g), torch.tensor(-1e4)).to(DEVICE, dtype)


def _rel_l2(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def test_some_backend_besides_math_is_available():
    assert "sdpa" in BACKENDS, f"sdpa should always be available; reasons: {UNAVAILABLE}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("head_dim", [40, 64, 72])
@pytest.mark.parametrize("mask_kind", [None, "bool", "additive"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("lengths", [(7, 7), (13, 5), (16, 33)])
def test_backend_matches_math_fp32(backend, head_dim, mask_kind, causal, lengths):
    n_q, n_k = lengths
    if causal and n_q > n_k:
        lengths = (n_k, n_q)  # top-left causal with more queries than keys leaves no key for some rows
        n_q, n_k = lengths
    q, k, v = _qkv(head_dim, n_q, n_k, torch.float32)
    mask = _mask(mask_kind, n_q, n_k, torch.float32)
    ref = attend(q, k, v, mask=mask, causal=causal, backend="math")
    try:
        out = attend(q, k, v, mask=mask, causal=causal, backend=backend)
    except ValueError as err:  # the backend declares it cannot run this call: that must be said, not crashed
        assert "cannot run this call" in str(err)
        pytest.skip(str(err))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("head_dim", [40, 64, 72])
@pytest.mark.parametrize("mask_kind", [None, "bool"])
def test_backend_matches_math_bf16(backend, head_dim, mask_kind):
    q, k, v = _qkv(head_dim, 19, 19, torch.float32)
    mask = _mask(mask_kind, 19, 19, torch.float32)
    ref = attend(q, k, v, mask=mask, backend="math")
    low = attend(q.bfloat16(), k.bfloat16(), v.bfloat16(), mask=mask, backend=backend)
    assert low.dtype == torch.bfloat16
    assert _rel_l2(low, ref) <= 2e-2


def test_math_matches_a_softmax_written_out():
    q, k, v = _qkv(8, 5, 6, torch.float64)
    scores = torch.einsum("bhnd,bhmd->bhnm", q, k) / 8**0.5
    expected = torch.einsum("bhnm,bhmd->bhnd", scores.softmax(-1), v)
    torch.testing.assert_close(attend(q, k, v, backend="math"), expected)


def test_causal_query_ignores_later_keys():
    q, k, v = _qkv(16, 9, 9, torch.float32)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 5:] += 3.0
    v2[:, :, 5:] -= 2.0
    for backend in ["math", *BACKENDS]:
        a = attend(q, k, v, causal=True, backend=backend)
        b = attend(q, k2, v2, causal=True, backend=backend)
        torch.testing.assert_close(a[:, :, :5], b[:, :, :5], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("backend", ["math", *BACKENDS])
def test_batches_above_the_launch_limit_are_chunked_not_crashed(backend):
    q, k, v = _qkv(16, 8, 8, torch.float32)
    q, k, v = (t.repeat(5, 1, 1, 1) for t in (q, k, v))  # batch 10 x 3 heads = 30 rows
    mask = _mask("bool", 8, 8, torch.float32).repeat(5, 1, 1, 1)
    whole = attend(q, k, v, mask=mask, backend=backend)
    chunked = attend(q, k, v, mask=mask, backend=backend, max_batch_rows=7)  # 2 batch rows per launch
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=1e-6)


def test_auto_prefers_math_for_short_cpu_sequences_and_sdpa_for_long():
    from components.attention import resolve_backend

    short = _qkv(16, 16, 16, torch.float32)
    long = _qkv(16, 256, 256, torch.float32)
    if DEVICE == "cpu":
        assert resolve_backend(*short).name == "math"
        assert resolve_backend(*long).name == "sdpa"


def test_unavailable_backend_says_why():
    q, k, v = _qkv(16, 8, 8, torch.float32)
    for name, why in UNAVAILABLE.items():
        with pytest.raises(ValueError, match="cannot run this call") as info:
            attend(q, k, v, backend=name)
        assert why in str(info.value)


def test_flash_refuses_a_mask_with_the_reason():
    from components.attention.backends import SDPAFlashBackend

    q, k, v = _qkv(16, 8, 8, torch.float16)
    why = SDPAFlashBackend().unsupported_reason(q, k, v, torch.ones(8, 8, dtype=torch.bool), 0.0)
    assert why is not None and ("mask" in why or "CUDA" in why)


@pytest.mark.parametrize(
    ("shapes", "match"),
    [
        (((2, 8, 16), (2, 8, 16), (2, 8, 16)), "4-D"),
        (((2, 3, 8, 16), (2, 3, 8, 8), (2, 3, 8, 8)), "head_dim"),
        (((2, 3, 8, 16), (2, 3, 9, 16), (2, 3, 8, 16)), "k and v"),
        (((2, 3, 8, 16), (2, 2, 8, 16), (2, 2, 8, 16)), "B, num_heads"),
    ],
)
def test_bad_shapes_raise(shapes, match):
    q, k, v = (torch.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match=match):
        attend(q, k, v)


def test_mask_that_does_not_broadcast_raises():
    q, k, v = _qkv(16, 8, 8, torch.float32)
    with pytest.raises(ValueError, match="does not broadcast"):
        attend(q, k, v, mask=torch.ones(4, 8, 8, dtype=torch.bool))


def test_unknown_backend_suggests_names():
    q, k, v = _qkv(16, 8, 8, torch.float32)
    with pytest.raises(KeyError, match="Did you mean"):
        attend(q, k, v, backend="sdpa_flahs")
