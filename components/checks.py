"""Input checks shared by every component: one place for the error messages users see.

Each raises ``ValueError`` naming the argument, the constraint and the value given; nothing is reshaped,
rounded or dropped silently.
"""

from __future__ import annotations

from torch import Tensor


def check_video(x: Tensor, name: str = "x", *, channels: int | None = None, where: str = "") -> None:
    """``x`` must be a 5-D ``B C T H W`` video (with ``channels`` channels when given)."""
    prefix = f"{where}: " if where else ""
    if x.ndim != 5:
        raise ValueError(f"{prefix}{name} must be a 5-D video B C T H W, got {x.ndim}-D shape {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{prefix}{name} must have {channels} channels (dim 1 of B C T H W), got {x.shape[1]}")


def check_divisible(name: str, value: int, by: int, by_name: str, *, where: str = "") -> None:
    """``value`` (the argument ``name``) must be divisible by ``by`` (the argument ``by_name``)."""
    prefix = f"{where}: " if where else ""
    if by <= 0:
        raise ValueError(f"{prefix}{by_name} must be positive, got {by}")
    if value % by:
        raise ValueError(f"{prefix}{name}={value} must be divisible by {by_name}={by}")


def check_positive(name: str, value: int | float, *, where: str = "") -> None:
    prefix = f"{where}: " if where else ""
    if not value > 0:
        raise ValueError(f"{prefix}{name} must be positive, got {value}")
