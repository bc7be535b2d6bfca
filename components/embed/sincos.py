"""Fixed sin-cos position tables for 1-D, 2-D and 3-D token grids (Vaswani et al. 2017; MAE / DiT 2-D; CogVideoX 3-D).

Each axis of the grid gets its own ``sinusoidal_embedding`` (``[sin | cos]``, max period 10000, computed in fp64 as
MAE's numpy code) of a share of the width, concatenated in a fixed order:

* 1-D ``(L,)``: ``[e(i)]``.
* 2-D ``(H, W)``: ``[e_{D/2}(w) | e_{D/2}(h)]`` — the **column** index first, as MAE / DiT's
  ``get_2d_sincos_pos_embed`` (its ``meshgrid(grid_w, grid_h)``), tokens in row-major ``(h w)`` order.
* 3-D ``(T, H, W)``: ``[e_{D_t}(t) | e_{(D−D_t)/2}(w) | e_{(D−D_t)/2}(h)]`` with ``D_t = D/4`` by default, as
  diffusers' ``get_3d_sincos_pos_embed`` (CogVideoX): a 1-D temporal table beside a 2-D spatial one; tokens in
  ``(t h w)`` order (the order of ``embed/patch3d``'s tokens).

The modules hold no state: ``table(grid)`` returns the ``(N, dim)`` table for that grid (fp32 unless ``dtype`` is
given) and ``forward(tokens, grid)`` adds it to ``(B, N, dim)`` tokens. Nothing is learned or stored, so any grid
size works and nothing enters the state dict (DiT's frozen ``pos_embed`` parameter is rebuilt, not loaded).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..registry import BadInput, register
from .sinusoidal import sinusoidal_embedding


def grid_positions(sizes: Sequence[int], *, device=None) -> Tensor:
    """Integer coordinates ``(N, len(sizes))`` of a grid, row-major (last axis fastest), fp64."""
    axes = [torch.arange(s, dtype=torch.float64, device=device) for s in sizes]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(sizes))


def sincos_table(positions: Tensor, dims: Sequence[int], *, dtype: torch.dtype = torch.float32) -> Tensor:
    """``positions`` ``(N, A)`` -> ``(N, Σ dims)``: axis ``a`` embedded with ``dims[a]`` channels, concatenated."""
    parts = [sinusoidal_embedding(positions[:, a], d, compute_dtype=torch.float64) for a, d in enumerate(dims)]
    return torch.cat(parts, dim=-1).to(dtype)


def _check_grid(where: str, grid, n: int) -> tuple[int, ...]:
    sizes = (grid,) if isinstance(grid, int) and n == 1 else tuple(grid) if isinstance(grid, Sequence) else None
    if sizes is None or len(sizes) != n or not all(isinstance(s, int) and s > 0 for s in sizes):
        axes = {1: "(L,)", 2: "(H, W)", 3: "(T, H, W)"}[n]
        raise ValueError(f"{where}: grid must be {n} positive int(s) {axes}, got {grid!r}")
    return sizes


def _check_dim(where: str, dim: int, multiple: int) -> None:
    if dim <= 0 or dim % multiple:
        raise ValueError(f"{where}: dim must be a positive multiple of {multiple}, got {dim}")


class _SinCosTable(nn.Module):
    """Shared ``table`` / ``forward``; subclasses set ``axes`` and the width of each axis."""

    axes = 1

    def axis_dims(self) -> tuple[int, ...]:
        raise NotImplementedError

    def axis_order(self, positions: Tensor) -> Tensor:
        """Reorder the grid's ``(t, h, w)`` coordinate columns into the table's concatenation order."""
        return positions

    def table(self, grid: int | Sequence[int], *, device=None, dtype: torch.dtype = torch.float32) -> Tensor:
        """The ``(N, dim)`` table of ``grid`` (N = its product), fp32 unless ``dtype`` is given."""
        sizes = _check_grid(type(self).__name__, grid, self.axes)
        return sincos_table(self.axis_order(grid_positions(sizes, device=device)), self.axis_dims(), dtype=dtype)

    def forward(self, tokens: Tensor, grid: int | Sequence[int] | None = None) -> Tensor:
        """``tokens`` ``(B, N, dim)`` + the table of ``grid`` (1-D: default ``N``), in the tokens' dtype."""
        where = type(self).__name__
        if grid is None and self.axes == 1 and tokens.ndim == 3:
            grid = tokens.shape[1]
        sizes = _check_grid(where, grid, self.axes)
        if tokens.ndim != 3 or tokens.shape[1] != math.prod(sizes) or tokens.shape[2] != self.dim:
            raise ValueError(f"{where}: tokens must have shape (B, N, dim) = (B, {math.prod(sizes)}, {self.dim}) "
                             f"for grid {sizes}, got {tuple(tokens.shape)}")
        return tokens + self.table(sizes, device=tokens.device, dtype=tokens.dtype)

def _grid_inputs(n: int, spatial: tuple[int, int] = (3, 4)):
    """Tokens ``(batch, N, dim)`` and their grid: ``T`` (1-D), ``(3, 4)`` (2-D) or ``(T, 3, 4)`` (3-D)."""

    def make(cfg: dict, frames: int | None = 2, batch: int = 2, generator=None):
        t = frames or 2
        grid = {1: t, 2: spatial, 3: (t, *spatial)}[n]
        n_tokens = math.prod((grid,) if isinstance(grid, int) else grid)
        return (torch.randn(batch, n_tokens, cfg["dim"], generator=generator), grid), {}

    return make


def _bad_grid(grid):
    return lambda cfg: ((torch.zeros(1, 4, cfg["dim"]), grid), {})


@register(
    "embed", "sincos_1d", paper="Vaswani et al. 2017 §3.5; He et al. 2022 (MAE) get_1d_sincos_pos_embed",
    tiny=dict(dim=16), inputs=_grid_inputs(1),
    bad_inputs=[BadInput(match="grid must be 1 positive", inputs=_bad_grid(0)),
                BadInput(match="dim must be a positive multiple of 2", init={"dim": 15})],
)
class SinCosPosEmbed1d(_SinCosTable):
    """Fixed 1-D table: ``table(L) -> (L, dim)``, row i = ``[sin(i·ω) | cos(i·ω)]``; ``forward(tokens)`` adds it.

    ``dim`` must be even.
    """

    axes = 1

    def __init__(self, dim: int, *, device=None, dtype=None) -> None:  # no state: device/dtype unused
        super().__init__()
        _check_dim(type(self).__name__, dim, 2)
        self.dim = dim

    def axis_dims(self) -> tuple[int, ...]:
        return (self.dim,)


@register(
    "embed", "sincos_2d", paper="He et al. 2022 (MAE); Peebles & Xie 2023 (DiT) get_2d_sincos_pos_embed",
    tiny=dict(dim=16), inputs=_grid_inputs(2), frames=(1,),
    bad_inputs=[BadInput(match="grid must be 2 positive", inputs=_bad_grid((4,))),
                BadInput(match="dim must be a positive multiple of 4", init={"dim": 18})],
)
class SinCosPosEmbed2d(_SinCosTable):
    """Fixed 2-D table: ``table((H, W)) -> (H·W, dim)``, token ``h·W + w`` = ``[e(w) | e(h)]``; ``forward(tokens,
    (H, W))`` adds it. ``dim`` must be a multiple of 4.
    """

    axes = 2

    def __init__(self, dim: int, *, device=None, dtype=None) -> None:  # no state: device/dtype unused
        super().__init__()
        _check_dim(type(self).__name__, dim, 4)
        self.dim = dim

    def axis_dims(self) -> tuple[int, ...]:
        return (self.dim // 2, self.dim // 2)

    def axis_order(self, positions: Tensor) -> Tensor:
        return positions[:, [1, 0]]  # (h, w) -> (w, h): MAE / DiT put the column index first


@register(
    "embed", "sincos_3d", paper="Yang et al. 2024 (CogVideoX) / diffusers get_3d_sincos_pos_embed; Sora-style DiT",
    tiny=dict(dim=16), inputs=_grid_inputs(3),
    bad_inputs=[BadInput(match="grid must be 3 positive", inputs=_bad_grid((2, 2))),
                BadInput(match="temporal_dim", init={"temporal_dim": 6})],
)
class SinCosPosEmbed3d(_SinCosTable):
    """Fixed 3-D table: ``table((T, H, W)) -> (T·H·W, dim)``, token ``(t·H + h)·W + w`` = ``[e_{D_t}(t) | e(w) |
    e(h)]``; ``forward(tokens, (T, H, W))`` adds it.

    Args:
        dim: table width D.
        temporal_dim: width D_t of the temporal part (even; default D/4 as CogVideoX); the spatial rest D − D_t must
            be a multiple of 4.
    """

    axes = 3

    def __init__(self, dim: int, temporal_dim: int | None = None, *, device=None, dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        temporal_dim = dim // 4 if temporal_dim is None else temporal_dim
        if temporal_dim <= 0 or temporal_dim % 2 or (dim - temporal_dim) <= 0 or (dim - temporal_dim) % 4:
            raise ValueError(f"{where}: temporal_dim must be positive and even with dim − temporal_dim a positive "
                             f"multiple of 4; got dim={dim}, temporal_dim={temporal_dim}")
        self.dim, self.temporal_dim = dim, temporal_dim

    def axis_dims(self) -> tuple[int, ...]:
        spatial = (self.dim - self.temporal_dim) // 2
        return (self.temporal_dim, spatial, spatial)

    def axis_order(self, positions: Tensor) -> Tensor:
        return positions[:, [0, 2, 1]]  # (t, h, w) -> (t, w, h)
