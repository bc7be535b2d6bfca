"""Context-parallel attention: the one attention core run over a token sequence sharded across ranks.

Each of the ``P = ring · ulysses`` ranks of a sequence holds ``S = N_pad / P`` tokens (the sequence padded to a
multiple of P; ``SequenceShard``). Self-attention over the whole sequence then runs as

* **Ulysses** (Jacobs et al. 2023): one all-to-all turns q, k, v ``(B, H, S, D)`` sequence shards into head shards
  ``(B, H/U, S·U, D)``, the core attends over the full chunk, a second all-to-all turns the output back. Exact; needs
  U | H. Bytes leaving a rank per call: ``4 · B·S·H·D · (U−1)/U`` elements (q, k, v out, the output back).
* **Ring** (Liu et al. 2023): K/V blocks travel around the ring of R ranks (R − 1 passes of ``2 · B·(H/U)·(S·U)·D``
  elements) while each rank attends its queries to the block it holds; the partial results merge by their
  log-sum-exp (``lse.merge_partials``), which is exact. The next block's transfer is issued before the current
  block's attention so they overlap.
* **2-D** (USP, Fang & Zhao 2024): Ulysses inside, Ring across: both of the above.

Padding keys (positions ≥ N) are masked; a ring block that is all padding is skipped. The collectives are
``torch.distributed._functional_collectives`` (``all_to_all_single``, ``permute_tensor``, ``all_gather_single_autograd``), which
carry autograd, so the same code trains. The attention modules reach this through ``MultiHeadAttention.core`` when
their net shards its sequence (``set_context_parallel``); nothing per variant.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed._functional_collectives as funcol
from torch import Tensor

from .backends import attend
from .lse import attention_with_lse, merge_partials
from .parallel_mesh import ContextParallel


__all__ = ["SequenceShard", "active_shard", "sequence_shard", "sharded_attention"]

_SHARD: contextvars.ContextVar[SequenceShard | None] = contextvars.ContextVar("sequence_shard", default=None)


def _heads_to_front(x: Tensor, groups: int) -> Tensor:
    # b (g h) s d -> g b h s d: the head groups become the all-to-all's split dimension
    b, h, s, d = x.shape[-4:]
    return x.reshape(*x.shape[:-4], b, groups, h // groups, s, d).movedim(-4, 0).contiguous()


def _seq_to_heads(x: Tensor, cp: ContextParallel) -> Tensor:
    """``(..., B, H, S, D)`` sequence shard -> ``(..., B, H/U, S·U, D)`` head shard of the ring chunk."""
    u = cp.ulysses
    out = funcol.all_to_all_single(_heads_to_front(x, u), None, None, cp.group("ulysses"))
    # g b h s d (g: the rank the sequence shard came from) -> b h (g s) d
    return out.movedim(0, -3).flatten(-3, -2)


def _heads_to_seq(x: Tensor, cp: ContextParallel) -> Tensor:
    """``(B, H/U, S·U, D)`` -> ``(B, H, S, D)``: the inverse all-to-all."""
    u = cp.ulysses
    b, h, n, d = x.shape
    chunks = x.reshape(b, h, u, n // u, d).movedim(2, 0).contiguous()  # b h (g s) d -> g b h s d
    out = funcol.all_to_all_single(chunks, None, None, cp.group("ulysses"))
    return out.movedim(0, 1).reshape(b, u * h, n // u, d)  # g b h s d -> b (g h) s d


def _key_mask(start: int, length: int, valid: int, device) -> Tensor | None:
    """``(1, 1, 1, length)`` True where the key at global position ``start + j`` is a real token (None: all are)."""
    if start + length <= valid:
        return None
    return (torch.arange(length, device=device) < valid - start)[None, None, None]


def _ring(q: Tensor, k: Tensor, v: Tensor, cp: ContextParallel, valid: int, scale: float | None,
          backend: str) -> Tensor:
    """Queries of this rank's chunk against every chunk's K/V, passed around the ring and merged by LSE."""
    r, me, length = cp.ring, cp.coordinate("ring"), k.shape[-2]
    group = cp.group("ring")
    kv = torch.stack([k, v])  # one message per pass
    out = lse = None
    for i in range(r):
        following = None
        if i < r - 1:  # flat: permute_tensor sizes its splits by numel, so dim 0 must be the elements
            following = funcol.permute_tensor(kv.reshape(-1), [(m + 1) % r for m in range(r)], group)
        start = ((me - i) % r) * length  # the block held at pass i came from ring rank me − i
        if start < valid:  # a block that is all padding adds nothing (and would make 0/0 rows)
            part, part_lse = attention_with_lse(q, kv[0], kv[1], mask=_key_mask(start, length, valid, q.device),
                                                scale=scale, backend=backend)
            out, lse = merge_partials(out, lse, part, part_lse)
        if following is not None:
            kv = following.view(kv.shape)
    return out.to(q.dtype)


def sharded_attention(q: Tensor, k: Tensor, v: Tensor, cp: ContextParallel, *, valid: int,
                      scale: float | None = None, backend: str = "auto", dropout_p: float = 0.0) -> Tensor:
    """Self-attention over a sequence of ``valid`` tokens sharded across the ``cp`` mesh (module docstring).

    Shapes: ``q``, ``k``, ``v`` ``(B, H, S, D)``, this rank's shard ``cp.shard_index`` of the sequence padded to
    ``S · cp.degree`` tokens -> ``(B, H, S, D)``, equal to the rows of full attention over the ``valid`` real keys.
    """
    where = "context_parallel"
    cp.check_heads(q.shape[1], where)
    if dropout_p > 0 and cp.ring > 1:
        raise ValueError(f"{where}: ring attention has no attention dropout, got dropout_p={dropout_p}")
    if cp.ulysses > 1:
        q, k, v = _seq_to_heads(torch.stack([q, k, v]), cp).unbind(0)
    if cp.ring > 1:
        out = _ring(q, k, v, cp, valid, scale, backend)
    else:
        mask = _key_mask(0, k.shape[-2], valid, q.device)
        out = attend(q, k, v, mask=mask, scale=scale, backend=backend, dropout_p=dropout_p)
    return _heads_to_seq(out, cp) if cp.ulysses > 1 else out


@dataclass(frozen=True)
class SequenceShard:
    """A ``total``-token sequence cut into ``cp.degree`` shards of ``local`` tokens (zero-padded at the end to
    ``local · degree``); this rank holds the one starting at ``start``."""

    cp: ContextParallel
    total: int

    @property
    def local(self) -> int:
        return -(-self.total // self.cp.degree)

    @property
    def start(self) -> int:
        return self.cp.shard_index * self.local

    def split(self, x: Tensor, dim: int = 1) -> Tensor:
        """This rank's ``local`` tokens of ``x`` along ``dim`` (of length ``total``), zero-padded past the end."""
        pad = self.local * self.cp.degree - self.total
        if pad:
            x = torch.cat([x, x.new_zeros(*x.shape[:dim], pad, *x.shape[dim + 1:])], dim=dim)
        return x.narrow(dim, self.start, self.local)

    def gather(self, x: Tensor, dim: int = 1) -> Tensor:
        """The whole ``total``-token sequence from every rank's shard ``x`` (all-gather over ulysses, then ring)."""
        for axis in ("ulysses", "ring"):
            if getattr(self.cp, axis) > 1:
                x = funcol.all_gather_single_autograd(x.contiguous(), dim, self.cp.group(axis))
        return x.narrow(dim, 0, self.total)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, *, mask: Tensor | None = None, causal: bool = False,
               backend: str = "auto", dropout_p: float = 0.0) -> Tensor:
        """``sharded_attention`` of this shard's heads; explicit masks and causality (over the full sequence)
        are refused."""
        if mask is not None or causal:
            raise ValueError(f"context_parallel: a sharded self-attention takes no mask or causal=True (they span the "
                             f"whole sequence), got mask={None if mask is None else tuple(mask.shape)}, "
                             f"causal={causal}")
        return sharded_attention(q, k, v, self.cp, valid=self.total, backend=backend, dropout_p=dropout_p)


def active_shard() -> SequenceShard | None:
    """The sequence shard of the net forward running now (None outside ``sequence_shard``)."""
    return _SHARD.get()


@contextlib.contextmanager
def sequence_shard(cp: ContextParallel | None, total: int) -> Iterator[SequenceShard | None]:
    """Within the block, sharded attention modules attend over ``total`` tokens cut across ``cp`` (None: no
    sharding; yields None)."""
    if cp is None or cp.degree == 1:
        yield None
        return
    token = _SHARD.set(SequenceShard(cp, total))
    try:
        yield _SHARD.get()
    finally:
        _SHARD.reset(token)
