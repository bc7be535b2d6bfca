"""Attention: one core (``attend`` with registered backends) and the variants built on it."""

from . import backends, spacetime, spatial, temporal  # noqa: F401  (registration)
from .backends import attend, attention_backend, available_backends, current_backend, resolve_backend
from .base import MultiHeadAttention, set_attention_backend
from .spacetime import SpacetimeAttention
from .spatial import SpatialAttention
from .temporal import TemporalAttention


__all__ = [
    "MultiHeadAttention",
    "SpacetimeAttention",
    "SpatialAttention",
    "TemporalAttention",
    "attend",
    "attention_backend",
    "available_backends",
    "current_backend",
    "resolve_backend",
    "set_attention_backend",
]
