"""Logical work of a case: FLOPs and bytes, counted the way the peers count them (docs/perf.md §1).

* Attention core: forward ``4·B·H·N_q·N_k·D`` (halved when causal), backward 2.5× forward; logical bytes are Q, K, V
  and O once each (backward: those plus dO, dQ, dK, dV, i.e. 2×). Padding a kernel adds is not counted.
* Everything else (projections, convolutions, MLPs): ``torch.utils.flop_counter.FlopCounterMode`` — 2 FLOPs per
  multiply-add of matmuls and convolutions, forward and backward separately. Elementwise work is not counted.
* ``probe`` gets both without doing the work: it runs the module once on the ``meta`` device (no data, no compute)
  with every ``attend`` in ``components`` replaced by a recorder that notes the call's shapes, then differentiates
  the result under a second counter. Where meta fails (data-dependent code), it repeats on the real device with
  the recorder still standing in for the attention core.
* A variant that declares ``flops(x_shape)`` is trusted for its attention FLOPs (a windowed or sparse variant knows
  its own mask density); the probe's count is kept next to it for comparison.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from components.attention.backends import attend as _real_attend
from components.attention.backends import attention_flops


ATTENTION_BACKWARD_FACTOR = 2.5


@dataclass
class AttendCall:
    batch: int
    heads: int
    n_q: int
    n_k: int
    head_dim: int
    v_dim: int
    causal: bool
    masked: bool
    itemsize: int

    @property
    def flops(self) -> float:
        return attention_flops(self.batch, self.heads, self.n_q, self.n_k, self.head_dim, causal=self.causal)

    @property
    def bytes(self) -> float:
        rows = self.batch * self.heads
        return rows * (self.n_q * self.head_dim + self.n_k * self.head_dim + self.n_k * self.v_dim
                       + self.n_q * self.v_dim) * self.itemsize


@dataclass
class Work:
    """FLOPs and bytes of one forward (and its backward) of a case."""

    attn_flops: float = 0.0
    other_flops: float | None = 0.0
    other_flops_bwd: float | None = None
    attn_bytes: float = 0.0
    io_bytes: float = 0.0
    calls: list[AttendCall] = field(default_factory=list)
    source: str = "probe"
    note: str = ""

    def flops(self, direction: str) -> float | None:
        if self.other_flops is None:
            return None
        if direction == "fwd":
            return self.attn_flops + self.other_flops
        other_bwd = self.other_flops_bwd if self.other_flops_bwd is not None else 2 * self.other_flops
        return ATTENTION_BACKWARD_FACTOR * self.attn_flops + other_bwd

    def bytes(self, direction: str) -> float:
        """Attention-core bytes when the case has attention, else input + output + parameter bytes."""
        base = self.attn_bytes if self.attn_bytes else self.io_bytes
        return base if direction == "fwd" else 2 * base


def _attend_namespaces() -> list[object]:
    return [m for name, m in list(sys.modules.items())
            if (name == "components" or name.startswith("components.")) and getattr(m, "attend", None) is _real_attend]


@contextlib.contextmanager
def patched_attend(replacement: Callable) -> Iterator[None]:
    """Replace ``attend`` in every ``components`` module that imported it (variants call it by that name)."""
    spaces = _attend_namespaces()
    for space in spaces:
        space.attend = replacement
    try:
        yield
    finally:
        for space in spaces:
            space.attend = _real_attend


def _record(calls: list[AttendCall], compute: bool) -> Callable:
    def recorder(q, k, v, *, mask=None, causal=False, **kwargs):
        calls.append(AttendCall(q.shape[0], q.shape[1], q.shape[2], k.shape[2], q.shape[3], v.shape[3],
                                bool(causal), mask is not None, q.element_size()))
        if compute:
            return _real_attend(q, k, v, mask=mask, causal=causal, **kwargs)
        # no attention work, but keep q, k, v in the graph so the backward probe reaches the projections
        return q.new_zeros(*q.shape[:3], v.shape[3]) + 0 * (q.sum() + k.sum() + v.sum())
    return recorder


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _tensors(v)]
    return []


def _to(value, device):
    if isinstance(value, torch.Tensor):
        return value.detach().to(device)
    if isinstance(value, dict):
        return {k: _to(v, device) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to(v, device) for v in value)
    return value


def _count(module: Callable, args: tuple, kwargs: dict, backward: bool) -> Work:
    from torch.utils.flop_counter import FlopCounterMode

    calls: list[AttendCall] = []
    leaves = [t.requires_grad_() for t in _tensors((args, kwargs)) if t.is_floating_point()]
    params = [p for p in module.parameters() if p.requires_grad] if isinstance(module, nn.Module) else []
    with patched_attend(_record(calls, compute=False)):
        with FlopCounterMode(display=False) as fwd_counter:
            out = module(*args, **kwargs)
        outs = [o for o in _tensors(out) if o.requires_grad]
        bwd = None
        if backward and outs:
            with FlopCounterMode(display=False) as bwd_counter:
                torch.autograd.grad(outs, leaves + params, [torch.ones_like(o) for o in outs], allow_unused=True)
            bwd = float(bwd_counter.get_total_flops())
    io = sum(t.numel() * t.element_size() for t in _tensors((args, kwargs)) + _tensors(out))
    io += sum(p.numel() * p.element_size() for p in params)
    return Work(
        attn_flops=sum(c.flops for c in calls), other_flops=float(fwd_counter.get_total_flops()), other_flops_bwd=bwd,
        attn_bytes=sum(c.bytes for c in calls), io_bytes=float(io), calls=calls,
    )


def probe(build: Callable[[], Callable], args: tuple, kwargs: dict, *, device: torch.device,
          backward: bool = True) -> Work:
    """Count the work of ``build()(*args, **kwargs)``: on ``meta`` first, else on ``device`` (module docstring)."""
    errors = []
    for where in ("meta", device):
        try:
            with torch.device(where):
                module = build()
            if isinstance(module, nn.Module):
                module = module.to(where)
            work = _count(module, _to(args, where), _to(kwargs, where), backward)
            work.source = f"probe ({'meta' if where == 'meta' else 'real device'})"
            return work
        except Exception as exc:  # noqa: BLE001 - any failure just means "try the next way"
            errors.append(f"{where}: {type(exc).__name__}: {exc}"[:200])
    return Work(other_flops=None, source="none", note="FLOPs not counted (" + "; ".join(errors) + ")")


def declared_attention_flops(module: object, args: tuple, kwargs: dict) -> float | None:
    """The variant's own ``flops(x_shape[, context_len])`` (attention core only) when it declares one, else None."""
    import inspect

    fn = getattr(module, "flops", None)
    x = next((t for t in _tensors(args) if t.ndim == 5), None)
    if not callable(fn) or x is None:
        return None
    extra = {}
    try:
        if "context_len" in inspect.signature(fn).parameters:
            context = next((t for t in _tensors(kwargs) + _tensors(args[1:]) if t.ndim == 3), None)
            if context is not None:
                extra["context_len"] = context.shape[1]
        return float(fn(tuple(x.shape), **extra))
    except Exception:  # noqa: BLE001 - a declared method that fails is reported as undeclared
        return None
