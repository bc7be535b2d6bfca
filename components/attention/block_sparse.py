"""Block-sparse attention: a token sequence cut into equal blocks, a block mask, and three exact ways to run it.

Every sparse video attention here (``attention/sliding_tile``, ``radial``, ``sparse_videogen``, ``video_sparse``)
reorders its ``(B, heads, N, head_dim)`` heads so that the tokens of one block (a tile, a frame slice, a cube) are
contiguous, decides a boolean block mask ``keep`` ``(B|1, heads|1, n_blocks, n_blocks)`` (query block i may attend to
key block j), and computes

    out_i = softmax(q_i K_Sᵀ / √d) V_S,   S = ⋃ { block j : keep[i, j] }        (token i in query block i)

which is dense attention under the token mask ``keep ⊗ 1_{block×block}`` — the definition the tests check. The
``path`` picks how:

* ``"dense"``: the token mask through the one core ``attend`` (the reference; O(N²) work and memory);
* ``"gather"``: per query block, the kept key blocks gathered into one short sequence and the core ``attend`` run on
  ``(B, heads·n_blocks, block, head_dim)`` queries (padding blocks masked out): the work is the kept pairs only, in
  plain torch on any device (the CPU path that actually saves time);
* ``"flex"``: ``torch.nn.attention.flex_attention`` with a ``BlockMask`` of the kept blocks (``BlockMask.from_kv_blocks``,
  every kept block full, plus the ``mask_mod`` reading the block mask). Eagerly (CPU included, torch 2.14) flex
  ignores the block lists, evaluates ``mask_mod`` on every pair and materialises the scores: exact, not faster.
  Under ``torch.compile`` it is a fused kernel visiting only the kept blocks (the GPU path; also compiles on CPU,
  measured ~25 s per shape to compile there).

``density(keep)`` is the fraction of query–key pairs computed.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from .backends import attention_flops


__all__ = ["PATHS", "block_index", "block_sparse_attention", "check_divides", "density", "divisors", "warn_once"]

PATHS = ("gather", "flex", "dense")
_WARNED: set[str] = set()


def warn_once(message: str) -> None:
    """``warnings.warn(message)`` the first time this process sees ``message`` (a net of 30 blocks says it once)."""
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, stacklevel=3)


def divisors(n: int) -> list[int]:
    """The positive divisors of ``n``, ascending."""
    return [d for d in range(1, n + 1) if n % d == 0]


def check_divides(argument: str, size: int, axis: str, n: int, *, where: str) -> None:
    """ValueError unless ``size`` divides the ``axis`` length ``n``, naming both and the sizes that would."""
    if n % size:
        raise ValueError(f"{where}: {argument}={size} must divide the token grid's {axis}={n}; sizes that divide "
                         f"{n}: {divisors(n)}")


def density(keep: Tensor) -> float:
    """Fraction of the query–key pairs computed: the mean of the block mask (blocks are equal)."""
    return float(keep.float().mean())


def block_index(keep: Tensor) -> tuple[Tensor, Tensor]:
    """``keep`` ``(..., nQ, nK)`` -> ``(index, valid)`` ``(..., nQ, K)`` with ``K`` the most blocks any query block keeps:
    the kept key blocks of each query block in ascending order, padded (``valid`` False) to ``K``."""
    order = torch.sort(keep.to(torch.uint8), dim=-1, descending=True, stable=True).indices
    count = int(keep.sum(-1).max()) if keep.numel() else 0
    index = order[..., :max(count, 1)]
    return index, torch.gather(keep, -1, index)


def _token_mask(keep: Tensor, block: int) -> Tensor:
    return keep.repeat_interleave(block, dim=-2).repeat_interleave(block, dim=-1)


def _gather(core, q: Tensor, k: Tensor, v: Tensor, keep: Tensor, block: int) -> Tensor:
    b, h, n, d = q.shape
    nb = n // block
    index, valid = block_index(keep.expand(b, h, nb, nb))
    kk = index.shape[-1]
    rows_b = torch.arange(b, device=q.device)[:, None, None, None]
    rows_h = torch.arange(h, device=q.device)[None, :, None, None]
    # (b, h, nb, block, d)[b, h, index] -> (b, h, nb, K, block, d): the kept key blocks of each query block
    k_sel = k.view(b, h, nb, block, d)[rows_b, rows_h, index].reshape(b, h * nb, kk * block, d)
    v_sel = v.view(b, h, nb, block, v.shape[-1])[rows_b, rows_h, index].reshape(b, h * nb, kk * block, v.shape[-1])
    mask = None if bool(valid.all()) else valid.reshape(b, h * nb, 1, kk).repeat_interleave(block, dim=-1)
    out = core(q.reshape(b, h * nb, block, d), k_sel, v_sel, mask=mask)
    return out.view(b, h, n, v.shape[-1])


def _flex(q: Tensor, k: Tensor, v: Tensor, keep: Tensor, block: int) -> Tensor:
    from torch.nn.attention.flex_attention import BlockMask, flex_attention

    b, h, n, _ = q.shape
    nb = n // block
    full = keep.expand(b, h, nb, nb)
    order = torch.sort(full.to(torch.uint8), dim=-1, descending=True, stable=True).indices.to(torch.int32)
    counts = full.sum(-1).to(torch.int32)

    def mask_mod(b_idx, h_idx, q_idx, kv_idx):  # eager flex reads only this; a compiled kernel the block lists
        return full[b_idx, h_idx, q_idx // block, kv_idx // block]

    # every kept block is full (no token inside it is masked), so the kernel never calls mask_mod on it
    mask = BlockMask.from_kv_blocks(torch.zeros_like(counts), order, counts, order, BLOCK_SIZE=block,
                                    mask_mod=mask_mod, seq_lengths=(n, n))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile.*")
        return flex_attention(q, k, v, block_mask=mask)


def block_sparse_attention(core, q: Tensor, k: Tensor, v: Tensor, keep: Tensor, block: int,
                           path: str = "gather") -> Tensor:
    """Attention of ``q`` over the key blocks ``keep`` allows, ``(B, heads, N, head_dim)`` in block order.

    Args:
        core: the attention core of the module (``MultiHeadAttention.core``: ``attend`` with its backend, dropout).
        q, k, v: ``(B, heads, N, head_dim)``, ``N = n_blocks · block``, each block's tokens contiguous.
        keep: boolean ``(B|1, heads|1, n_blocks, n_blocks)``; every query block must keep at least one key block.
        block: tokens per block.
        path: ``"gather"``, ``"flex"`` or ``"dense"`` (module docstring); all three give the same output.

    Returns:
        ``(B, heads, N, head_dim)``.
    """
    if path == "dense":
        return core(q, k, v, mask=_token_mask(keep, block))
    if path == "flex":
        return _flex(q, k, v, keep, block)
    return _gather(core, q, k, v, keep, block)


def sparse_flops(batch: int, num_heads: int, tokens: int, head_dim: int, kept: float) -> float:
    """Forward FLOPs of block-sparse attention computing a fraction ``kept`` of the ``tokens²`` pairs."""
    return kept * attention_flops(batch, num_heads, tokens, tokens, head_dim)
