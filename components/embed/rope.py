"""Rotary position embedding over a ``(T, H, W)`` token grid (Su et al. 2021, RoFormer; 3-D split as in CogVideoX,
HunyuanVideo and other video DiTs).

The head dimension is split into three slices ``(d_t, d_h, d_w)``; each slice rotates its channel pairs
``(x_{2m}, x_{2m+1})`` by the angle ``p_a · ω_m`` of its own axis coordinate ``p_a``:

    ω_m = θ^(−2m / d_a),   m = 0 … d_a/2 − 1
    (x_{2m}, x_{2m+1}) -> (x_{2m} cos φ − x_{2m+1} sin φ,  x_{2m} sin φ + x_{2m+1} cos φ),   φ = p_a · ω_m

Rotations compose, so ``⟨R(p) q, R(p') k⟩ = ⟨q, R(p' − p) k⟩``: attention scores depend on position **differences**
only, separately per axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from einops import rearrange
from torch import Tensor, nn

from ..registry import BadInput, register
from .sincos import grid_positions


def default_axes_dim(head_dim: int) -> tuple[int, int, int]:
    """``(d_t, d_h, d_w)``: ``d_h = d_w = 2·⌊3·head_dim/16⌋``, ``d_t`` the rest (CogVideoX: 128 -> 32, 48, 48)."""
    spatial = 2 * (3 * head_dim // 16)
    return (head_dim - 2 * spatial, spatial, spatial)


def rotate_pairs(x: Tensor) -> Tensor:
    """``(…, D) -> (…, D)``: each pair ``(a, b)`` becomes ``(−b, a)``."""
    pairs = rearrange(x, "... (d r) -> ... d r", r=2)
    return rearrange(torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1), "... d r -> ... (d r)")


def _rope_inputs(cfg: dict, frames: int = 2, batch: int = 2, generator=None):
    grid = (frames, 2, 3)
    n = frames * 6
    q = torch.randn(batch, 2, n, cfg["head_dim"], generator=generator)
    k = torch.randn(batch, 2, n, cfg["head_dim"], generator=generator)
    return (q, k, grid), {}


def _bad_grid(cfg: dict):
    q = torch.zeros(1, 2, 10, cfg["head_dim"])
    return (q, q, (2, 2, 3)), {}


@register(
    "embed", "rope_3d", paper="Su et al. 2021 (RoFormer); 3-D axis split as Yang et al. 2024 (CogVideoX)",
    tiny=dict(head_dim=16), inputs=_rope_inputs,
    bad_inputs=[
        BadInput(match="axes_dim", init={"axes_dim": (4, 6, 4)}, why="slices do not add up to head_dim"),
        BadInput(match="axes_dim", init={"axes_dim": (3, 7, 6)}, why="odd slice"),
        BadInput(match="T·H·W", inputs=_bad_grid, why="token count does not match the grid"),
    ],
)
class RoPE3d(nn.Module):
    """Rotate queries and keys ``(B, heads, N, head_dim)`` by their ``(t, h, w)`` grid position, N = T·H·W.

    ``forward(q, k, grid) -> (q_rot, k_rot)``, tokens in ``(t h w)`` row-major order (``embed/patch3d``'s order).
    Rotation runs in fp32 and returns the input dtype. ``frequencies(positions)`` gives ``(cos, sin)`` of shape
    ``(N, head_dim)`` for arbitrary (even fractional or shifted) positions ``(N, 3)``; ``rotate(x, cos, sin)`` applies
    them.

    Args:
        head_dim: per-head width D (even).
        axes_dim: ``(d_t, d_h, d_w)``, each even, summing to D (default ``default_axes_dim``).
        theta: base θ of the frequencies (10000).
    """

    def __init__(self, head_dim: int, axes_dim: Sequence[int] | None = None, theta: float = 10000.0, *,
                 device=None, dtype=None) -> None:  # no state: device/dtype accepted for a uniform build call
        super().__init__()
        where = type(self).__name__
        if head_dim <= 0 or head_dim % 2:
            raise ValueError(f"{where}: head_dim must be a positive even number, got {head_dim}")
        axes = default_axes_dim(head_dim) if axes_dim is None else tuple(axes_dim)
        if len(axes) != 3 or sum(axes) != head_dim or any(d <= 0 or d % 2 for d in axes):
            raise ValueError(f"{where}: axes_dim must be three positive even ints (d_t, d_h, d_w) summing to "
                             f"head_dim={head_dim}, got {axes_dim!r}")
        self.head_dim, self.axes_dim, self.theta = head_dim, axes, theta

    def frequencies(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """``positions`` ``(N, 3)`` -> ``(cos, sin)``, each ``(N, head_dim)`` fp32, pairs sharing an angle."""
        angles = []
        for axis, d in enumerate(self.axes_dim):
            omega = self.theta ** (-torch.arange(0, d, 2, dtype=torch.float64, device=positions.device) / d)
            angles.append(positions[:, axis, None].double() * omega)  # (N, d/2)
        phi = torch.repeat_interleave(torch.cat(angles, dim=-1), 2, dim=-1)  # (N, head_dim), pairs share an angle
        return phi.cos().float(), phi.sin().float()

    @staticmethod
    def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """``x`` ``(…, N, D)`` rotated by ``(cos, sin)`` ``(N, D)``, in fp32, returned in ``x``'s dtype."""
        xf = x.float()
        return (xf * cos + rotate_pairs(xf) * sin).to(x.dtype)

    def forward(self, q: Tensor, k: Tensor, grid: Sequence[int]) -> tuple[Tensor, Tensor]:
        where = type(self).__name__
        if len(grid) != 3 or not all(isinstance(s, int) and s > 0 for s in grid):
            raise ValueError(f"{where}: grid must be three positive ints (T, H, W), got {grid!r}")
        n = grid[0] * grid[1] * grid[2]
        for name, x in (("q", q), ("k", k)):
            if x.ndim != 4 or x.shape[-1] != self.head_dim or x.shape[-2] != n:
                raise ValueError(
                    f"{where}: {name} must have shape (B, heads, N, head_dim) with N = T·H·W = {n} for grid "
                    f"{tuple(grid)} and head_dim={self.head_dim}, got {tuple(x.shape)}"
                )
        cos, sin = self.frequencies(grid_positions(grid, device=q.device))
        return self.rotate(q, cos, sin), self.rotate(k, cos, sin)
