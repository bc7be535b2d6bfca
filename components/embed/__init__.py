"""Embeddings: timesteps, fixed sin-cos position tables, relative temporal bias, 3-D RoPE, 3-D patches and
micro-conditioning (registration happens on import)."""

from . import micro_cond, patch, relative_bias, rope, sincos, timestep  # noqa: F401  (registration)
from .micro_cond import MicroConditioning
from .patch import PatchEmbed3d, unpatchify
from .relative_bias import RelativeTemporalBias, relative_position_bucket
from .rope import RoPE3d, apply_rope, default_axes_dim, rotate_pairs, wan_axes_dim
from .sincos import SinCosPosEmbed1d, SinCosPosEmbed2d, SinCosPosEmbed3d, grid_positions, sincos_table
from .sinusoidal import sinusoidal_embedding
from .timestep import TimestepEmbedding


__all__ = [
    "MicroConditioning",
    "PatchEmbed3d",
    "RelativeTemporalBias",
    "RoPE3d",
    "SinCosPosEmbed1d",
    "SinCosPosEmbed2d",
    "SinCosPosEmbed3d",
    "TimestepEmbedding",
    "apply_rope",
    "default_axes_dim",
    "grid_positions",
    "relative_position_bucket",
    "rotate_pairs",
    "sincos_table",
    "sinusoidal_embedding",
    "unpatchify",
    "wan_axes_dim",
]
