"""Pieces of ``SpaceTimeDiT``: block patterns, fixed position tables, DiT's final adaLN layer, PixArt-α's context
projection, registry metadata."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..embed import SinCosPosEmbed1d, SinCosPosEmbed2d, SinCosPosEmbed3d


# attention of block k = pattern[k % len(pattern)] (attention/<name> keys)
BLOCK_PATTERNS = {
    "full": ("spacetime",),
    "spatial": ("spatial",),
    "temporal": ("temporal",),
    "alternating": ("spatial", "temporal"),
}
POSITIONS = ("sincos_3d", "sincos_2d", "sincos_2d_1d")


def position_table(kind: str, dim: int, grid: tuple[int, int, int], *, device=None) -> Tensor:
    """``(T·H·W, dim)`` fixed sin-cos positions of a token grid, tokens in ``(t h w)`` order.

    ``sincos_3d``: ``embed/sincos_3d``; ``sincos_2d``: ``embed/sincos_2d`` of (H, W), the same for every frame
    (DiT's table at T = 1); ``sincos_2d_1d``: that plus ``embed/sincos_1d`` of the frame index.
    """
    t, h, w = grid
    if kind == "sincos_3d":
        return SinCosPosEmbed3d(dim).table((t, h, w), device=device)
    spatial = SinCosPosEmbed2d(dim).table((h, w), device=device)  # (H·W, dim)
    table = spatial[None].expand(t, -1, -1)
    if kind == "sincos_2d_1d":
        table = table + SinCosPosEmbed1d(dim).table(t, device=device)[:, None]
    return table.reshape(t * h * w, dim)


class FinalAdaLN(nn.Module):
    """DiT's final layer: ``Linear(LN(x)·(1 + scale) + shift)``, ``(shift, scale) = Linear(SiLU(c))``.

    Shapes: ``x`` ``(B, N, dim)``, ``c`` ``(B, dim)`` -> ``(B, N, out_dim)`` with ``out_dim = p_t·p_h·p_w·C_out``.
    LayerNorm without affine parameters (eps 1e-6); the modulation and output Linear start at zero (DiT).
    ``modulation="adaln_single"`` (PixArt-α, Latte-1): ``(shift, scale) = scale_shift_table + c`` with a learned
    ``(2, dim)`` table (init N(0, 1/dim)) and ``c`` the timestep embedding itself; the output Linear still starts at 0.
    """

    def __init__(self, dim: int, out_dim: int, *, modulation: str = "adaln_zero", device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6, **factory)
        self.single = modulation == "adaln_single"
        if self.single:
            self.scale_shift_table = nn.Parameter(torch.randn(2, dim, **factory) * dim ** -0.5)
        else:
            self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim, **factory))
        self.linear = nn.Linear(dim, out_dim, **factory)
        for layer in (self.linear,) if self.single else (self.modulation[-1], self.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        if self.single:
            shift, scale = (self.scale_shift_table[None] + c[:, None]).chunk(2, dim=1)
        else:
            shift, scale = self.modulation(c)[:, None].chunk(2, dim=-1)
        return self.linear(self.norm(x) * (1 + scale) + shift)


class ContextProjection(nn.Module):
    """PixArt-α's caption projection (Latte-1): ``Linear(context_dim, dim) -> GELU(tanh) -> Linear(dim, dim)``.

    Shapes: ``(B, M, context_dim)`` text-encoder tokens (T5: 4096) -> ``(B, M, dim)``. Init N(0, 0.02) weights, zero
    biases (PixArt-α's ``initialize_weights``).
    """

    def __init__(self, context_dim: int, dim: int, *, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.linear_1 = nn.Linear(context_dim, dim, **factory)
        self.linear_2 = nn.Linear(dim, dim, **factory)
        for layer in (self.linear_1, self.linear_2):
            nn.init.normal_(layer.weight, std=0.02)
            nn.init.zeros_(layer.bias)

    def forward(self, context: Tensor) -> Tensor:
        return self.linear_2(nn.functional.gelu(self.linear_1(context), approximate="tanh"))


def dit_inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    """``(x, t), cond``: ``x ~ N(0, 1)`` of the config's spatial size, integer steps ``t`` in [0, 1000)."""
    _, h, w = cfg.get("input_size", (1, 32, 32))
    x = torch.randn(batch, cfg.get("in_channels", 4), frames, h, w, generator=generator)
    t = torch.randint(0, 1000, (batch,), generator=generator)
    cond = {}
    if cfg.get("num_classes") is not None:
        cond["class_labels"] = torch.randint(0, cfg["num_classes"], (batch,), generator=generator)
    if cfg.get("added_cond_dim") is not None:
        cond["added_cond"] = torch.randn(batch, cfg["added_cond_dim"], generator=generator)
    if cfg.get("context_dim") is not None:
        cond["context"] = torch.randn(batch, 3, cfg["context_dim"], generator=generator)
    return (x, t), cond


def dit_output_shape(cfg: dict, x: Tensor, *args, **kwargs) -> tuple[int, ...]:
    b, c, t, h, w = x.shape
    out = cfg.get("out_channels") or (2 * c if cfg.get("learn_sigma", True) else c)
    return (b, out, t, h, w)
