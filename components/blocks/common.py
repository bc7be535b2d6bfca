"""Pieces shared by the transformer blocks: the feed-forward choice and the channel checks.

Not registered: a feed-forward is a timm ``Mlp`` (GELU) or ``GluMlp`` with GELU gating (GEGLU, as in Stable
Diffusion's ``FeedForward``), picked by name so a block config stays plain JSON.
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn


FEED_FORWARDS = ("geglu", "gelu", "gelu_tanh", "swiglu")


def feed_forward(dim: int, mult: float = 4.0, kind: str = "geglu", *, hidden_dim: int | None = None,
                 dropout: float = 0.0, bias: bool = True, where: str = "", device=None, dtype=None) -> nn.Module:
    """Token feed-forward ``(..., dim) -> (..., dim)`` with hidden width ``int(dim * mult)``, or ``hidden_dim`` when
    given (a published width that is no ratio of ``dim``, e.g. Wan's ``ffn_dim`` 8960 at ``dim`` 1536).

    ``geglu``: ``fc2(a * gelu(g))`` with ``[a, g] = fc1(x)`` (Shazeer 2020; SD's ``GEGLU``; fc1 is ``dim -> 2·hidden``).
    ``gelu``: ``fc2(gelu(fc1(x)))``; ``gelu_tanh``: the same with the tanh approximation (DiT).
    ``swiglu``: ``fc2(a * silu(g))`` with ``[a, g] = fc1(x)`` (Shazeer 2020; Mochi's feed-forward, no biases there).
    """
    from timm.layers import GluMlp, Mlp  # lazy: timm is slow to import (tests/test_startup.py)

    if kind not in FEED_FORWARDS:
        raise ValueError(f"{where}: ff must be one of {FEED_FORWARDS}, got {kind!r}")
    hidden = int(dim * mult) if hidden_dim is None else hidden_dim
    if hidden <= 0:
        raise ValueError(f"{where}: the feed-forward width must be positive, got ff_mult={mult}, "
                         f"hidden_dim={hidden_dim}")
    factory = {"device": device, "dtype": dtype}
    if kind in ("geglu", "swiglu"):
        act = nn.GELU if kind == "geglu" else nn.SiLU
        return GluMlp(dim, hidden_features=2 * hidden, act_layer=act, gate_last=True, drop=dropout, bias=bias,
                      **factory)
    act = partial(nn.GELU, approximate="tanh") if kind == "gelu_tanh" else nn.GELU
    return Mlp(dim, hidden_features=hidden, act_layer=act, drop=dropout, bias=bias, **factory)


def check_context(context: Tensor | None, context_dim: int | None, where: str) -> None:
    """A block with cross-attention needs ``context``; one without refuses it (shapes are checked by the attention)."""
    if context_dim is None and context is not None:
        raise ValueError(f"{where}: context given but the block was built without context_dim (no cross-attention)")
    if context_dim is not None and context is None:
        raise ValueError(f"{where}: context of shape (B, M, context_dim={context_dim}) is required")
