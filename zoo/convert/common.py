"""The one conversion mechanism: ordered regex rename tables between diffusers and zoo state-dict keys.

A converter for a diffusers class is a declaration: which zoo model to build from the diffusers config, and a rename
table ``[(diffusers_pattern, zoo_replacement), ...]`` (``re`` syntax, applied first match wins, whole key). The
reverse direction is derived from the same table, so there is no second table to keep in sync. Tensors whose layout
differs (a Linear stored as a 1×1 conv, a 2-D conv inflated to 1×k×k) are reshaped by declared ``reshape`` rules,
never silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class RenameTable:
    """Ordered ``(diffusers_regex, zoo_template)`` pairs; ``zoo_regex``/``diffusers_template`` for the reverse are
    given explicitly where a rule is not trivially invertible (``reverse=``)."""

    rules: tuple[tuple[str, str], ...]
    reverse: tuple[tuple[str, str], ...] = ()
    # key regex (zoo side) -> function(tensor, target_shape) adapting layouts (e.g. conv2d -> space-only conv3d)
    reshape: dict[str, Callable[[Tensor, torch.Size], Tensor]] = field(default_factory=dict)

    def to_zoo_key(self, key: str) -> str:
        for pattern, template in self.rules:
            if re.fullmatch(pattern, key):
                return re.sub(f"^{pattern}$", template, key)
        raise KeyError(f"no rename rule matches diffusers key {key!r}")

    def to_diffusers_key(self, key: str) -> str:
        for pattern, template in self.reverse:
            if re.fullmatch(pattern, key):
                return re.sub(f"^{pattern}$", template, key)
        raise KeyError(f"no reverse rename rule matches zoo key {key!r}")


def rename_state_dict(state: dict[str, Tensor], table: RenameTable, target: nn.Module | dict[str, Tensor],
                      *, direction: str = "to_zoo") -> dict[str, Tensor]:
    """Rename every key of ``state`` through ``table``, adapting layouts to ``target``'s shapes.

    Raises ``ValueError`` listing keys that map to nothing, keys of ``target`` left unfilled, and shape mismatches.
    """
    if direction not in ("to_zoo", "to_diffusers"):
        raise ValueError(f"direction must be 'to_zoo' or 'to_diffusers', got {direction!r}")
    rename = table.to_zoo_key if direction == "to_zoo" else table.to_diffusers_key
    shapes = {k: v.shape for k, v in (target.state_dict() if isinstance(target, nn.Module) else target).items()}
    out, unmatched, bad_shapes = {}, [], []
    for key, value in state.items():
        try:
            new = rename(key)
        except KeyError:
            unmatched.append(key)
            continue
        if new not in shapes:
            unmatched.append(f"{key} -> {new}")
            continue
        if value.shape != shapes[new]:
            value = _adapt(value, shapes[new], new, table.reshape)
            if value is None:
                bad_shapes.append(f"{key} {tuple(state[key].shape)} -> {new} {tuple(shapes[new])}")
                continue
        out[new] = value
    missing = sorted(set(shapes) - set(out))
    problems = []
    if unmatched:
        problems.append(f"{len(unmatched)} keys without a target (first: {unmatched[:5]})")
    if bad_shapes:
        problems.append(f"{len(bad_shapes)} shape mismatches (first: {bad_shapes[:5]})")
    if missing:
        problems.append(f"{len(missing)} target keys left unfilled (first: {missing[:5]})")
    if problems:
        raise ValueError("state-dict conversion failed: " + "; ".join(problems))
    return out


def _adapt(value: Tensor, shape: torch.Size, key: str, reshape: dict) -> Tensor | None:
    for pattern, fn in reshape.items():
        if re.fullmatch(pattern, key):
            adapted = fn(value, shape)
            return adapted if adapted.shape == shape else None
    if value.numel() == torch.Size(shape).numel() and _squeezed(value.shape) == _squeezed(shape):
        return value.reshape(shape)  # only unit dimensions differ (Linear <-> 1x1 conv, Conv2d <-> 1xkxk Conv3d)
    return None


def _squeezed(shape: Iterable[int]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


# diffusers class name -> converter(diffusers_model) -> zoo model with converted weights
CONVERTERS: dict[str, Callable[[nn.Module], nn.Module]] = {}


def register_converter(diffusers_class: str) -> Callable:
    """Decorator: ``converter(diffusers_model) -> zoo model`` for instances of ``diffusers_class``."""

    def decorator(fn):
        if diffusers_class in CONVERTERS:
            raise ValueError(f"a converter for {diffusers_class} is already registered")
        CONVERTERS[diffusers_class] = fn
        return fn

    return decorator


def from_diffusers(model: nn.Module) -> nn.Module:
    """The equivalent zoo model of a diffusers model, with converted weights (same device and dtype)."""
    name = type(model).__name__
    if name not in CONVERTERS:
        known = ", ".join(sorted(CONVERTERS)) or "none yet"
        raise TypeError(f"from_diffusers: no converter for {name}; converters exist for: {known}")
    return CONVERTERS[name](model)
