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

**Joint (MM-DiT) attention** (``sharded_joint_attention``): the *video* tokens are sharded, the *text* tokens (M of
them) are whole on every rank. Ulysses: the video q, k, v go through the same all-to-all, each rank takes its own H/U
heads of the text q, k, v (no transfer), attends ``[video ; text]`` for its heads, sends the video output back and
all-gathers the text output over the heads (``B·M·dim·(U−1)/U`` more elements per call). Ring: the local queries are
``[video chunk ; text]``; the video K/V travel around the ring as above, the text K/V block is attended once locally;
the text queries' partials are merged in one fixed block order, so every rank's text output is the same bits.

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


__all__ = ["SequenceShard", "active_shard", "sequence_shard", "sharded_attention", "sharded_joint_attention"]

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


def _ring(q: Tensor, k: Tensor, v: Tensor, cp: ContextParallel, valid: int, scale: float | None, backend: str,
          text: tuple[Tensor | None, Tensor, Tensor] | None = None,
          context_mask: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """Queries of this rank's chunk against every chunk's K/V, passed around the ring and merged by LSE.

    ``text = (qc, kc, vc)`` (joint attention; ``qc`` None: keys and values only): the text K/V block, whole on every
    rank, is attended once here by the chunk's queries, and the text queries attend every block too; their partials
    are merged in block order ``0 … R−1, text`` so every rank's text output is the same bits. Returns the chunk's
    output and the text queries' (None without text queries)."""
    r, me, length = cp.ring, cp.coordinate("ring"), k.shape[-2]
    group = cp.group("ring")
    qc = out = lse = None
    if text is not None:
        qc, kc, vc = text
        text_mask = None if context_mask is None else context_mask.bool()[:, None, None, :]

        def text_block(queries: Tensor) -> tuple[Tensor, Tensor]:  # a row whose text is all padding adds nothing
            part, part_lse = attention_with_lse(queries, kc, vc, mask=text_mask, scale=scale, backend=backend)
            return (part, part_lse) if text_mask is None else (part.nan_to_num(0.0), part_lse)

        out, lse = text_block(q)
    text_parts = [None] * r
    kv = torch.stack([k, v])  # one message per pass
    for i in range(r):
        following = None
        if i < r - 1:  # flat: permute_tensor sizes its splits by numel, so dim 0 must be the elements
            following = funcol.permute_tensor(kv.reshape(-1), [(m + 1) % r for m in range(r)], group)
        origin = (me - i) % r  # the block held at pass i came from ring rank me − i
        start = origin * length
        if start < valid:  # a block that is all padding adds nothing (and would make 0/0 rows)
            mask = _key_mask(start, length, valid, q.device)
            out, lse = merge_partials(out, lse, *attention_with_lse(q, kv[0], kv[1], mask=mask, scale=scale,
                                                                     backend=backend))
            if qc is not None:
                text_parts[origin] = attention_with_lse(qc, kv[0], kv[1], mask=mask, scale=scale, backend=backend)
        if following is not None:
            kv = following.view(kv.shape)
    out_c = None
    if qc is not None:
        lse_c = None
        for part in (*text_parts, text_block(qc)):
            if part is not None:
                out_c, lse_c = merge_partials(out_c, lse_c, *part)
        out_c = out_c.to(qc.dtype)
    return out.to(q.dtype), out_c


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
        out, _ = _ring(q, k, v, cp, valid, scale, backend)
    else:
        mask = _key_mask(0, k.shape[-2], valid, q.device)
        out = attend(q, k, v, mask=mask, scale=scale, backend=backend, dropout_p=dropout_p)
    return _heads_to_seq(out, cp) if cp.ulysses > 1 else out


def _join(video: Tensor, text: Tensor, context_first: bool, dim: int = -2) -> Tensor:
    return torch.cat((text, video) if context_first else (video, text), dim=dim)


def _joint_mask(video: Tensor | None, length: int, context_mask: Tensor | None, m: int, context_first: bool,
                device) -> Tensor | None:
    """``(B|1, 1, 1, length + M)`` True where a key of ``[video ; text]`` (``[text ; video]``) is real (None: all
    are)."""
    if video is None and context_mask is None:
        return None
    video = torch.ones(1, 1, 1, length, dtype=torch.bool, device=device) if video is None else video
    text = (torch.ones(1, 1, 1, m, dtype=torch.bool, device=device) if context_mask is None
            else context_mask.bool()[:, None, None, :])
    batch = max(video.shape[0], text.shape[0])
    return _join(video.expand(batch, -1, -1, -1), text.expand(batch, -1, -1, -1), context_first, dim=-1)


def sharded_joint_attention(q: Tensor, k: Tensor, v: Tensor, qc: Tensor | None, kc: Tensor, vc: Tensor,
                            cp: ContextParallel, *, valid: int, context_mask: Tensor | None = None,
                            context_first: bool = False, scale: float | None = None, backend: str = "auto",
                            dropout_p: float = 0.0) -> tuple[Tensor, Tensor | None]:
    """Joint attention ``softmax([Q_x ; Q_c] [K_x ; K_c]ᵀ · scale) [V_x ; V_c]`` with the video sharded and the
    text whole on every rank (module docstring).

    Shapes: video ``q``, ``k``, ``v`` ``(B, H, S, D)``, this rank's shard of ``valid`` tokens padded to
    ``S · cp.degree``; text ``qc`` (None: the text is keys and values only), ``kc``, ``vc`` ``(B, H, M, D)``, the same
    on every rank; ``context_mask`` ``(B, M)`` True = a real text key; ``context_first``: the keys are ordered
    ``[text ; video]``. Returns ``(B, H, S, D)`` (the rows of the full attention of this shard's video queries) and
    ``(B, H, M, D)`` (the text queries' rows, identical on every rank; None without ``qc``).
    """
    where = "context_parallel"
    cp.check_heads(q.shape[1], where)
    if dropout_p > 0 and cp.ring > 1:
        raise ValueError(f"{where}: ring attention has no attention dropout, got dropout_p={dropout_p}")
    if cp.ulysses > 1:
        q, k, v = _seq_to_heads(torch.stack([q, k, v]), cp).unbind(0)
        h, u = q.shape[1], cp.coordinate("ulysses")  # this rank's heads of the text: no transfer
        qc, kc, vc = (None if x is None else x.narrow(1, u * h, h) for x in (qc, kc, vc))
    if cp.ring > 1:
        out, out_c = _ring(q, k, v, cp, valid, scale, backend, (qc, kc, vc), context_mask)
    else:
        n, m = k.shape[-2], kc.shape[-2]
        mask = _joint_mask(_key_mask(0, n, valid, q.device), n, context_mask, m, context_first, q.device)
        queries = q if qc is None else _join(q, qc, context_first)
        out = attend(queries, _join(k, kc, context_first), _join(v, vc, context_first), mask=mask, scale=scale,
                     backend=backend, dropout_p=dropout_p)
        out, out_c = (out, None) if qc is None else ((out[..., m:, :], out[..., :m, :]) if context_first
                                                     else (out[..., :n, :], out[..., n:, :]))
    if cp.ulysses > 1:
        out = _heads_to_seq(out.contiguous(), cp)
        if out_c is not None:  # b (h/U) m d -> b h m d: every rank's text stream stays whole
            out_c = funcol.all_gather_single_autograd(out_c.contiguous(), 1, cp.group("ulysses"))
    return out, out_c


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

    def attend_joint(self, q: Tensor, k: Tensor, v: Tensor, qc: Tensor | None, kc: Tensor, vc: Tensor, *,
                     context_mask: Tensor | None = None, context_first: bool = False, backend: str = "auto",
                     dropout_p: float = 0.0) -> tuple[Tensor, Tensor | None]:
        """``sharded_joint_attention`` of this shard's video heads with the whole text stream's."""
        return sharded_joint_attention(q, k, v, qc, kc, vc, self.cp, valid=self.total, context_mask=context_mask,
                                       context_first=context_first, backend=backend, dropout_p=dropout_p)


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
