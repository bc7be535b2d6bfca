"""The shared frame of the sparse video attentions: spacetime attention whose keys are cut down by a block mask.

A sparse variant is ``attention/spacetime`` (same projections ``to_q/to_k/to_v/to_out``, qk-norm, ``position="rope"``
rotating each token by its own ``(t, h, w)`` before any reordering, so weights and positions are those of the dense
model) with two decisions of its own:

* ``blocks(grid)``: an einops pattern putting each block's tokens next to each other (``(t h w)`` order -> block
  order) and the block size;
* ``block_mask(q, k, grid)``: which key blocks each query block attends to, ``(B|1, heads|1, nQ, nK)`` boolean, static
  (sliding tile, radial) or computed from q and k (Sparse VideoGen, VSA).

``components/attention/block_sparse.py`` then runs the masked attention (``path``: ``"gather"``, ``"flex"`` or
``"dense"``). ``last_density`` is the fraction of query–key pairs the last forward computed (measured);
``density(x_shape)`` the one the variant expects for a clip of that shape; ``flops(x_shape)`` the forward FLOPs of
the kept pairs (plus any selection work).
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor

from ..registry import BadInput
from .block_sparse import PATHS, block_sparse_attention, density
from .common import BAD_INPUTS, video_shape
from .spacetime import SpacetimeAttention


# the (t h w) tokens of a clip cut into (tt, th, tw) tiles, each tile's tokens contiguous (STA, VSA)
TILE_PATTERN = "b n (nt tt nh th nw tw) d -> b n (nt nh nw tt th tw) d"
UNTILE_PATTERN = "b n (nt nh nw tt th tw) d -> b n (nt tt nh th nw tw) d"

SPARSE_BAD_INPUTS = BAD_INPUTS + (
    BadInput(match="path must be one of", init={"path": "triton"}, why="an unknown block-sparse path"),
)


def tile_axes(grid: tuple[int, int, int], tile: tuple[int, int, int]) -> dict:
    """The einops axes of ``TILE_PATTERN`` for a ``grid`` cut into ``tile``s (the tile must divide the grid)."""
    (t, h, w), (tt, th, tw) = grid, tile
    return dict(nt=t // tt, nh=h // th, nw=w // tw, tt=tt, th=th, tw=tw)


class SparseSpacetimeAttention(SpacetimeAttention):
    """Spacetime self-attention restricted by a block mask (subclasses define the blocks and the mask).

    Shapes: ``x`` ``(B, C, T, H, W)`` -> ``(B, C, T, H, W)``; tokens ``(B, T·H·W, C)`` in ``(t h w)`` order; heads
    ``(B, num_heads, T·H·W, head_dim)`` reordered to block order for the core.

    Args:
        path: how the block-sparse attention runs: ``"gather"`` (kept key blocks gathered, the core ``attend`` on
            the short sequences; default), ``"flex"`` (flex attention with a ``BlockMask``; fused under
            ``torch.compile``) or ``"dense"`` (the token mask through ``attend``: the reference). Same output.
        (other arguments: ``MultiHeadAttention``)
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *, path: str = "gather",
                 **kwargs) -> None:
        super().__init__(dim, num_heads, head_dim, **kwargs)
        if path not in PATHS:
            raise ValueError(f"{type(self).__name__}: path must be one of {PATHS}, got {path!r}")
        self.path = path
        self.last_density: float | None = None

    # -- what a variant defines ---------------------------------------------------------------------------------
    def blocks(self, grid: tuple[int, int, int]) -> tuple[str | None, dict, int]:
        """``(pattern, axes, block)``: the einops pattern from ``(t h w)`` head order to block order (``None``: already
        in block order), its axes and the tokens per block. ValueError if the grid cannot be cut so."""
        raise NotImplementedError

    def block_mask(self, q: Tensor, k: Tensor, grid: tuple[int, int, int]) -> Tensor:
        """Boolean ``(B|1, heads|1, nQ, nK)``: query block i attends to key block j (``q``, ``k`` in block order)."""
        raise NotImplementedError

    def density(self, x_shape: tuple[int, ...]) -> float:
        """Fraction of query–key pairs computed for a clip of shape ``x_shape`` (``B C T H W``)."""
        raise NotImplementedError

    # -- the shared frame ---------------------------------------------------------------------------------------
    def heads(self, tokens: Tensor, rope: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor, Tensor]:
        """q, k, v ``(B, num_heads, N, head_dim)`` of ``(t h w)`` tokens, qk-normed and rotated by their positions."""
        k, v = self.project_kv(tokens)
        return self.apply_rope(self.project_q(tokens), rope), self.apply_rope(k, rope), v

    def to_blocks(self, x: Tensor, grid: tuple[int, int, int], *, back: bool = False) -> Tensor:
        """Heads ``(B, n, N, d)`` from ``(t h w)`` order to block order (``back``: the inverse)."""
        pattern, axes, _ = self.blocks(grid)
        if pattern is None:
            return x
        if back:
            src, dst = pattern.split(" -> ")
            pattern = f"{dst} -> {src}"
        return rearrange(x, pattern, **axes)

    def sparse_core(self, q: Tensor, k: Tensor, v: Tensor, grid: tuple[int, int, int]) -> Tensor:
        """Block-sparse attention of ``(t h w)``-ordered heads ``(B, num_heads, N, head_dim)``; records
        ``last_density``."""
        _, _, block = self.blocks(grid)
        q, k, v = (self.to_blocks(x, grid) for x in (q, k, v))
        keep = self.block_mask(q, k, grid)
        self.last_density = density(keep)
        out = block_sparse_attention(self.core, q, k, v, keep, block, self.path)
        return self.to_blocks(out, grid, back=True)

    def attend_grid(self, tokens: Tensor, grid: tuple[int, int, int], *,
                    rope: tuple[Tensor, Tensor] | None = None) -> Tensor:
        return self.output(self.sparse_core(*self.heads(tokens, rope), grid))

    def flops(self, x_shape: tuple[int, ...], *, include_projections: bool = False) -> float:
        """Forward FLOPs: the dense count × ``density(x_shape)`` (plus any selection work a variant adds)."""
        return super().flops(x_shape, include_projections=include_projections) - (1 - self.density(x_shape)) * (
            self.attention_flops(*_dense(x_shape)))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", path={self.path!r}"


def _dense(x_shape) -> tuple[int, int, int]:
    b, t, h, w = video_shape(x_shape)
    return b, t * h * w, t * h * w
