"""The attention core: one function, ``attend``, over ``(B, num_heads, N, head_dim)`` tensors, and its backends.

    out = softmax(q kᵀ · scale + mask) v,   scale = head_dim ** -0.5 unless given

Every attention variant in ``components/attention`` folds its tokens into this layout and calls ``attend``; no
variant re-implements softmax attention. Backends are registry entries ``attention_backend/<name>``; each declares
what it supports and ``unsupported_reason`` says why it cannot run a given call. ``backend="auto"`` picks the
fastest backend that supports the call (on CPU plain math beats the fused kernel for short sequences such as
temporal attention over 8-32 frames, see docs/perf.md §7). Batches above a kernel's launch limit (65,535 rows of
batch × heads for the CUDA kernels) are split into chunks rather than crashing.

Masks follow ``F.scaled_dot_product_attention``: boolean (True = may attend) or additive float, broadcastable to
``(B, num_heads, N_q, N_k)``. ``causal=True`` lets query i attend to keys j <= i (top-left aligned).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from ..registry import BadInput, build, did_you_mean, get_component, has_component, list_components, register


__all__ = [
    "AttentionBackend",
    "attend",
    "attention_backend",
    "available_backends",
    "backend_names",
    "check_backend_name",
    "current_backend",
]

CUDA_MAX_BATCH_ROWS = 65_535
_CONTEXT_BACKEND: contextvars.ContextVar[str | None] = contextvars.ContextVar("attention_backend", default=None)


@contextlib.contextmanager
def attention_backend(name: str) -> Iterator[None]:
    """Within the block, modules whose backend is ``"auto"`` use ``name``; a backend pinned on a module wins."""
    if name != "auto":
        get_component(f"attention_backend/{name}")  # fail early on a typo
    token = _CONTEXT_BACKEND.set(name)
    try:
        yield
    finally:
        _CONTEXT_BACKEND.reset(token)


def backend_names() -> list[str]:
    """Every name a backend argument takes: ``"auto"`` and the registered ``attention_backend/<name>`` entries."""
    return ["auto", *(key.split("/", 1)[1] for key in list_components(kind="attention_backend"))]


def check_backend_name(name, *, argument: str = "backend", where: str = "attend") -> str:
    """``name`` if it is ``"auto"`` or a registered backend, else ``ValueError`` naming ``argument``, the value, the
    known names and the closest ones (availability on this machine is checked when a call runs, not here)."""
    if isinstance(name, str) and (name == "auto" or has_component(f"attention_backend/{name}")):
        return name
    known = backend_names()
    hint = did_you_mean(name, known) if isinstance(name, str) else "Did you mean none of them?"
    raise ValueError(f"{where}: {argument} must be one of {known}, got {name!r}. {hint}")


def current_backend() -> str:
    """The backend a module with ``backend="auto"`` resolves through right now (``"auto"`` outside any context)."""
    return _CONTEXT_BACKEND.get() or "auto"


def _causal_keep(n_q: int, n_k: int, device) -> Tensor:
    """``(N_q, N_k)`` boolean: query i may attend to key j <= i (top-left aligned)."""
    return torch.ones(n_q, n_k, dtype=torch.bool, device=device).tril()


def _dense_bias(q: Tensor, k: Tensor, mask: Tensor | None, causal: bool) -> Tensor:
    """The mask and causality as one additive ``(B, heads, N_q, N_k)`` bias, for kernels that take only a bias."""
    full = (q.shape[0], q.shape[1], q.shape[2], k.shape[2])
    bias = torch.zeros(full, dtype=q.dtype, device=q.device)
    if mask is not None:
        bias = bias.masked_fill(~mask.expand(full), float("-inf")) if mask.dtype == torch.bool else bias + mask
    if causal:
        bias = bias.masked_fill(~_causal_keep(full[2], full[3], q.device), float("-inf"))
    return bias


def _math_attention(q, k, v, mask, causal, scale, dropout_p):
    # (B, H, N, D) -> (B·H, N, D) batched matmuls: one copy of a permuted input at most, and no 4-D matmul dispatch
    b, h, n_q, d = q.shape
    n_k, d_v = k.shape[-2], v.shape[-1]
    scores = torch.bmm(q.reshape(b * h, n_q, d), k.reshape(b * h, n_k, d).transpose(1, 2))
    scores = scores.mul_(scale).view(b, h, n_q, n_k)
    if causal:
        scores = scores.masked_fill(~_causal_keep(n_q, n_k, q.device), float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    # softmax in fp32: bf16 exponentials lose ~2 digits, and a fully masked row must give 0/0 -> nan consistently.
    # Without autograd, spelled out in place (exp(s - max) / sum): ATen's softmax kernel is slow over the short rows
    # of temporal attention (3-32 keys), where it dominated the math path.
    scores = scores.float()  # a fresh tensor either way (the bmm's output or its cast): in-place ops are safe
    if n_k == 0 or scores.requires_grad:  # training: ATen's softmax and its fused backward
        weights = scores.softmax(dim=-1)
    else:
        weights = scores.sub_(scores.amax(dim=-1, keepdim=True)).exp_()
        weights = weights.div_(weights.sum(dim=-1, keepdim=True))
    weights = weights.to(q.dtype)
    if dropout_p > 0:
        weights = F.dropout(weights, p=dropout_p)
    out = torch.bmm(weights.reshape(b * h, n_q, n_k), v.reshape(b * h, n_k, d_v))
    return out.view(b, h, n_q, d_v)


class AttentionBackend:
    """A way to compute ``attend``; subclasses state their capabilities as class attributes.

    Attributes:
        name: registry name (``attention_backend/<name>``).
        devices: device types it runs on.
        dtypes: floating dtypes it accepts.
        supports_mask: whether it takes an explicit mask.
        max_head_dim: largest head dim, or None; ``head_dim_multiple``: head dims must be a multiple of this.
        max_batch_rows: rows of batch × heads one kernel launch takes (None: unlimited); larger calls are chunked.
    """

    name = "base"
    devices: tuple[str, ...] = ("cpu", "cuda")
    dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
    supports_mask = True
    supports_dropout = True
    max_head_dim: int | None = None
    head_dim_multiple = 1
    max_batch_rows: int | None = None

    def unavailable_reason(self) -> str | None:
        """Why this backend cannot run on this machine at all, or None."""
        return None

    def unsupported_reason(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, dropout_p: float) -> str | None:
        """Why this backend cannot run this call, or None when it can."""
        why = self.unavailable_reason()
        if why:
            return why
        if q.device.type not in self.devices:
            return f"runs on {'/'.join(self.devices)}, not {q.device.type}"
        if q.dtype not in self.dtypes:
            return f"supports dtypes {[str(d).replace('torch.', '') for d in self.dtypes]}, not {q.dtype}"
        if mask is not None and not self.supports_mask:
            return "takes no explicit mask (only causal=)"
        if dropout_p > 0 and not self.supports_dropout:
            return "has no dropout"
        head_dim = q.shape[-1]
        if self.max_head_dim is not None and head_dim > self.max_head_dim:
            return f"supports head_dim <= {self.max_head_dim}, got {head_dim}"
        if head_dim % self.head_dim_multiple:
            return f"needs head_dim divisible by {self.head_dim_multiple}, got {head_dim}"
        return None

    def run(self, q, k, v, mask, causal, scale, dropout_p):  # pragma: no cover - abstract
        """The kernel call on validated inputs (``attend`` validates, resolves the scale and chunks)."""
        raise NotImplementedError

    def __call__(self, q: Tensor, k: Tensor, v: Tensor, *, mask: Tensor | None = None, causal: bool = False,
                 scale: float | None = None, dropout_p: float = 0.0) -> Tensor:
        """``attend`` pinned to this backend."""
        return attend(q, k, v, mask=mask, causal=causal, scale=scale, dropout_p=dropout_p, backend=self.name)

    def __repr__(self) -> str:
        return f"attention_backend/{self.name}"


def _backend_inputs(cfg, frames=None, batch=2, generator=None):
    q, k, v = (torch.randn(batch, 2, 7, 16, generator=generator) for _ in range(3))
    return (q, k, v), {}


_BACKEND_META = dict(
    tiny={},
    inputs=_backend_inputs,
    bad_inputs=(
        BadInput(match="4-D", inputs=lambda cfg: ((torch.zeros(2, 7, 16),) * 3, {})),
        BadInput(match="head_dim", inputs=lambda cfg: ((torch.zeros(2, 2, 7, 16), torch.zeros(2, 2, 7, 8),
                                                        torch.zeros(2, 2, 7, 8)), {})),
    ),
)


@register("attention_backend", "math", paper="Vaswani et al. 2017", **_BACKEND_META)
class MathBackend(AttentionBackend):
    """Plain matmul-softmax-matmul in PyTorch: the reference every other backend is tested against."""

    name = "math"

    def run(self, q, k, v, mask, causal, scale, dropout_p):
        return _math_attention(q, k, v, mask, causal, scale, dropout_p)


class _SDPABase(AttentionBackend):
    """``F.scaled_dot_product_attention``, optionally pinned to one of its kernels."""

    kernel: str | None = None  # name in torch.nn.attention.SDPBackend, None = let PyTorch choose

    def unavailable_reason(self) -> str | None:
        if self.kernel is None:
            return None
        if not torch.cuda.is_available():
            return f"the {self.kernel.lower()} SDPA kernel needs CUDA (no CUDA device here)"
        return None

    def run(self, q, k, v, mask, causal, scale, dropout_p):
        if mask is not None and causal:  # SDPA refuses both at once: fold causality into the mask
            tri = _causal_keep(q.shape[-2], k.shape[-2], q.device)
            mask = (mask & tri) if mask.dtype == torch.bool else mask.masked_fill(~tri, float("-inf"))
            causal = False
        call = dict(attn_mask=mask, dropout_p=dropout_p, is_causal=causal, scale=scale)
        if self.kernel is None:
            return F.scaled_dot_product_attention(q, k, v, **call)
        from torch.nn.attention import SDPBackend, sdpa_kernel

        with sdpa_kernel(getattr(SDPBackend, self.kernel)):
            return F.scaled_dot_product_attention(q, k, v, **call)


@register("attention_backend", "sdpa", paper="PyTorch scaled_dot_product_attention", **_BACKEND_META)
class SDPABackend(_SDPABase):
    """PyTorch SDPA with its own kernel choice (flash / memory-efficient / cuDNN / math)."""

    name = "sdpa"


@register("attention_backend", "sdpa_flash", paper="Dao 2023 (FlashAttention-2)", **_BACKEND_META)
class SDPAFlashBackend(_SDPABase):
    """SDPA pinned to the FlashAttention-2 kernel: fp16/bf16, no explicit mask, head_dim <= 256."""

    name = "sdpa_flash"
    kernel = "FLASH_ATTENTION"
    devices = ("cuda",)
    dtypes = (torch.float16, torch.bfloat16)
    supports_mask = False
    max_head_dim = 256
    head_dim_multiple = 8
    max_batch_rows = CUDA_MAX_BATCH_ROWS


@register("attention_backend", "sdpa_efficient", paper="Rabe & Staats 2021; xformers", **_BACKEND_META)
class SDPAEfficientBackend(_SDPABase):
    """SDPA pinned to the memory-efficient (CUTLASS) kernel."""

    name = "sdpa_efficient"
    kernel = "EFFICIENT_ATTENTION"
    devices = ("cuda",)
    dtypes = (torch.float32, torch.float16, torch.bfloat16)
    max_batch_rows = CUDA_MAX_BATCH_ROWS


@register("attention_backend", "sdpa_cudnn", paper="NVIDIA cuDNN fused attention", **_BACKEND_META)
class SDPACudnnBackend(_SDPABase):
    """SDPA pinned to the cuDNN kernel: fp16/bf16, head_dim <= 128 in multiples of 8."""

    name = "sdpa_cudnn"
    kernel = "CUDNN_ATTENTION"
    devices = ("cuda",)
    dtypes = (torch.float16, torch.bfloat16)
    max_head_dim = 128
    head_dim_multiple = 8
    max_batch_rows = CUDA_MAX_BATCH_ROWS


@register("attention_backend", "flex", paper="Dong et al. 2024 (FlexAttention)", **_BACKEND_META)
class FlexBackend(AttentionBackend):
    """``torch.nn.attention.flex_attention``; masks enter as a score modification. Fused only under torch.compile;
    eagerly it materialises the scores (still exact), so ``auto`` never picks it."""

    name = "flex"
    supports_dropout = False

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("torch.nn.attention.flex_attention") is None:
            return "this PyTorch has no torch.nn.attention.flex_attention"
        return None

    def run(self, q, k, v, mask, causal, scale, dropout_p):
        import warnings

        from torch.nn.attention.flex_attention import flex_attention

        bias = _dense_bias(q, k, mask, causal) if mask is not None or causal else None

        def score_mod(score, b, h, q_idx, kv_idx):
            return score if bias is None else score + bias[b, h, q_idx, kv_idx]

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile.*")
            return flex_attention(q, k, v, score_mod=score_mod, scale=scale)


@register("attention_backend", "xformers", paper="Lefaudeux et al. 2022 (xformers)", **_BACKEND_META)
class XformersBackend(AttentionBackend):
    """xformers ``memory_efficient_attention`` (imported lazily; it has no CPU kernels)."""

    name = "xformers"
    devices = ("cuda",)
    dtypes = (torch.float32, torch.float16, torch.bfloat16)
    max_batch_rows = CUDA_MAX_BATCH_ROWS

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("xformers") is None:
            return "xformers is not installed (pip install 'video-diffusion-zoo[xformers]')"
        if not torch.cuda.is_available():
            return "xformers has no CPU kernels (no CUDA device here)"
        return None

    def run(self, q, k, v, mask, causal, scale, dropout_p):
        import xformers.ops as xops

        if causal and mask is None:
            bias = xops.LowerTriangularMask()
        else:
            bias = _dense_bias(q, k, mask, causal) if mask is not None else None
        # xformers takes (B, N, heads, D)
        out = xops.memory_efficient_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_bias=bias, p=dropout_p, scale=scale
        )
        return out.transpose(1, 2)


_INSTANCES: dict[str, AttentionBackend] = {}


def _backend(name: str) -> AttentionBackend:
    """Backends are stateless: one instance each, built once (no registry lookup on the hot path)."""
    if name not in _INSTANCES:
        _INSTANCES[name] = build(f"attention_backend/{name}")
    return _INSTANCES[name]


def available_backends(device: str | torch.device = "cpu") -> dict[str, str | None]:
    """``{name: None if usable on this device else the reason}`` for every registered backend."""
    device = torch.device(device)
    probe = torch.zeros(1, 1, 1, 64, device=device if device.type != "cuda" or torch.cuda.is_available() else "cpu")
    out = {}
    for key in list_components(kind="attention_backend"):
        backend = _backend(key.split("/", 1)[1])
        why = backend.unavailable_reason()
        if why is None and device.type not in backend.devices:
            why = f"runs on {'/'.join(backend.devices)}, not {device.type}"
        if why is None:
            dtype = backend.dtypes[0] if torch.float32 not in backend.dtypes else torch.float32
            why = backend.unsupported_reason(probe.to(dtype), probe.to(dtype), probe.to(dtype), None, 0.0)
        out[key.split("/", 1)[1]] = why
    return out


# On CUDA, PyTorch's own SDPA dispatch already picks among flash / cuDNN / efficient; on CPU the fused kernel loses
# to plain math for short key sequences (docs/perf.md §7: temporal attention N <= 32), so short calls go to math. Only
# short queries too: a long query sequence against a few context tokens (cross-attention of every pixel) is 2-3x
# faster in SDPA on CPU.
_CPU_MATH_MAX_KEYS = 32
_CPU_MATH_MAX_QUERIES = 32


def _auto_order(q: Tensor, k: Tensor) -> tuple[str, ...]:
    if q.device.type == "cpu" and k.shape[-2] <= _CPU_MATH_MAX_KEYS and q.shape[-2] <= _CPU_MATH_MAX_QUERIES:
        return _MATH_FIRST
    return _SDPA_FIRST


_MATH_FIRST, _SDPA_FIRST = ("math", "sdpa"), ("sdpa", "math")


def _validate(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.ndim != 4:
            raise ValueError(f"attend: {name} must be 4-D (B, num_heads, N, head_dim), got shape {tuple(t.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"attend: q and k must share head_dim, got {q.shape[-1]} and {k.shape[-1]}")
    if k.shape[:3] != v.shape[:3]:
        raise ValueError(f"attend: k and v must agree in (B, num_heads, N), got {tuple(k.shape)} and {tuple(v.shape)}")
    if q.shape[:2] != k.shape[:2]:
        raise ValueError(f"attend: q and k must agree in (B, num_heads), got {tuple(q.shape)} and {tuple(k.shape)}")
    if mask is not None:
        target = (q.shape[0], q.shape[1], q.shape[2], k.shape[2])
        try:
            fits = torch.broadcast_shapes(mask.shape, target) == torch.Size(target)
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(
                f"attend: mask of shape {tuple(mask.shape)} does not broadcast to (B, num_heads, N_q, N_k) = {target}"
            )
        if mask.dtype != torch.bool and not mask.is_floating_point():
            raise ValueError(f"attend: mask must be boolean or floating (additive), got {mask.dtype}")


def resolve_backend(
    q: Tensor, k: Tensor, v: Tensor, *, mask: Tensor | None = None, dropout_p: float = 0.0, backend: str = "auto"
) -> AttentionBackend:
    """The backend ``attend`` will run for these inputs (explicit, else the context's, else the fastest fit)."""
    if backend == "auto":
        backend = current_backend()
    if backend != "auto":
        chosen = _backend(backend)
        why = chosen.unsupported_reason(q, k, v, mask, dropout_p)
        if why:
            raise ValueError(f"attention backend {backend!r} cannot run this call: it {why}")
        return chosen
    reasons = []
    for name in _auto_order(q, k):
        candidate = _backend(name)
        why = candidate.unsupported_reason(q, k, v, mask, dropout_p)
        if why is None:
            return candidate
        reasons.append(f"{name}: {why}")
    raise ValueError("attend: no attention backend supports this call (" + "; ".join(reasons) + ")")


def attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: Tensor | None = None,
    causal: bool = False,
    scale: float | None = None,
    dropout_p: float = 0.0,
    backend: str = "auto",
    max_batch_rows: int | None = None,
) -> Tensor:
    """Scaled dot-product attention ``softmax(q kᵀ · scale + mask) v`` through a registered backend.

    Args:
        q: ``(B, num_heads, N_q, head_dim)``; k: ``(B, num_heads, N_k, head_dim)``; v: ``(B, num_heads, N_k, D_v)``.
        mask: boolean (True = attend) or additive, broadcastable to ``(B, num_heads, N_q, N_k)``.
        causal: query i attends to keys j <= i.
        scale: defaults to ``head_dim ** -0.5``.
        dropout_p: attention-weight dropout (pass 0 in eval).
        backend: a name under ``attention_backend/`` or ``"auto"``.
        max_batch_rows: chunk the batch so each launch has at most this many rows of B × num_heads
            (default: the backend's launch limit).

    Returns:
        ``(B, num_heads, N_q, D_v)``.
    """
    _validate(q, k, v, mask)
    chosen = resolve_backend(q, k, v, mask=mask, dropout_p=dropout_p, backend=backend)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    limit = max_batch_rows if max_batch_rows is not None else chosen.max_batch_rows
    batch, heads = q.shape[:2]
    if limit is None or batch * heads <= limit:
        return chosen.run(q, k, v, mask, causal, scale, dropout_p)
    if heads > limit:
        raise ValueError(f"attend: num_heads={heads} exceeds the backend's launch limit of {limit} rows")
    step = max(1, limit // heads)
    outs = []
    for start in range(0, batch, step):
        part = slice(start, start + step)
        part_mask = mask[part] if mask is not None and mask.ndim == 4 and mask.shape[0] == batch else mask
        outs.append(chosen.run(q[part], k[part], v[part], part_mask, causal, scale, dropout_p))
    return torch.cat(outs, dim=0)


def attention_flops(batch: int, num_heads: int, n_q: int, n_k: int, head_dim: int, *, causal: bool = False) -> float:
    """Forward FLOPs of attention: 4·B·H·N_q·N_k·D (two matmuls), halved when causal (docs/perf.md §1)."""
    flops = 4.0 * batch * num_heads * n_q * n_k * head_dim
    return flops / 2 if causal else flops


# Build every backend registered above now: the hot path then never reaches the registry (whose signature
# inspection torch.compile cannot trace), so a module compiles even before its first eager call.
for _key in list_components(kind="attention_backend"):
    _backend(_key.split("/", 1)[1])
