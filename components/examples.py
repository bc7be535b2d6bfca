"""Example-input makers for registry entries: ``register(..., inputs=video_inputs("dim"))``.

The conformance suite calls ``inputs(cfg, frames=T, batch=B, generator=g)`` and feeds the result to the built
component, so every entry is exercised at T = 1, 2 and 5 without per-entry test code.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def video_inputs(channels: str | int = "dim", size: tuple[int, int] = (8, 8), **extra) -> Callable:
    """Inputs ``(x,)`` with ``x ~ N(0, 1)`` of shape ``(batch, cfg[channels], frames, *size)``.

    ``extra`` maps keyword names to makers ``(cfg, frames, batch, generator) -> value`` (e.g. a context).
    """

    def make(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
        c = cfg[channels] if isinstance(channels, str) else channels
        x = torch.randn(batch, c, frames, *size, generator=generator)
        kwargs = {k: fn(cfg, frames, batch, generator) for k, fn in extra.items()}
        return (x,), kwargs

    return make


def tokens_inputs(width: str | int = "dim", length: int = 6) -> Callable:
    """Inputs ``(x,)`` of token shape ``(batch, length, cfg[width])``."""

    def make(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
        c = cfg[width] if isinstance(width, str) else width
        return (torch.randn(batch, length, c, generator=generator),), {}

    return make


def bad_ndim(channels: str | int = "dim") -> Callable:
    """A 4-D ``B C H W`` image where a 5-D video is expected."""

    def make(cfg: dict):
        c = cfg[channels] if isinstance(channels, str) else channels
        return (torch.zeros(2, c, 8, 8),), {}

    return make


def bad_channels(channels: str | int = "dim") -> Callable:
    """A video with one channel too many."""

    def make(cfg: dict):
        c = cfg[channels] if isinstance(channels, str) else channels
        return (torch.zeros(2, c + 1, 2, 8, 8),), {}

    return make
