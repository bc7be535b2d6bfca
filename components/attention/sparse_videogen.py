"""Sparse VideoGen (Xi et al. 2025): per head, an online choice between a spatial and a temporal sparse pattern."""

from __future__ import annotations

import torch
from torch import Tensor

from ..registry import BadInput, register
from .backends import attend
from .block_sparse import block_sparse_attention, warn_once
from .common import VIDEO_INPUTS, video_shape
from .sparse_spacetime import SPARSE_BAD_INPUTS, SparseSpacetimeAttention


def band(n: int, radius: int, device=None) -> Tensor:
    """``(n, n)`` boolean ``|i − j| ≤ radius``."""
    i = torch.arange(n, device=device)
    return (i[:, None] - i[None, :]).abs() <= radius


@register(
    "attention", "sparse_videogen", paper="Xi et al. 2025 (Sparse VideoGen: Accelerating Video Diffusion "
    "Transformers with Spatial-Temporal Sparsity)",
    tiny=dict(dim=16, num_heads=2), inputs=VIDEO_INPUTS,
    bad_inputs=SPARSE_BAD_INPUTS + (
        BadInput(match="num_samples must be a positive int", init={"num_samples": 0}, why="no sampled queries"),
        BadInput(match="frame_window must be a non-negative int", init={"frame_window": -1}, why="negative window"),
        BadInput(match="position_window must be a non-negative int", init={"position_window": 1.5},
                 why="a fractional window"),
    ),
)
class SparseVideoGenAttention(SparseSpacetimeAttention):
    """Sparse VideoGen: each head (of each clip in the batch) attends with one of two patterns,

        spatial:   token (t, p) -> keys (t', p') with |t − t'| ≤ frame_window          (its own frame by default)
        temporal:  token (t, p) -> keys (t', p') with |p − p'| ≤ position_window       (its own position p = (h, w))

    chosen online: ``num_samples`` query tokens (evenly strided over the clip) are attended densely and under both
    masks, and the head takes the pattern whose sampled output has the smaller mean squared error against the dense
    one (``last_choice`` ``(B, num_heads)``, True = spatial). [V-paper: Xi et al. 2025 SVG §4.1 (online profiling
    by sampled query rows, MSE against full attention, per head and per step) and §4.2 (layout transformation:
    the temporal head's tokens transposed from frame-major to position-major so its pattern is block-diagonal)]
    [V-code: svg-project/Sparse-VideoGen ``sample_mse`` / ``sparsity_profiling``]. Not reproduced: the official
    keeps the first timesteps and the text tokens dense (pipeline-level and text-joint choices; here the tokens are
    video only). The spatial heads run with blocks = frames (``(t h w)`` order, H·W tokens per block), the temporal
    heads with blocks = positions after ``"b n (t p) d -> b n (p t) d"`` (T tokens per block).

    Shapes: ``x`` ``(B, C, T, H, W)`` -> ``(B, C, T, H, W)``. A window wider than the grid is clamped (one warning);
    ``frame_window ≥ T − 1`` and ``position_window ≥ H·W − 1`` together are ``attention/spacetime``.
    ``last_density`` is the measured fraction of pairs over the chosen heads (the profiling rows not counted; their
    FLOPs are in ``flops``); ``density(x_shape)`` is the larger of the two patterns' (an upper bound).

    Args:
        num_samples: query tokens sampled per call for the choice (official: about 1 % of the tokens).
        frame_window: frames on each side the spatial pattern reaches (0: its own frame).
        position_window: raster positions on each side the temporal pattern reaches (0: its own position).
        path: ``"gather"``, ``"flex"`` or ``"dense"`` (``SparseSpacetimeAttention``).
        (other arguments: ``MultiHeadAttention``)
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *, num_samples: int = 64,
                 frame_window: int = 0, position_window: int = 0, **kwargs) -> None:
        super().__init__(dim, num_heads, head_dim, **kwargs)
        where = type(self).__name__
        for name, value, low in (("num_samples", num_samples, 1), ("frame_window", frame_window, 0),
                                 ("position_window", position_window, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                kind = "a positive int" if low else "a non-negative int"
                raise ValueError(f"{where}: {name} must be {kind}, got {value!r}")
        self.num_samples, self.frame_window, self.position_window = num_samples, frame_window, position_window
        self.last_choice: Tensor | None = None

    def windows(self, grid: tuple[int, int, int]) -> tuple[int, int]:
        """``(frame_window, position_window)`` clamped to the grid (one warning when they had to be)."""
        t, h, w = grid
        clamped = min(self.frame_window, t - 1), min(self.position_window, h * w - 1)
        if clamped != (self.frame_window, self.position_window):
            warn_once(f"{type(self).__name__}: frame_window={self.frame_window}, position_window="
                      f"{self.position_window} reach past the grid (T, H, W)={tuple(grid)}; clamped to {clamped}")
        return clamped

    def blocks(self, grid):
        return None, {}, grid[1] * grid[2]

    def pattern_masks(self, grid: tuple[int, int, int], device=None) -> tuple[Tensor, Tensor]:
        """Block masks ``(T, T)`` of the spatial pattern (blocks = frames) and ``(H·W, H·W)`` of the temporal one
        (blocks = positions)."""
        fw, pw = self.windows(grid)
        return band(grid[0], fw, device), band(grid[1] * grid[2], pw, device)

    def choose(self, q: Tensor, k: Tensor, v: Tensor, grid: tuple[int, int, int]) -> Tensor:
        """``(B, num_heads)`` boolean, True where the spatial pattern's sampled output is closer to dense attention."""
        t, h, w = grid
        n, frame = t * h * w, h * w
        rows = torch.linspace(0, n - 1, min(self.num_samples, n), device=q.device).round().long().unique()
        keys = torch.arange(n, device=q.device)
        fw, pw = self.windows(grid)
        spatial = ((rows[:, None] // frame) - (keys[None] // frame)).abs() <= fw
        temporal = ((rows[:, None] % frame) - (keys[None] % frame)).abs() <= pw
        with torch.no_grad():
            qs = q[:, :, rows]
            dense, outs = attend(qs, k, v), [attend(qs, k, v, mask=m) for m in (spatial, temporal)]
            err = [(o - dense).float().pow(2).mean(dim=(-2, -1)) for o in outs]
        return err[0] <= err[1]

    def sparse_core(self, q, k, v, grid):
        t, h, w = grid
        b, heads, n, d = q.shape
        choice = self.choose(q, k, v, grid)
        self.last_choice = choice
        keep_s, keep_t = self.pattern_masks(grid, q.device)
        dens_s, dens_t = float(keep_s.float().mean()), float(keep_t.float().mean())
        self.last_density = float(torch.where(choice, dens_s, dens_t).mean())
        flat = choice.reshape(-1)
        qf, kf, vf = (x.reshape(1, b * heads, n, x.shape[-1]) for x in (q, k, v))
        out = torch.empty_like(qf)
        spatial_rows, temporal_rows = flat.nonzero().squeeze(1), (~flat).nonzero().squeeze(1)
        if spatial_rows.numel():
            part = [x[:, spatial_rows] for x in (qf, kf, vf)]
            out = out.index_copy(1, spatial_rows, block_sparse_attention(self.core, *part, keep_s, h * w, self.path))
        if temporal_rows.numel():
            part = [x[:, temporal_rows].unflatten(2, (t, h * w)).transpose(2, 3).flatten(2, 3)  # (t p) -> (p t)
                    for x in (qf, kf, vf)]
            res = block_sparse_attention(self.core, *part, keep_t, t, self.path)
            out = out.index_copy(1, temporal_rows, res.unflatten(2, (h * w, t)).transpose(2, 3).flatten(2, 3))
        return out.view(b, heads, n, d)

    def density(self, x_shape) -> float:
        _, t, h, w = video_shape(x_shape)
        return max(float(m.float().mean()) for m in self.pattern_masks((t, h, w)))

    def flops(self, x_shape, *, include_projections: bool = False) -> float:
        """The chosen pattern's attention (bounded by the denser one) plus the profiling: ``num_samples`` rows
        attended three times over all keys."""
        b, t, h, w = video_shape(x_shape)
        n = t * h * w
        return super().flops(x_shape, include_projections=include_projections) + 3 * self.attention_flops(
            b, min(self.num_samples, n), n)

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", num_samples={self.num_samples}, frame_window={self.frame_window}, "
                f"position_window={self.position_window}")
