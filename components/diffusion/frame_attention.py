"""Training-free switch of a network's spatial self-attention to a frame-wise variant (Text2Video-Zero E14,
ControlVideo's fully cross-frame attention), keeping the weights.

Every ``attention/spatial`` module (``SpatialAttention``, also the ``attn1`` inside transformer blocks) is replaced
by the variant built with the same sizes, and the new module takes over the old one's submodules (``to_q``,
``to_k``, ``to_v``, ``to_out``, norms): the parameter set is identical, tensor for tensor, and no parameter is
added. Text cross-attention and temporal attention are untouched. The configs recorded by the enclosing nets and
blocks are updated (``frame_attention=<variant>``), so ``components.build(config_of(net))`` builds the swapped net.
The implementation lives with the attention (``components/attention/configure.py``), where the nets and blocks
that apply ``frame_attention=`` at construction find it; this module keeps the sampling-side names.
"""

from __future__ import annotations

from ..attention.configure import swap_spatial_attention, use_cross_frame_attention


__all__ = ["swap_spatial_attention", "use_cross_frame_attention"]
