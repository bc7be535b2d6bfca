"""The one step-cache mechanism: an object a network consults at its block loop, told each call's sampler step.

    cache = components.build("cache/first_block", threshold=0.05)
    out = cache(model, x, t, step=step, **cond)        # model(x, t, **cond) with the cache consulted at step
    cache.stats()                                       # {"calls": 8, "full": 5, "cached": 3}

How a call flows (docs/caches.md): the sampler hands the denoiser a ``Step`` (components/diffusion/step.py); the
denoiser adapter passes it to the network wrapper (``call_denoiser``), which calls ``cache(model, z, time, step=,
**cond)``. For that one call the cache is attached to every net inside ``model`` that has a hook point
(``step_cache``): ``SpaceTimeDiT.block_loop`` (and so Wan, Latte, Open-Sora, sora_dit, each expert of
``net/noise_experts``) hands its loop over the blocks to ``run_blocks``; ``SpaceTimeUNet.forward`` hands its whole body
to ``run_net``. The cache decides from the step (index i, N, the grid) and its own per-net state whether to compute,
reuse or forecast. Nothing counts calls: the step index is the sampler's, and a new sampler run (a new ``Step.tables``)
resets the state, as does ``reset()``.

Calls that share a step index (Heun's corrector, DPM-2's midpoint, MultiDiffusion's windows) are computed in full and
leave the state untouched: every cache here is defined per sampler step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextlib import contextmanager

from torch import Tensor, nn

from ..diffusion.step import Step


__all__ = ["StepCache", "cache_nets", "parse_cache_spec"]

# what a cache needs of a network's structure, and what each hook point offers
STRUCTURES = {
    "blocks": "a stack of residual token blocks of one width (the DiT family: SpaceTimeDiT, Wan, Latte, Open-Sora)",
    "attention": "registered attention modules (every DiT and U-Net)",
}


def cache_nets(model: nn.Module) -> list[nn.Module]:
    """The nets inside ``model`` (itself included) that have a step-cache hook point (``step_cache``)."""
    return [m for m in model.modules() if hasattr(m, "cache_structure")]


def check_range(where: str, name: str, value, low: float, high: float = math.inf, *, integer: bool = False):
    """``value`` in [low, high] (an int when ``integer``), else a ValueError naming the argument and the value."""
    bad = isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int))
    if bad or not (low <= value <= high) or (isinstance(value, float) and math.isnan(value)):
        kind = "an integer" if integer else "a number"
        span = f">= {low}" if high == math.inf else f"in [{low}, {high}]"
        raise ValueError(f"{where}: {name} must be {kind} {span}, got {value!r}")
    return value


class StepCache:
    """Base class of ``cache/*``: state per net, the per-call record and the hook-point contract.

    Subclasses set ``key`` and ``needs`` (a ``STRUCTURES`` key) and implement ``run_blocks`` (blocks) and/or
    ``run_net`` (attention). ``state(net)`` is this run's dict for one net; ``record(computed)`` logs the call."""

    key = ""
    needs = "blocks"

    def __init__(self) -> None:
        self._states: dict[int, dict] = {}
        self._run: object = None
        self.step: Step | None = None
        self.calls: list[tuple[int, bool]] = []  # (step index, computed in full) of every network call

    # ---------------------------------------------------------------------------------------------- the call
    def __call__(self, model: nn.Module, x: Tensor, t, *, step: Step | None = None, **cond) -> Tensor:
        """``model(x, t, **cond)`` at sampler ``step`` with this cache consulted at every hook point inside it."""
        if not isinstance(step, Step):
            raise ValueError(f"{self.key}: a step cache needs the sampler's step context (step=Step(...)), got "
                             f"{type(step).__name__}")
        nets = self.check(model)
        if step.tables is not self._run:  # a new sampler run: nothing carries over
            self._states, self._run = {}, step.tables
        self.step = step
        with _attached(nets, self):
            return model(x, t, **cond)

    def check(self, model: nn.Module) -> list[nn.Module]:
        """The hook-point nets of ``model``; a ValueError when none offers the structure this cache needs."""
        nets = cache_nets(model)
        fit = [n for n in nets if self.needs in n.cache_structure]
        if not fit:
            have = sorted({s for n in nets for s in n.cache_structure}) or ["none"]
            raise ValueError(f"{self.key}: a cache on a recipe whose network has no block structure it needs: it "
                             f"needs {STRUCTURES[self.needs]}; {type(model).__name__} offers {', '.join(have)}")
        return fit

    def reset(self) -> None:
        """Forget every net's state and the call record (a new sampling run)."""
        self._states, self._run, self.calls = {}, None, []

    def stats(self) -> dict:
        """``calls`` (network evaluations asked for), ``full`` (computed in full) and ``cached`` (shortened)."""
        full = sum(computed for _, computed in self.calls)
        return {"calls": len(self.calls), "full": full, "cached": len(self.calls) - full}

    # ---------------------------------------------------------------------------------------------- for subclasses
    def state(self, net: nn.Module) -> dict | None:
        """This run's state of ``net``; None for a repeated step index (compute in full, state untouched)."""
        s = self._states.setdefault(id(net), {"index": None})
        if s["index"] == self.step.index:
            return None
        s["index"] = self.step.index
        return s

    def record(self, computed: bool) -> None:
        self.calls.append((self.step.index, bool(computed)))

    def run_blocks(self, net: nn.Module, tokens: Tensor, run_block: Callable[[int, Tensor], Tensor],
                   **facts) -> Tensor:
        """The block loop of ``net``: ``tokens = run_block(k, tokens)`` for k < depth, as the cache decides. ``facts``:
        ``c`` (the blocks' conditioning) and ``t`` (the net's time input). A repeated step index (no state) runs in
        full; otherwise ``cached_blocks`` decides."""
        depth = len(net.blocks)
        s = self.state(net)
        if s is None:
            self.record(True)
            return full_loop(tokens, run_block, depth)
        return self.cached_blocks(s, net, tokens, run_block, depth, **facts)

    def cached_blocks(self, s: dict, net: nn.Module, tokens: Tensor, run_block: Callable[[int, Tensor], Tensor],
                      depth: int, **facts) -> Tensor:
        """The block loop with this run's state ``s`` of ``net`` (a block-level cache implements it)."""
        raise NotImplementedError

    def run_net(self, net: nn.Module, body: Callable[[], Tensor], **facts) -> Tensor:
        """The whole forward of ``net`` (``body()``), as the cache decides (attention-level caches)."""
        raise NotImplementedError


def full_loop(tokens: Tensor, run_block: Callable[[int, Tensor], Tensor], depth: int, start: int = 0) -> Tensor:
    for k in range(start, depth):
        tokens = run_block(k, tokens)
    return tokens


@contextmanager
def _attached(nets: list[nn.Module], cache: StepCache):
    previous = [n.step_cache for n in nets]
    for n in nets:
        n.step_cache = cache
    try:
        yield
    finally:
        for n, p in zip(nets, previous):
            n.step_cache = p


def parse_cache_spec(spec: str) -> dict:
    """``"KEY[:knob=value,...]"`` -> a config ``{"type": "cache/KEY", knob: value, ...}`` (``registry.parse_spec``)."""
    from ..registry import parse_spec

    key, knobs = parse_spec(spec, "cache", "--cache")
    return {"type": key, **knobs}


def as_cache(value) -> StepCache | None:
    """A built cache from a key (``"first_block"``, ``"cache/teacache"``, ``"pab:spatial_skip=2"``), a config dict
    or a built ``StepCache``; None stays None."""
    from ..registry import build

    if value is None or isinstance(value, StepCache):
        return value
    if isinstance(value, str):
        return build(parse_cache_spec(value))
    if isinstance(value, Mapping):
        cfg = dict(value)
        if not str(cfg.get("type", "")).startswith("cache/"):
            cfg["type"] = f"cache/{cfg.get('type', '')}"
        return build(cfg)
    raise TypeError(f"cache must be a cache key, a config dict or a built cache, got {type(value).__name__}")
