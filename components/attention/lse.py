"""Attention that also returns its log-sum-exp, and the merge of partial attentions by it (Ring attention's kernel).

For one query row over a key block ``b`` with scores ``s_j = q·k_j · scale``:

    lse_b = log Σ_{j∈b} exp(s_j),      o_b = Σ_{j∈b} exp(s_j − lse_b) v_j

and two blocks merge exactly (Milakov & Gimelshein 2018, online softmax; Liu et al. 2023, Ring Attention, §3):

    lse = log(exp(lse_1) + exp(lse_2)),   o = exp(lse_1 − lse) o_1 + exp(lse_2 − lse) o_2

Where the LSE comes from: the ``math`` backend and any call under autograd compute it (fp32 scores, ``logsumexp``; the
fused kernels' LSE outputs are not differentiable, and Ring attention's backward needs the LSE's gradient); on CPU the
``sdpa`` / ``auto`` backends use ``aten._scaled_dot_product_flash_attention_for_cpu``, which returns it; on CUDA
``aten._scaled_dot_product_efficient_attention(compute_log_sumexp=True)``. A boolean key mask enters those kernels as an
additive ``-inf`` bias.
"""

from __future__ import annotations

import torch
from torch import Tensor


__all__ = ["attention_with_lse", "merge_partials"]


def _math(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, scale: float) -> tuple[Tensor, Tensor]:
    scores = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale  # (B, H, N_q, N_k) fp32
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    lse = scores.logsumexp(dim=-1)
    out = torch.matmul((scores - lse[..., None]).exp().to(v.dtype), v)
    return out, lse


def attention_with_lse(q: Tensor, k: Tensor, v: Tensor, *, mask: Tensor | None = None, scale: float | None = None,
                       backend: str = "auto") -> tuple[Tensor, Tensor]:
    """``softmax(q kᵀ · scale) v`` and its fp32 log-sum-exp over the keys.

    Shapes: ``q`` ``(B, H, N_q, D)``, ``k``/``v`` ``(B, H, N_k, D)``, ``mask`` boolean (True = attend) broadcastable
    to ``(B, H, N_q, N_k)`` -> ``(B, H, N_q, D)`` in ``q``'s dtype and ``(B, H, N_q)`` fp32. Every query row must see
    at least one key (the ring skips blocks that are all padding).
    """
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    if grad or backend not in ("auto", "sdpa"):
        return _math(q, k, v, mask, scale)
    bias = None
    if mask is not None:
        bias = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill(~mask, float("-inf"))
        bias = bias.expand(q.shape[0], q.shape[1], q.shape[2], k.shape[2])
    if q.device.type == "cpu":
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, False, attn_mask=bias,
                                                                              scale=scale)
        return out, lse.float()
    if q.device.type == "cuda":
        out, lse, *_ = torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, bias, True, scale=scale)
        return out, lse[..., : q.shape[2]].float()
    return _math(q, k, v, mask, scale)


def merge_partials(out: Tensor | None, lse: Tensor | None, part: Tensor, part_lse: Tensor) -> tuple[Tensor, Tensor]:
    """Fold a partial attention ``(part, part_lse)`` into the running ``(out, lse)`` (None: the first block).

    ``out`` ``(B, H, N, D)`` is kept in fp32; ``lse`` ``(B, H, N)`` fp32. Exact up to rounding (module docstring)."""
    if out is None:
        return part.float(), part_lse
    new = torch.logaddexp(lse, part_lse)
    out = out * (lse - new).exp()[..., None] + part.float() * (part_lse - new).exp()[..., None]
    return out, new
