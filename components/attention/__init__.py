"""Attention: one core (``attend`` with registered backends) and the variants built on it.

Every variant is a ``MultiHeadAttention`` (same parameter names, so weights move between variants) that only
decides which tokens of a ``B C T H W`` video are queries and which are keys/values; see docs/components/attention.md.
"""

from . import (  # noqa: F401  (registration)
    backends,
    configure,
    cross,
    cross_frame,
    fully_cross_frame,
    joint,
    spacetime,
    sparse_causal,
    spatial,
    temporal,
    windowed,
)
from .backends import (
    attend,
    attention_backend,
    attention_flops,
    available_backends,
    backend_names,
    check_backend_name,
    current_backend,
    resolve_backend,
)
from .base import MultiHeadAttention
from .configure import (
    attention_backends_of,
    configure_attention,
    override_attention_backend,
    set_attention_backend,
    swap_spatial_attention,
    use_cross_frame_attention,
)
from .cross import CrossAttention
from .cross_frame import CrossFrameAttention
from .fully_cross_frame import FullyCrossFrameAttention
from .joint import JointAttention
from .key_frames import KeyFrameAttention
from .spacetime import SpacetimeAttention
from .sparse_causal import SparseCausalAttention, sparse_causal_frames
from .spatial import SpatialAttention
from .temporal import TemporalAttention, joint_image_video_mask
from .windowed import WindowedAttention


__all__ = [
    "CrossAttention",
    "CrossFrameAttention",
    "FullyCrossFrameAttention",
    "JointAttention",
    "KeyFrameAttention",
    "MultiHeadAttention",
    "SpacetimeAttention",
    "SparseCausalAttention",
    "SpatialAttention",
    "TemporalAttention",
    "WindowedAttention",
    "attend",
    "attention_backend",
    "attention_backends_of",
    "attention_flops",
    "available_backends",
    "backend_names",
    "check_backend_name",
    "configure_attention",
    "current_backend",
    "joint_image_video_mask",
    "override_attention_backend",
    "resolve_backend",
    "set_attention_backend",
    "sparse_causal_frames",
    "swap_spatial_attention",
    "use_cross_frame_attention",
]
