"""Step caches (``cache/*``): training-free reuse of computation across denoising steps, over one mechanism.

A cache is called as ``cache(model, x, t, step=step, **cond)`` by the network wrapper (``zoo.objective``) for each
network evaluation; the nets consult it at their hook point (``SpaceTimeDiT.block_loop``, ``SpaceTimeUNet.forward``).
Block-level caches (first_block, teacache, magcache, taylorseer) need a DiT's stack of blocks; ``cache/pab`` works on
every net with registered attention modules (DiTs and U-Nets). docs/caches.md.
"""

from . import first_block, magcache, pab, taylorseer, teacache  # noqa: F401  (registers the entries)
from .base import StepCache, as_cache, cache_nets, parse_cache_spec


__all__ = ["StepCache", "as_cache", "cache_nets", "parse_cache_spec"]
