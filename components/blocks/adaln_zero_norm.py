"""adaLN-Zero modulation of one token stream: a non-affine LayerNorm scaled and shifted by the conditioning vector.

Peebles & Xie 2023 (DiT §3.2 adaLN-Zero), in the form the MM-DiT video models give each stream its own copy
(HunyuanVideo's ``norm1`` / ``norm1_context`` / ``norm``) [V-code: diffusers normalization.py ``AdaLayerNormZero``,
``AdaLayerNormZeroSingle``]::

    (μ₁, s₁, g₁[, μ₂, s₂, g₂]) = Linear(SiLU(c))          chunks = 6 (attention + MLP) or 3 (one fused branch)
    x̂ = LN(x)·(1 + s₁) + μ₁                               LN without affine parameters (eps 1e-6)

The Linear starts at zero, so every gate is 0 and the residual branches it gates are off at init.
"""

from __future__ import annotations

from torch import Tensor, nn


class AdaLNZeroNorm(nn.Module):
    """``(x (B, N, dim), c (B, cond_dim)) -> (x̂ (B, N, dim), *rest)``, ``rest`` the other ``chunks − 2`` vectors
    ``(B, 1, dim)`` in diffusers' order (gate₁[, μ₂, s₂, g₂]).

    Args:
        dim: token width; cond_dim: width of ``c`` (default ``dim``); chunks: 6 or 3 modulation vectors; eps: the
            LayerNorm's epsilon.
    """

    def __init__(self, dim: int, cond_dim: int | None = None, *, chunks: int = 6, eps: float = 1e-6, device=None,
                 dtype=None) -> None:
        super().__init__()
        if chunks not in (3, 6):
            raise ValueError(f"AdaLNZeroNorm: chunks must be 3 or 6, got {chunks}")
        factory = {"device": device, "dtype": dtype}
        self.chunks = chunks
        self.linear = nn.Linear(cond_dim or dim, chunks * dim, **factory)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=eps, **factory)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: Tensor, c: Tensor) -> tuple[Tensor, ...]:
        shift, scale, *rest = self.linear(nn.functional.silu(c))[:, None].chunk(self.chunks, dim=-1)
        return (self.norm(x) * (1 + scale) + shift, *rest)
