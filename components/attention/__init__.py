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
from .block_sparse import block_sparse_attention
from .configure import (
    attention_backends_of,
    configure_attention,
    override_attention_backend,
    parse_attention_spec,
    set_attention_backend,
    swap_spacetime_attention,
    swap_spatial_attention,
    use_cross_frame_attention,
)
from .context_parallel import sharded_attention
from .cross import CrossAttention
from .cross_frame import CrossFrameAttention
from .fully_cross_frame import FullyCrossFrameAttention
from .joint import JointAttention
from .key_frames import KeyFrameAttention
from .lse import attention_with_lse
from .parallel_mesh import ContextParallel, init_context_parallel
from .parallel_model import context_parallel, set_context_parallel
from .radial import RadialAttention
from .sliding_tile import SlidingTileAttention
from .spacetime import SpacetimeAttention
from .sparse_causal import SparseCausalAttention, sparse_causal_frames
from .sparse_spacetime import SparseSpacetimeAttention
from .sparse_videogen import SparseVideoGenAttention
from .spatial import SpatialAttention
from .temporal import TemporalAttention, joint_image_video_mask
from .video_sparse import VideoSparseAttention
from .windowed import WindowedAttention


__all__ = [
    "ContextParallel",
    "CrossAttention",
    "CrossFrameAttention",
    "FullyCrossFrameAttention",
    "JointAttention",
    "KeyFrameAttention",
    "MultiHeadAttention",
    "RadialAttention",
    "SlidingTileAttention",
    "SpacetimeAttention",
    "SparseCausalAttention",
    "SparseSpacetimeAttention",
    "SparseVideoGenAttention",
    "SpatialAttention",
    "TemporalAttention",
    "VideoSparseAttention",
    "WindowedAttention",
    "attend",
    "attention_backend",
    "attention_backends_of",
    "attention_flops",
    "attention_with_lse",
    "available_backends",
    "backend_names",
    "block_sparse_attention",
    "check_backend_name",
    "configure_attention",
    "context_parallel",
    "current_backend",
    "init_context_parallel",
    "joint_image_video_mask",
    "override_attention_backend",
    "parse_attention_spec",
    "resolve_backend",
    "set_attention_backend",
    "set_context_parallel",
    "sharded_attention",
    "sparse_causal_frames",
    "swap_spacetime_attention",
    "swap_spatial_attention",
    "use_cross_frame_attention",
]
