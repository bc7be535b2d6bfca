"""Argument types shared by the command modules (``demo``, ``train``, ``sample``, ``extend``).

Each raises ``argparse.ArgumentTypeError`` naming the constraint and the value, which argparse turns into one
line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse


def _integer(text: str, ok, constraint: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {constraint}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {constraint}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer > 0."""
    return _integer(text, lambda v: v > 0, "a positive integer")


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    return _integer(text, lambda v: v >= 0, "an integer >= 0")
