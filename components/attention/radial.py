"""Radial Attention (Li et al. 2025): a static mask whose spatial window shrinks with temporal distance."""

from __future__ import annotations

import torch
from torch import Tensor

from ..registry import BadInput, register
from .block_sparse import check_divides, divisors
from .common import VIDEO_INPUTS, video_shape
from .sparse_spacetime import SPARSE_BAD_INPUTS, SparseSpacetimeAttention


def band_rule(distance: int, frame_tokens: int, block: int, decay_factor: float) -> tuple[int, bool]:
    """``(reach, kept)`` for two frames ``distance`` apart: key blocks within ``reach`` blocks of the query block's
    in-frame index are kept, and only if ``kept`` (frames thinned where the window is below one block).

    Band ``g = bit_length(d)`` (d ∈ [2^{g−1}, 2^g)), window ``w = decay · 2^{bit_length(S)} / 2^g`` tokens (S tokens
    per frame): the window halves from one band to the next; ``reach = max(1, ⌊w / block⌋)``; below one block only
    frame pairs with ``d mod ⌊block / w⌋ = 0`` are kept (the official ``get_diagonal_split_mask``)."""
    if distance == 0:
        return frame_tokens // block, True
    width = decay_factor * 2 ** frame_tokens.bit_length() / 2 ** distance.bit_length()
    kept = width >= block or distance % max(1, int(block / width)) == 0
    return max(1, int(width // block)), kept


@register(
    "attention", "radial", paper="Li et al. 2025 (Radial Attention: O(n log n) Sparse Attention with Energy Decay)",
    tiny=dict(dim=16, num_heads=2, block_size=16), inputs=VIDEO_INPUTS,
    bad_inputs=SPARSE_BAD_INPUTS + (
        BadInput(match="decay_factor must be positive", init={"decay_factor": 0.0}, why="a zero decay"),
        BadInput(match="sink_frames must be a non-negative int", init={"sink_frames": -1}, why="negative sinks"),
        BadInput(match=r"block_size=16 must divide the token grid's H·W=36; sizes that divide 36: \[1, 2, 3, 4, 6",
                 why="a block that does not divide a frame",
                 inputs=lambda cfg: ((torch.zeros(1, cfg["dim"], 2, 6, 6),), {})),
    ),
)
class RadialAttention(SparseSpacetimeAttention):
    """Radial attention: token ``(t, p)`` (frame t, raster index p) attends to token ``(t', p')`` when, with
    ``d = |t − t'|`` and blocks of ``block_size`` consecutive tokens of a frame (query block r, key block c),

        t' < sink_frames                                        (attention sink: the first frame, fully)
        or d = 0                                                 (its own frame, fully)
        or |c − r| ≤ reach(d) and kept(d)                        (``band_rule``: the window halves per band 2^g)

    so the attended area decays exponentially with temporal distance and the cost is O(N log N).
    [V-paper: Li et al. 2025 Radial Attention §4 (spatiotemporal energy decay; static mask, window shrinking per
    temporal band, frames thinned once the window is under a block)] [V-code: mit-han-lab/radial-attention
    radial_attn/attn_mask.py ``get_window_width``, ``get_diagonal_split_mask``, ``gen_log_mask_shrinked`` (key
    frame 0 kept as a sink; window ``2^{bit_length(S)}/2^g · decay``)]. The official code builds a token mask
    ``|p − p'| ≤ w`` and shrinks it to 128-token blocks by a density vote; here the same band widths are applied to
    block indices directly, so the explicit mask is block-aligned by construction (what the kernel computes either
    way). Wan's special case (``d = 1``: half a frame) is not separate: ``d = 1`` gets ``decay · 2^{bit_length(S)}/2``.

    Shapes: ``x`` ``(B, C, T, H, W)`` -> ``(B, C, T, H, W)``; blocks are runs of ``block_size`` tokens of one frame
    in ``(t h w)`` order (no reordering). ``block_size`` must divide H·W (ValueError naming what divides); None: the
    largest divisor of H·W up to 128 (the official block). A ``decay_factor`` at least ``2^{bit_length(T−1)}``
    keeps every pair: ``attention/spacetime``.

    Args:
        decay_factor: scales every band's window (official default 1; larger is denser).
        block_size: tokens per block (divides H·W) or None.
        sink_frames: leading key frames every query attends to fully (official: 1).
        path: ``"gather"``, ``"flex"`` or ``"dense"`` (``SparseSpacetimeAttention``).
        (other arguments: ``MultiHeadAttention``)
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *, decay_factor: float = 1.0,
                 block_size: int | None = None, sink_frames: int = 1, **kwargs) -> None:
        super().__init__(dim, num_heads, head_dim, **kwargs)
        where = type(self).__name__
        if not isinstance(decay_factor, int | float) or not decay_factor > 0:
            raise ValueError(f"{where}: decay_factor must be positive, got {decay_factor!r}")
        if block_size is not None and (not isinstance(block_size, int) or block_size <= 0):
            raise ValueError(f"{where}: block_size must be a positive int or None, got {block_size!r}")
        if not isinstance(sink_frames, int) or isinstance(sink_frames, bool) or sink_frames < 0:
            raise ValueError(f"{where}: sink_frames must be a non-negative int, got {sink_frames!r}")
        self.decay_factor, self.block_size, self.sink_frames = float(decay_factor), block_size, sink_frames

    def block_tokens(self, grid: tuple[int, int, int]) -> int:
        """Tokens per block for a ``(T, H, W)`` grid; ValueError if ``block_size`` does not divide H·W."""
        frame = grid[1] * grid[2]
        if self.block_size is None:
            return max(d for d in divisors(frame) if d <= 128)
        check_divides("block_size", self.block_size, "H·W", frame, where=type(self).__name__)
        return self.block_size

    def blocks(self, grid):
        return None, {}, self.block_tokens(grid)

    def radial_mask(self, grid: tuple[int, int, int], device=None) -> Tensor:
        """``(n_blocks, n_blocks)`` boolean, blocks in ``(t h w)`` order."""
        frames, frame_tokens, block = grid[0], grid[1] * grid[2], self.block_tokens(grid)
        per_frame = frame_tokens // block
        rules = [band_rule(d, frame_tokens, block, self.decay_factor) for d in range(frames)]
        reach = torch.tensor([r for r, _ in rules], device=device)
        kept = torch.tensor([k for _, k in rules], device=device)
        frame = torch.arange(frames * per_frame, device=device) // per_frame
        local = torch.arange(frames * per_frame, device=device) % per_frame
        d = (frame[:, None] - frame[None, :]).abs()
        band = kept[d] & ((local[:, None] - local[None, :]).abs() <= reach[d])
        return band | (frame[None, :] < self.sink_frames)

    def block_mask(self, q, k, grid):
        return self.radial_mask(grid, q.device)

    def density(self, x_shape) -> float:
        _, t, h, w = video_shape(x_shape)
        return float(self.radial_mask((t, h, w)).float().mean())

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", decay_factor={self.decay_factor}, block_size={self.block_size}, "
                f"sink_frames={self.sink_frames}")
