"""``cache/pab``: Pyramid Attention Broadcast — reuse attention outputs over a mid-range of steps, per attention type.

[V-paper: Zhao et al. 2024, "Real-Time Video Generation with Pyramid Attention Broadcast", arXiv:2408.12588, §3.2]
[V-code: diffusers hooks/pyramid_attention_broadcast.py ``PyramidAttentionBroadcastHook``] Attention outputs change
little in the middle of sampling, least for cross-attention, then temporal, then spatial: each attention module's
output at step i is broadcast (reused) from its last computation unless::

    i = 0,  or  the timestep τ = t · time_scale is outside (τ_lo, τ_hi),  or  i mod R_type = 0

with R_type the type's broadcast range (``spatial_skip``, ``temporal_skip``, ``cross_skip``; None: never reused).
Types come from each module's registry key: ``attention/cross`` is cross, a key with ``temporal`` in it temporal, every
other self-attention (spatial, spacetime, windowed, ...) spatial (diffusers counts Wan's full attention as spatial).
PAB reaches inside the blocks: for one network call each chosen attention module answers from this cache (an
instance-level override of its call, removed when the call returns), so it works on every DiT and every U-Net.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import torch

from ..registry import BadInput, register
from .base import StepCache, check_range
from .examples import CACHE_DTYPES, cache_inputs, cache_output_shape, no_step


TYPES = ("spatial", "temporal", "cross")
_METHODS = ("forward", "attend_tokens", "attend_grid")


def attention_type(module: torch.nn.Module) -> str | None:
    """``"spatial"`` / ``"temporal"`` / ``"cross"`` of a registered attention module (None for anything else)."""
    key = getattr(module, "_component_config", {}).get("type", "")
    if not key.startswith("attention/"):
        return None
    name = key.split("/", 1)[1]
    return "cross" if name == "cross" else "temporal" if "temporal" in name else "spatial"


def attention_modules(net: torch.nn.Module) -> list[tuple[torch.nn.Module, str]]:
    """The outermost registered attention modules of ``net`` with their type (nested ones belong to their owner)."""
    found, inside = [], set()
    for name, module in net.named_modules():
        if any(name.startswith(prefix + ".") for prefix in inside):
            continue
        kind = attention_type(module)
        if kind is not None:
            found.append((module, kind))
            inside.add(name)
    return found


def _pair(where: str, name: str, value) -> tuple[float, float]:
    if not (isinstance(value, Sequence) and len(value) == 2 and value[0] < value[1]):
        raise ValueError(f"{where}: {name} must be a (low, high) pair with low < high, got {value!r}")
    return float(value[0]), float(value[1])


@register(
    "cache", "pab", paper="Zhao et al. 2024 (Pyramid Attention Broadcast, arXiv:2408.12588); diffusers PAB",
    tiny=dict(spatial_skip=2, timestep_range=(0, 1000)), inputs=cache_inputs, output_shape=cache_output_shape, frames=(2,), dtypes=CACHE_DTYPES,
    bad_inputs=[BadInput(match="spatial_skip must be an integer >= 1", init={"spatial_skip": 0}),
                BadInput(match="timestep_range must be a", init={"timestep_range": (800, 100)}),
                BadInput(match="at least one of", init={"spatial_skip": None}), no_step()],
)
class PyramidAttentionBroadcast(StepCache):
    """Reuse each attention's output for R_type − 1 steps in a row while the timestep is inside the range.

    Args:
        spatial_skip, temporal_skip, cross_skip: broadcast range R of each type (≥ 1; None: always computed). PAB's
            published setting for Open-Sora / Latte: 2, 4, 6 (diffusers' examples: spatial 2).
        timestep_range: (τ_lo, τ_hi), in the network's timesteps times its ``time_scale`` (diffusers' 0…1000
            units; default (100, 800) for every type); ``spatial_range`` / ``temporal_range`` / ``cross_range``
            override it per type."""

    key = "cache/pab"
    needs = "attention"

    def __init__(self, spatial_skip: int | None = 2, temporal_skip: int | None = None, cross_skip: int | None = None,
                 timestep_range: Sequence[float] = (100, 800), spatial_range: Sequence[float] | None = None,
                 temporal_range: Sequence[float] | None = None, cross_range: Sequence[float] | None = None) -> None:
        super().__init__()
        skips = dict(spatial=spatial_skip, temporal=temporal_skip, cross=cross_skip)
        if all(v is None for v in skips.values()):
            raise ValueError(f"{self.key}: set at least one of spatial_skip, temporal_skip, cross_skip (an integer "
                             f">= 1), got all None")
        self.skip = {k: None if v is None else check_range(self.key, f"{k}_skip", v, 1, integer=True)
                     for k, v in skips.items()}
        default = _pair(self.key, "timestep_range", timestep_range)
        ranges = dict(spatial=spatial_range, temporal=temporal_range, cross=cross_range)
        self.range = {k: default if v is None else _pair(self.key, f"{k}_range", v) for k, v in ranges.items()}

    def computes(self, kind: str, timestep: float, has_output: bool) -> bool:
        """Whether an attention of ``kind`` computes at this step (diffusers' ``should_compute_attention``)."""
        skip, (low, high), i = self.skip[kind], self.range[kind], self.step.index
        return skip is None or not has_output or i == 0 or not (low < timestep < high) or i % skip == 0

    @contextmanager
    def _broadcast(self, net, timestep):
        s = self.state(net)
        if s is None:  # a repeated step index: computed in full
            self.record(True)
            yield
            return
        tau = float(torch.as_tensor(timestep).flatten()[0])
        reused = []
        patched = []
        for module, kind in attention_modules(net):
            if self.skip[kind] is None:
                continue
            slot = s.setdefault(id(module), {})
            compute = self.computes(kind, tau, "out" in slot)
            reused.append(not compute)
            for name in _METHODS:
                if hasattr(module, name):
                    module.__dict__[name] = _answer(getattr(module, name), slot, compute)
                    patched.append((module, name))
        self.record(not any(reused))
        try:
            yield
        finally:
            for module, name in patched:
                module.__dict__.pop(name, None)

    def run_blocks(self, net, tokens, run_block, **facts):
        with self._broadcast(net, facts["timestep"]):
            for k in range(len(net.blocks)):
                tokens = run_block(k, tokens)
        return tokens

    def run_net(self, net, body, **facts):
        with self._broadcast(net, facts["timestep"]):
            return body()


def _answer(method, slot: dict, compute: bool):
    """``method`` answering from ``slot`` when not computing; the outermost call of a module stores or reuses."""
    def call(*args, **kwargs):
        if slot.get("busy"):  # a method of the module calling another of its own: run it
            return method(*args, **kwargs)
        if not compute:
            return slot["out"]
        slot["busy"] = True
        try:
            slot["out"] = method(*args, **kwargs)
        finally:
            slot["busy"] = False
        return slot["out"]

    return call
