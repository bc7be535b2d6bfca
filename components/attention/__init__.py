"""Attention: one core (``attend`` with registered backends) and the variants built on it.

Every variant is a ``MultiHeadAttention`` (same parameter names, so weights move between variants) that only
decides which tokens of a ``B C T H W`` video are queries and which are keys/values; see docs/components/attention.md.
"""

from . import (  # noqa: F401  (registration)
    backends,
    cross,
    cross_frame,
    fully_cross_frame,
    spacetime,
    sparse_causal,
    spatial,
    temporal,
    windowed,
)
from .backends import attend, attention_backend, attention_flops, available_backends, current_backend, resolve_backend
from .base import MultiHeadAttention, set_attention_backend
from .cross import CrossAttention
from .cross_frame import CrossFrameAttention
from .fully_cross_frame import FullyCrossFrameAttention
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
    "KeyFrameAttention",
    "MultiHeadAttention",
    "SpacetimeAttention",
    "SparseCausalAttention",
    "SpatialAttention",
    "TemporalAttention",
    "WindowedAttention",
    "attend",
    "attention_backend",
    "attention_flops",
    "available_backends",
    "current_backend",
    "joint_image_video_mask",
    "resolve_backend",
    "set_attention_backend",
    "sparse_causal_frames",
]
