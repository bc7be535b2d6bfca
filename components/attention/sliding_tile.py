"""Sliding Tile Attention (STA; Zhang et al. 2025): each query tile attends to a 3-D window of key tiles."""

from __future__ import annotations

import torch
from torch import Tensor

from ..registry import BadInput, register
from .block_sparse import check_divides, warn_once
from .common import VIDEO_INPUTS, video_shape
from .sparse_spacetime import SPARSE_BAD_INPUTS, TILE_PATTERN, SparseSpacetimeAttention, tile_axes


_AXES = ("T", "H", "W")


def _triple(value, argument: str, where: str) -> tuple[int, int, int]:
    value = tuple(value) if isinstance(value, list | tuple) else value
    if not isinstance(value, tuple) or len(value) != 3 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise ValueError(f"{where}: {argument} must be three positive ints (t, h, w), got {value!r}")
    return value


def window_keep(n: int, w: int, device=None) -> Tensor:
    """``(n, n)`` boolean along one axis of ``n`` tiles: query tile i keeps key tiles ``[s, s + w)`` with
    ``s = clamp(i − ⌊w/2⌋, 0, n − w)`` — the window centred on i, its centre clamped ⌊w/2⌋ tiles from the borders
    (FastVideo's ``kernel_center = q_tile.clamp(k // 2, n − 1 − k // 2)``; so every query keeps exactly w tiles)."""
    i = torch.arange(n, device=device)
    start = (i - w // 2).clamp(0, n - w)
    return (i[None, :] >= start[:, None]) & (i[None, :] < start[:, None] + w)


@register(
    "attention", "sliding_tile", paper="Zhang et al. 2025 (Fast Video Generation with Sliding Tile Attention)",
    tiny=dict(dim=16, num_heads=2, tile=[1, 4, 4], window=[1, 1, 1]), inputs=VIDEO_INPUTS,
    bad_inputs=SPARSE_BAD_INPUTS + (
        BadInput(match="tile must be three positive ints", init={"tile": [1, 4]}, why="a tile of two sizes"),
        BadInput(match="window must be three positive ints", init={"window": [1, 0, 1]}, why="a zero window"),
        BadInput(match=r"tile\[1\]=4 must divide the token grid's H=6; sizes that divide 6: \[1, 2, 3, 6\]",
                 why="a tile that does not divide the grid",
                 inputs=lambda cfg: ((torch.zeros(1, cfg["dim"], 2, 6, 8),), {})),
    ),
)
class SlidingTileAttention(SparseSpacetimeAttention):
    """STA: the clip's tokens cut into ``tile = (t, h, w)`` tiles; query tile ``(a, b, c)`` attends to the key
    tiles of a ``window = (w_t, w_h, w_w)`` window counted in tiles, centred on it and clamped at the borders:

        keep[(a,b,c), (a',b',c')] = ∏_axes  s_x ≤ x' < s_x + w_x,   s_x = clamp(x − ⌊w_x/2⌋, 0, n_x − w_x)

    [V-paper: Zhang et al. 2025 STA §3.2 (tile-by-tile sliding window; the window slides by whole tiles, so each
    block of the attention map is fully kept or fully skipped)] [V-code: hao-ai-lab/FastVideo
    csrc/sliding_tile_attention/test/flex_sta_ref.py ``generate_sta_mask`` (kernel centre clamped to
    ``[k//2, n_tiles − 1 − k//2]``; window and tile sizes in FastVideo's mask strategies: tile (6, 8, 8))]. An odd
    window is centred exactly as FastVideo's; an even one starts ``w/2`` tiles before the query tile. Every query
    keeps ``w_t·w_h·w_w`` tiles, so the density is ``∏ w_x / n_x``. No text tokens (the DiT's self-attention
    here is over video tokens only).

    Shapes: ``x`` ``(B, C, T, H, W)`` -> ``(B, C, T, H, W)``; blocks are the tiles,
    ``"b n (nt tt nh th nw tw) d -> b n (nt nh nw tt th tw) d"``. The tile must divide T, H and W (ValueError naming
    what divides); a window wider than the grid's tiles is clamped to the grid, with one warning. A window covering
    every tile is ``attention/spacetime``.

    Args:
        tile: ``(t, h, w)`` tokens per tile.
        window: ``(w_t, w_h, w_w)`` window in tiles.
        path: ``"gather"``, ``"flex"`` or ``"dense"`` (``SparseSpacetimeAttention``).
        (other arguments: ``MultiHeadAttention``)
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *,
                 tile: tuple[int, int, int] = (6, 8, 8), window: tuple[int, int, int] = (3, 3, 3), **kwargs) -> None:
        super().__init__(dim, num_heads, head_dim, **kwargs)
        where = type(self).__name__
        self.tile, self.window = list(_triple(tile, "tile", where)), list(_triple(window, "window", where))

    def tiles(self, grid: tuple[int, int, int]) -> tuple[int, int, int]:
        """Tiles per axis of a ``(T, H, W)`` grid; ValueError if the tile does not divide it."""
        for i, (axis, n, size) in enumerate(zip(_AXES, grid, self.tile)):
            check_divides(f"tile[{i}]", size, axis, n, where=type(self).__name__)
        return tuple(n // s for n, s in zip(grid, self.tile))

    def window_in_tiles(self, grid: tuple[int, int, int]) -> tuple[int, int, int]:
        """The window clamped to the grid's tiles (one warning when it had to be)."""
        tiles = self.tiles(grid)
        clamped = tuple(min(w, n) for w, n in zip(self.window, tiles))
        if clamped != tuple(self.window):
            warn_once(f"{type(self).__name__}: window={self.window} (in tiles) is larger than the grid's "
                      f"{list(tiles)} tiles of tile={self.tile} for grid (T, H, W)={tuple(grid)}; clamped to "
                      f"{list(clamped)}")
        return clamped

    def blocks(self, grid):
        self.tiles(grid)
        return TILE_PATTERN, tile_axes(grid, self.tile), self.tile[0] * self.tile[1] * self.tile[2]

    def tile_mask(self, grid: tuple[int, int, int], device=None) -> Tensor:
        """``(n_tiles, n_tiles)`` boolean, tiles in ``(nt nh nw)`` order."""
        (nt, nh, nw), (wt, wh, ww) = self.tiles(grid), self.window_in_tiles(grid)
        kt, kh, kw = window_keep(nt, wt, device), window_keep(nh, wh, device), window_keep(nw, ww, device)
        keep = kt[:, None, None, :, None, None] & kh[None, :, None, None, :, None] & kw[None, None, :, None, None, :]
        return keep.reshape(nt * nh * nw, nt * nh * nw)

    def block_mask(self, q, k, grid):
        return self.tile_mask(grid, q.device)

    def density(self, x_shape) -> float:
        _, t, h, w = video_shape(x_shape)
        tiles, window = self.tiles((t, h, w)), self.window_in_tiles((t, h, w))
        return float(torch.tensor([wi / n for wi, n in zip(window, tiles)]).prod())

    def extra_repr(self) -> str:
        return super().extra_repr() + f", tile={self.tile}, window={self.window}"
