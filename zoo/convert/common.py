"""The one conversion mechanism: ordered regex rename tables between diffusers and zoo state-dict keys.

A converter for a diffusers class is a declaration: which zoo model to build from the diffusers config, and a rename
table ``[(diffusers_pattern, zoo_replacement), ...]`` (``re`` syntax, applied first match wins, whole key). The
reverse direction is derived from the same table, so there is no second table to keep in sync. Tensors whose layout
differs (a Linear stored as a 1×1 conv, a 2-D conv inflated to 1×k×k) are reshaped by declared ``reshape`` rules,
never silently.

Converters declare tables as ``(diffusers_template, zoo_template)`` pairs (``RenameTable.from_pairs``, with
``param_pairs`` / ``prefixed`` to compose them; block-level pairs shared by converters live in ``blocks.py``), and
every converter's body is ``convert_weights``. Config checks shared by converters are in ``checks.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

import components


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

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> RenameTable:
        """A two-way table from ``(diffusers_template, zoo_template)`` pairs, e.g.
        ``("down_blocks.{L}.resnets.{i}.norm1.{P}", "down.{L}.{i}.res.norm1.{P}")``: a ``{name}`` placeholder is one
        key segment, an index (digits) unless ``PLACEHOLDERS`` names its alternatives; both sides have the same ones."""
        pairs = list(pairs)
        return cls(rules=tuple((_template_regex(d), _template_replacement(z)) for d, z in pairs),
                   reverse=tuple((_template_regex(z), _template_replacement(d)) for d, z in pairs))


# template placeholders that are not indices: "{P}" a parameter, "{x}" an attention projection
PLACEHOLDERS = {"P": "weight|bias", "x": "q|k|v"}


def _template_regex(template: str) -> str:
    parts = re.split(r"\{(\w+)\}", template)
    return "".join(re.escape(part) if n % 2 == 0 else f"(?P<{part}>{PLACEHOLDERS.get(part, '[0-9]+')})"
                   for n, part in enumerate(parts))


def _template_replacement(template: str) -> str:
    return re.sub(r"\{(\w+)\}", r"\\g<\1>", template)


def param_pairs(modules: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``(diffusers, zoo)`` module-name pairs -> parameter templates (``module.{P}``, ``P`` = weight or bias)."""
    return [(f"{d}.{{P}}", f"{z}.{{P}}") for d, z in modules]


def prefixed(diffusers_prefix: str, zoo_prefix: str, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``pairs`` (of a sub-module) under the given key prefixes (each ending in ``"."``, or empty)."""
    return [(diffusers_prefix + d, zoo_prefix + z) for d, z in pairs]


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


def convert_weights(model: nn.Module, key: str, config: dict, table: RenameTable, *,
                    adapt: Callable[[dict[str, Tensor]], dict[str, Tensor]] | None = None) -> nn.Module:
    """The body of every converter: build registry entry ``key`` with ``config`` on ``model``'s device and dtype, load
    ``model``'s weights renamed by ``table`` (then ``adapt``-ed, for value transforms) strictly, return it in eval mode.
    """
    weight = next(model.parameters())
    ours = components.build(key, **config, device=weight.device, dtype=weight.dtype)
    state = rename_state_dict(model.state_dict(), table, ours)
    ours.load_state_dict(adapt(state) if adapt is not None else state, strict=True)
    return ours.eval()


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

