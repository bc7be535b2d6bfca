"""Video Sparse Attention (VSA; Zhang et al. 2025): coarse attention over pooled cubes picks the cubes each query
cube attends to finely; the two outputs are combined by a learned gate (trainable sparse attention)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..registry import BadInput, register
from .common import VIDEO_INPUTS, video_shape
from .sliding_tile import SlidingTileAttention
from .sparse_spacetime import SPARSE_BAD_INPUTS


@register(
    "attention", "video_sparse", paper="Zhang et al. 2025 (VSA: Faster Video Diffusion with Trainable Sparse "
    "Attention)",
    tiny=dict(dim=16, num_heads=2, tile=[1, 4, 4], sparsity=0.5), inputs=VIDEO_INPUTS,
    bad_inputs=SPARSE_BAD_INPUTS + (
        BadInput(match="sparsity must be in", init={"sparsity": 1.0}, why="every cube skipped"),
        BadInput(match="tile must be three positive ints", init={"tile": [4, 4]}, why="a cube of two sizes"),
        BadInput(match=r"tile\[2\]=4 must divide the token grid's W=6", why="a cube that does not divide the grid",
                 inputs=lambda cfg: ((torch.zeros(1, cfg["dim"], 2, 8, 6),), {})),
    ),
)
class VideoSparseAttention(SlidingTileAttention):
    """VSA: the clip cut into cubes (``tile``, default ``(4, 4, 4)`` = 64 tokens); per head,

        coarse:  Q̄, K̄, V̄ = mean over each cube of Q, K, V          S = Q̄ K̄ᵀ / √d      O_c = softmax(S) V̄
        select:  keep[i] = top-k_j S[i, j],   k = ⌈(1 − sparsity) · n_cubes⌉
        fine:    O_f = token attention of cube i's queries over the tokens of the kept cubes
        out:     O = O_f + G ⊙ O_c(broadcast to the cube's tokens),   G = to_gate_compress(x)

    [V-paper: Zhang et al. 2025 VSA §3 (hierarchical coarse-to-fine sparse attention; the coarse stage's scores
    choose the critical cubes; trainable end to end: the top-k is discrete but the coarse branch carries gradients)]
    [V-code: hao-ai-lab/FastVideo fastvideo-kernel ``video_sparse_attn`` (``out = out_c · compress_attn_weight +
    out_s``; ``topk = ⌈(1 − sparsity) · n_tiles⌉``; tile (4, 4, 4)) and its Wan model's ``to_gate_compress``]. The
    gate ``to_gate_compress`` (``Linear(dim, dim)``, the only parameters dense attention lacks) starts at zero, so a
    swap from dense attention starts as the fine branch alone and ``sparsity=0`` is then ``attention/spacetime``.
    ``last_density`` is the fine branch's fraction of pairs; ``flops`` adds the coarse stage.

    Shapes: ``x`` ``(B, C, T, H, W)`` -> ``(B, C, T, H, W)``; cubes ordered as STA's tiles. The cube must divide T, H
    and W (ValueError naming what divides).

    Args:
        tile: ``(t, h, w)`` tokens per cube.
        sparsity: fraction of cubes each query cube skips, in ``[0, 1)``.
        path: ``"gather"``, ``"flex"`` or ``"dense"`` (``SparseSpacetimeAttention``).
        (other arguments: ``MultiHeadAttention``)
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *,
                 tile: tuple[int, int, int] = (4, 4, 4), sparsity: float = 0.875, device=None, dtype=None,
                 **kwargs) -> None:
        super().__init__(dim, num_heads, head_dim, tile=tile, device=device, dtype=dtype, **kwargs)
        if not isinstance(sparsity, int | float) or not 0.0 <= sparsity < 1.0:
            raise ValueError(f"{type(self).__name__}: sparsity must be in [0, 1), got {sparsity!r}")
        self.sparsity = float(sparsity)
        self.to_gate_compress = nn.Linear(dim, dim, device=device, dtype=dtype)
        self.reset_gate()

    def reset_gate(self) -> None:
        """Zero the gate (the coarse branch contributes nothing until trained)."""
        nn.init.zeros_(self.to_gate_compress.weight)
        nn.init.zeros_(self.to_gate_compress.bias)

    def top_k(self, n_cubes: int) -> int:
        return max(1, math.ceil((1.0 - self.sparsity) * n_cubes))

    def window_in_tiles(self, grid):  # no window: the selection is the top-k
        return self.tiles(grid)

    def pooled(self, x: Tensor, block: int) -> Tensor:
        """``(B, n, N, d)`` in cube order -> the mean of each cube ``(B, n, n_cubes, d)``."""
        return x.unflatten(2, (-1, block)).mean(dim=3)

    def block_mask(self, q, k, grid):
        _, _, block = self.blocks(grid)
        scores = self.pooled(q, block) @ self.pooled(k, block).transpose(-1, -2)
        chosen = scores.topk(self.top_k(scores.shape[-1]), dim=-1).indices
        return torch.zeros_like(scores, dtype=torch.bool).scatter_(-1, chosen, True)

    def attend_grid(self, tokens, grid, *, rope=None):
        q, k, v = self.heads(tokens, rope)
        fine = self.sparse_core(q, k, v, grid)
        _, _, block = self.blocks(grid)
        q, k, v = (self.to_blocks(x, grid) for x in (q, k, v))
        coarse = self.core(*(self.pooled(x, block) for x in (q, k, v)))  # (B, n, n_cubes, d)
        coarse = self.to_blocks(coarse.repeat_interleave(block, dim=2), grid, back=True)
        gate = self.split_heads(self.to_gate_compress(tokens))
        return self.output(fine + gate * coarse)

    def density(self, x_shape) -> float:
        _, t, h, w = video_shape(x_shape)
        tiles = self.tiles((t, h, w))
        n = tiles[0] * tiles[1] * tiles[2]
        return self.top_k(n) / n

    def flops(self, x_shape, *, include_projections: bool = False) -> float:
        """Fine branch (``density`` of the dense count) + coarse attention over the cubes (+ the gate's Linear)."""
        b, t, h, w = video_shape(x_shape)
        tiles = self.tiles((t, h, w))
        n = tiles[0] * tiles[1] * tiles[2]
        extra = 2.0 * b * t * h * w * self.dim * self.dim if include_projections else 0.0
        return super().flops(x_shape, include_projections=include_projections) + self.attention_flops(b, n, n) + extra

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, sparsity={self.sparsity}".replace(f", window={self.window}", "")
