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

import math
from collections.abc import Sequence

import torch
from einops import rearrange
from torch import Tensor, nn

from ..registry import BadInput, register
from .sincos import grid_positions


SPECTRA = ("inverse", "ltx")


def default_axes_dim(head_dim: int) -> tuple[int, int, int]:
    """``(d_t, d_h, d_w)``: ``d_h = d_w = 2·⌊3·head_dim/16⌋``, ``d_t`` the rest (CogVideoX: 128 -> 32, 48, 48)."""
    spatial = 2 * (3 * head_dim // 16)
    return (head_dim - 2 * spatial, spatial, spatial)


def wan_axes_dim(head_dim: int) -> tuple[int, int, int]:
    """Wan's split: ``d_h = d_w = 2·⌊head_dim/6⌋``, ``d_t`` the rest (128 -> 44, 42, 42)
    [V-code: diffusers transformer_wan.py ``WanRotaryPosEmbed``; Wan-Video/Wan2.1 wan/modules/model.py ``rope_params``]."""
    spatial = 2 * (head_dim // 6)
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
    ``tables(grid) -> (cos, sin)``, each ``(N, head_dim)`` fp32: gathered from per-axis tables precomputed at build
    for positions ``0 … max_positions − 1`` (non-persistent buffers, so weights never carry them), and the last grid's
    result is kept, so a network's blocks (and repeated sampling steps) share one computation. ``frequencies(positions)``
    gives the same for arbitrary (even fractional or shifted) positions ``(N, 3)``; ``rotate(x, cos, sin)`` applies
    them. Rotation runs in fp32 and returns the input dtype.

    Args:
        head_dim: per-head width D (even).
        axes_dim: ``(d_t, d_h, d_w)``, each even, summing to D (default ``default_axes_dim``; Wan: ``wan_axes_dim``).
        theta: base θ of the frequencies (10000).
        max_positions: grid positions per axis with precomputed tables (Wan: ``rope_max_seq_len`` 1024); a larger grid
            is computed on the fly from ``frequencies``.
        spectrum: the frequencies of an axis of width d: ``"inverse"`` ω_m = θ^(−2m/d) (RoFormer) or ``"ltx"``
            ω_m = (π/2)·θ^(m/(d/2 − 1)), m = 0 … d/2 − 1 (LTX-Video, whose positions are scaled to [−1, 1])
            [V-code: diffusers transformer_ltx.py ``LTXVideoRotaryPosEmbed``].
    """

    def __init__(self, head_dim: int, axes_dim: Sequence[int] | None = None, theta: float = 10000.0, *,
                 max_positions: int = 1024, spectrum: str = "inverse", device=None,
                 dtype=None) -> None:  # tables are fp32 whatever dtype
        super().__init__()
        where = type(self).__name__
        if head_dim <= 0 or head_dim % 2:
            raise ValueError(f"{where}: head_dim must be a positive even number, got {head_dim}")
        axes = default_axes_dim(head_dim) if axes_dim is None else tuple(axes_dim)
        if len(axes) != 3 or sum(axes) != head_dim or any(d <= 0 or d % 2 for d in axes):
            raise ValueError(f"{where}: axes_dim must be three positive even ints (d_t, d_h, d_w) summing to "
                             f"head_dim={head_dim}, got {axes_dim!r}")
        if spectrum not in SPECTRA:
            raise ValueError(f"{where}: spectrum must be one of {SPECTRA}, got {spectrum!r}")
        if not isinstance(max_positions, int) or max_positions <= 0:
            raise ValueError(f"{where}: max_positions must be a positive int, got {max_positions!r}")
        self.head_dim, self.axes_dim, self.theta, self.max_positions = head_dim, axes, theta, max_positions
        self.spectrum = spectrum
        # plain fp32 CPU tensors, not buffers: ``model.to(bfloat16)`` must not round them (diffusers keeps Wan's
        # ``rope`` in fp32 for the same reason), and a model built on ``meta`` still has them
        positions = torch.arange(max_positions, dtype=torch.float64)
        angles = torch.cat([positions[:, None] * self._omega(d, positions.device) for d in axes], dim=-1)
        phi = torch.repeat_interleave(angles, 2, dim=-1)  # (max_positions, head_dim): each axis's slice at p
        self.axis_cos, self.axis_sin = phi.cos().float(), phi.sin().float()
        self._last: tuple | None = None

    def _omega(self, d: int, device) -> Tensor:
        if self.spectrum == "ltx":
            return math.pi / 2 * self.theta ** torch.linspace(0, 1, d // 2, dtype=torch.float64, device=device)
        return self.theta ** (-torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)

    def frequencies(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """``positions`` ``(N, 3)`` -> ``(cos, sin)``, each ``(N, head_dim)`` fp32, pairs sharing an angle."""
        angles = [positions[:, axis, None].double() * self._omega(d, positions.device)
                  for axis, d in enumerate(self.axes_dim)]
        phi = torch.repeat_interleave(torch.cat(angles, dim=-1), 2, dim=-1)  # (N, head_dim), pairs share an angle
        return phi.cos().float(), phi.sin().float()

    def tables(self, grid: Sequence[int], device=None) -> tuple[Tensor, Tensor]:
        """``(cos, sin)``, each ``(T·H·W, head_dim)`` fp32 on ``device``, of a ``(T, H, W)`` grid in ``(t h w)``
        order."""
        grid = _check_grid(grid, type(self).__name__)
        device = torch.device("cpu") if device is None else torch.device(device)
        key = (grid, device)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        if max(grid) > self.max_positions:
            out = self.frequencies(grid_positions(grid))
        else:
            t, h, w = grid
            d_t, d_h, _ = self.axes_dim
            parts = []
            for table in (self.axis_cos, self.axis_sin):
                axis_t = table[:t, :d_t][:, None, None].expand(t, h, w, -1)
                axis_h = table[:h, d_t:d_t + d_h][None, :, None].expand(t, h, w, -1)
                axis_w = table[:w, d_t + d_h:][None, None, :].expand(t, h, w, -1)
                parts.append(torch.cat((axis_t, axis_h, axis_w), dim=-1).reshape(t * h * w, self.head_dim))
            out = (parts[0], parts[1])
        out = (out[0].to(device), out[1].to(device))
        self._last = (key, out)
        return out

    def video_tables(self, grid: Sequence[int], device=None) -> tuple[Tensor, Tensor]:
        """``tables(grid)`` laid out as one-video ``(1, head_dim, T, H, W)`` tensors, so an attention variant folds
        them with the very einops pattern it folds its tokens with (``"b c t h w -> (b t) (h w) c"`` gives each
        frame's ``(T, H·W, head_dim)`` positions)."""
        t, h, w = _check_grid(grid, type(self).__name__)
        return tuple(rearrange(table, "(t h w) d -> 1 d t h w", t=t, h=h, w=w) for table in self.tables(grid, device))

    @staticmethod
    def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """``x`` ``(…, N, D)`` rotated by ``(cos, sin)`` ``(N, D)``, in fp32, returned in ``x``'s dtype."""
        xf = x.float()
        return (xf * cos + rotate_pairs(xf) * sin).to(x.dtype)

    def forward(self, q: Tensor, k: Tensor, grid: Sequence[int]) -> tuple[Tensor, Tensor]:
        where = type(self).__name__
        grid = _check_grid(grid, where)
        n = grid[0] * grid[1] * grid[2]
        for name, x in (("q", q), ("k", k)):
            if x.ndim != 4 or x.shape[-1] != self.head_dim or x.shape[-2] != n:
                raise ValueError(
                    f"{where}: {name} must have shape (B, heads, N, head_dim) with N = T·H·W = {n} for grid "
                    f"{tuple(grid)} and head_dim={self.head_dim}, got {tuple(x.shape)}"
                )
        cos, sin = self.tables(grid, q.device)
        return self.rotate(q, cos, sin), self.rotate(k, cos, sin)

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, axes_dim={self.axes_dim}, theta={self.theta}, spectrum={self.spectrum!r}"


def _check_grid(grid, where: str) -> tuple[int, int, int]:
    if not isinstance(grid, Sequence) or len(grid) != 3 or not all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in grid):
        raise ValueError(f"{where}: grid must be three positive ints (T, H, W), got {grid!r}")
    return tuple(grid)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Heads ``x`` ``(B', heads, N, D)`` rotated by tables ``(N, D)`` or ``(S, N, D)``: with S tables, sequence ``i`` of
    the ``B'`` folded sequences takes table ``i mod S`` (the batch is the outermost factor of every fold,
    ``(b …)``, so ``B' = B·S``); or per-head tables ``(1, heads, N, D)`` (LTX-Video rotates the full width before
    the head split, so each head has its own slice of the table)."""
    if cos.ndim == 2:
        return RoPE3d.rotate(x, cos, sin)
    if cos.ndim == 4 and cos.shape[0] == 1 and cos.shape[1:] == x.shape[1:]:
        return RoPE3d.rotate(x, cos, sin)
    s = cos.shape[0]
    if cos.ndim != 3 or x.shape[0] % s or cos.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"apply_rope: tables must be (N, D) or (S, N, D) with S dividing the {x.shape[0]} sequences "
                         f"and (N, D) = {tuple(x.shape[-2:])}, got {tuple(cos.shape)}")
    folded = x.reshape(x.shape[0] // s, s, *x.shape[1:])
    return RoPE3d.rotate(folded, cos[:, None], sin[:, None]).reshape(x.shape)
