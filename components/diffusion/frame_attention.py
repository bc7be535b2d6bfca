"""Training-free switch of a network's spatial self-attention to a frame-wise variant (Text2Video-Zero E14,
ControlVideo's fully cross-frame attention), keeping the weights.

Every ``attention/spatial`` module (``SpatialAttention``, also the ``attn1`` inside transformer blocks) is replaced
by the variant built with the same sizes, and the new module takes over the old one's submodules (``to_q``,
``to_k``, ``to_v``, ``to_out``, norms): the parameter set is identical, tensor for tensor, and no parameter is
added. Text cross-attention and temporal attention are untouched. The configs recorded by the enclosing blocks
still say ``attention="spatial"``; rebuild from config and swap again.
"""

from __future__ import annotations

from torch import nn

from ..attention.base import MultiHeadAttention
from ..attention.spatial import SpatialAttention
from ..registry import build, get_component


__all__ = ["swap_spatial_attention", "use_cross_frame_attention"]


def _replacement(old: SpatialAttention, variant: str, kwargs: dict) -> nn.Module:
    cls = get_component(variant).obj
    if not (isinstance(cls, type) and issubclass(cls, MultiHeadAttention)) or cls is SpatialAttention:
        raise ValueError(f"swap_spatial_attention: variant must be a frame-wise self-attention such as "
                         f"'attention/cross_frame' or 'attention/fully_cross_frame', got {variant!r}")
    new = build(variant, dim=old.dim, num_heads=old.num_heads, head_dim=old.head_dim,
                qkv_bias=old.to_q.bias is not None, qk_norm=isinstance(old.norm_q, nn.LayerNorm),
                dropout=old.dropout, backend=old.backend, device="meta", **kwargs)
    for name, child in old.named_children():  # take over the weights themselves (the meta ones are dropped)
        setattr(new, name, child)
    leftovers = [n for n, p in new.named_parameters(recurse=True) if p.is_meta]
    if leftovers:
        raise ValueError(f"swap_spatial_attention: {variant} has parameters the spatial attention lacks: {leftovers}")
    new.train(old.training)
    return new


def swap_spatial_attention(module: nn.Module, variant: str = "attention/cross_frame", **kwargs) -> nn.Module:
    """Replace every ``attention/spatial`` inside ``module`` (in place) by ``variant`` with the same weights.

    ``variant``: ``attention/cross_frame`` (Text2Video-Zero: keys/values of frame 0), ``attention/sparse_causal``
    (Tune-A-Video), ``attention/fully_cross_frame`` (ControlVideo; ``key_frames=[0, -1]`` for its clips).
    Returns ``module`` (or the new module when ``module`` itself is a spatial attention).
    """
    variant = variant if "/" in variant else f"attention/{variant}"
    if type(module) is SpatialAttention:
        return _replacement(module, variant, kwargs)
    swapped = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is SpatialAttention:
                setattr(parent, name, _replacement(child, variant, kwargs))
                swapped += 1
    if swapped == 0:
        raise ValueError(f"swap_spatial_attention: {type(module).__name__} contains no attention/spatial module")
    return module


def use_cross_frame_attention(module: nn.Module) -> nn.Module:
    """Text2Video-Zero's switch (E14): every spatial self-attention attends to the keys/values of frame 0."""
    return swap_spatial_attention(module, "attention/cross_frame")
