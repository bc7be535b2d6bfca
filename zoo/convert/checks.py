"""Config checks shared by converters: collect every problem of a diffusers config, then refuse once, naming them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def config_getter(config: Any) -> Callable[..., Any]:
    """``get(field, default=None)`` over a diffusers config (a dict) or an object with the fields as attributes."""
    return config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)


def level_problems(widths: list[int], down: list[str] | None = None, up: list[str] | None = None) -> list[str]:
    """Problems of a level layout: widths must be multiples of the first; with block types given, cross-attention
    at every level but the coarsest (``up`` mirrored), the SVD / ModelScope layout."""
    problems = []
    if any(w % widths[0] for w in widths):
        problems.append(f"block_out_channels {widths} must be multiples of the first")
    if down is not None and up is not None:
        cross = [True] * (len(widths) - 1)
        down_cross, up_cross = ([k.startswith("CrossAttn") for k in kinds] for kinds in (down, up))
        if down_cross != cross + [False] or up_cross != [False] + cross:
            problems.append(f"block types must be CrossAttn at every level but the last (got {down} / {up})")
    return problems


def refuse_unsupported(diffusers_class: str, problems: list[str]) -> None:
    """``ValueError`` listing every problem of a config the zoo model cannot express (none: returns)."""
    if problems:
        raise ValueError(f"from_diffusers({diffusers_class}): unsupported config: " + "; ".join(problems))
