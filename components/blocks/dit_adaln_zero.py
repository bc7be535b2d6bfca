"""DiT block with adaLN-Zero conditioning (Peebles & Xie 2023), on spacetime tokens with a choice of attention."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from .. import registry
from ..attention.configure import configure_attention
from ..registry import BadInput, register
from .common import feed_forward


MODULATIONS = ("adaln_zero", "adaln_single")

def _tokens(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    grid = (frames, 4, 4)
    x = torch.randn(batch, frames * 16, cfg["dim"], generator=generator)
    c = torch.randn(batch, cfg["cond_dim"], generator=generator)
    return (x, c), {"grid": grid}


def _bad(x_shape, c_width_delta=0, grid=(2, 4, 4)):
    def make(cfg: dict):
        return (torch.zeros(*x_shape(cfg)), torch.zeros(2, cfg["cond_dim"] + c_width_delta)), {"grid": grid}

    return make


@register(
    "block", "dit_adaln_zero", paper="Peebles & Xie 2023 (DiT); Brooks et al. 2024 (Sora)",
    tiny=dict(dim=16, num_heads=2, cond_dim=12, attention="spacetime"), inputs=_tokens,
    properties=("identity_at_init",),
    bad_inputs=[
        BadInput(match="x must be .*tokens", inputs=_bad(lambda cfg: (2, cfg["dim"], 2, 4, 4))),
        BadInput(match="grid", inputs=_bad(lambda cfg: (2, 31, cfg["dim"]))),
        BadInput(match="dim", inputs=_bad(lambda cfg: (2, 32, cfg["dim"] + 1))),
        BadInput(match="cond_dim", inputs=_bad(lambda cfg: (2, 32, cfg["dim"]), c_width_delta=1)),
        BadInput(match="divisible by num_heads", init={"num_heads": 3}),
        BadInput(match="attention", init={"attention": "cross_dimensional"}),
        BadInput(match="modulation must be one of", init={"modulation": "adaln"}),
    ],
)
class DiTBlock(nn.Module):
    """Transformer block whose LayerNorms are modulated by a conditioning vector, with zero-initialised gates.

    Shapes: ``x`` ``(B, N, dim)`` tokens of a ``(T, H, W)`` grid in ``(t h w)`` order (N = T·H·W, the output of a
    3-D patch embed), ``c`` ``(B, cond_dim)`` (timestep + class/text pooled embedding), ``grid=(T, H, W)`` keyword
    -> ``(B, N, dim)``. The attention sees the tokens as a ``B dim T H W`` video (``b (t h w) d -> b d t h w``).

    DiT §3.2 (adaLN-Zero)::

        shift₁, scale₁, gate₁, shift₂, scale₂, gate₂ = Linear(SiLU(c))          (cond_dim -> 6·dim)
        x = x + gate₁ ⊙ Attn(LN(x) ⊙ (1 + scale₁) + shift₁)
        x = x + gate₂ ⊙ MLP(LN(x) ⊙ (1 + scale₂) + shift₂)

    LayerNorms have no affine parameters (eps 1e-6); q/k/v have biases; MLP ratio 4 with tanh-GELU.

    ``context_dim`` adds PixArt-α's text cross-attention (Chen et al. 2023, §2.3; Latte-1 T2V, docs/papers.md §5.3) between
    the two: ``x = x + CrossAttn(norm(x), context)`` (``attention/cross``, ungated; ``context`` ``(B, M, context_dim)``
    keyword). ``norm`` is the identity as in PixArt-α / Latte-1 (diffusers skips ``norm2`` there), or an affine-free
    LayerNorm with ``context_norm=True``.

    ``modulation="adaln_single"`` is PixArt-α's adaLN-single (Latte-1): the six vectors are
    ``scale_shift_table + c.view(B, 6, dim)``, with ``c`` ``(B, 6·dim)`` one projection of the timestep shared by every
    block (the net's) and ``scale_shift_table`` ``(6, dim)`` this block's only conditioning parameters
    (init N(0, 1/dim), as PixArt-α), so the block is not the identity at init.

    Init: every Linear xavier-uniform with zero bias (DiT's ``initialize_weights``), then the modulation Linear zeroed
    (weight and bias), so all gates are 0, and the cross-attention's output projection zeroed (PixArt-α), so the block
    is the identity at init (with ``modulation="adaln_zero"``).

    Args:
        dim, num_heads, head_dim: token width and heads (``num_heads · head_dim = dim``).
        cond_dim: width of ``c`` (default ``dim``; with ``adaln_single`` it is ``6·dim``).
        attention: which tokens attend to which: ``"spacetime"`` (all T·H·W, Sora-style), ``"spatial"`` (within a
            frame), ``"temporal"`` (across frames at one position; Latte's factorised blocks) or any other
            ``attention/<name>`` self-attention variant taking a ``B C T H W`` video.
        attention_kwargs: extra constructor arguments of that attention (e.g. ``{"causal": True}``).
        mlp_ratio: MLP hidden width over ``dim``.
        qk_norm: LayerNorm on queries and keys (large-model stabiliser; off in DiT).
        context_dim: width of cross-attention ``context`` tokens; None: no cross-attention.
        context_norm: LayerNorm (no affine, eps 1e-6) before the cross-attention (off in PixArt-α / Latte-1).
        modulation: ``"adaln_zero"`` (DiT: a per-block ``Linear(SiLU(c))``) or ``"adaln_single"`` (PixArt-α).
        attention_backend, frame_attention, frame_attention_kwargs: as ``block/spatial_transformer`` (the swap
            needs ``attention="spatial"``).
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *, cond_dim: int | None = None,
                 attention: str = "spacetime", attention_kwargs: dict | None = None, mlp_ratio: float = 4.0,
                 qk_norm: bool = False, context_dim: int | None = None, context_norm: bool = False,
                 modulation: str = "adaln_zero", attention_backend: str | None = None,
                 frame_attention: str | None = None, frame_attention_kwargs: dict | None = None, device=None,
                 dtype=None) -> None:
        super().__init__()
        if not registry.has_component(f"attention/{attention}") or attention in ("cross",):
            raise ValueError(
                f"DiTBlock: attention must name a self-attention variant attention/<name> "
                f"(spacetime, spatial, temporal, ...), got {attention!r}"
            )
        if modulation not in MODULATIONS:
            raise ValueError(f"DiTBlock: modulation must be one of {MODULATIONS}, got {modulation!r}")
        if modulation == "adaln_single" and cond_dim not in (None, 6 * dim):
            raise ValueError(f"DiTBlock: with modulation='adaln_single', c is the shared (B, 6·dim) projection, so "
                             f"cond_dim must be None or 6·dim = {6 * dim}, got {cond_dim}")
        factory = {"device": device, "dtype": dtype}
        self.dim, self.attention, self.modulation_kind = dim, attention, modulation
        self.cond_dim = 6 * dim if modulation == "adaln_single" else cond_dim or dim
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6, **factory)
        self.attn = registry.build(
            f"attention/{attention}", dim=dim, num_heads=num_heads, head_dim=head_dim, qkv_bias=True,
            qk_norm=qk_norm, **(attention_kwargs or {}), **factory,
        )
        self.context_dim = context_dim
        self.cross_attn = self.norm_cross = None
        if context_dim is not None:
            self.norm_cross = (nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6, **factory) if context_norm
                               else nn.Identity())
            self.cross_attn = registry.build("attention/cross", dim=dim, num_heads=num_heads, head_dim=head_dim,
                                             context_dim=context_dim, qkv_bias=True, **factory)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6, **factory)
        self.mlp = feed_forward(dim, mlp_ratio, "gelu_tanh", where="DiTBlock", **factory)
        if modulation == "adaln_zero":
            self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(self.cond_dim, 6 * dim, **factory))
        else:
            self.scale_shift_table = nn.Parameter(torch.empty(6, dim, **factory))
        self.reset_parameters()
        configure_attention(self, attention_backend=attention_backend, frame_attention=frame_attention,
                            frame_attention_kwargs=frame_attention_kwargs)

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        zeroed = [self.modulation[-1]] if self.modulation_kind == "adaln_zero" else []
        if self.cross_attn is not None:
            zeroed.append(self.cross_attn.to_out)
        for layer in zeroed:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        if self.modulation_kind == "adaln_single":
            nn.init.normal_(self.scale_shift_table, std=self.dim ** -0.5)

    def _check(self, x: Tensor, c: Tensor, grid) -> None:
        if x.ndim != 3:
            raise ValueError(f"DiTBlock: x must be (B, N, dim) tokens, got {x.ndim}-D shape {tuple(x.shape)}")
        if x.shape[-1] != self.dim:
            raise ValueError(f"DiTBlock: x must have width dim={self.dim}, got {x.shape[-1]}")
        if c.ndim != 2 or c.shape != (x.shape[0], self.cond_dim):
            raise ValueError(
                f"DiTBlock: c must have shape (B, cond_dim) = ({x.shape[0]}, {self.cond_dim}), got {tuple(c.shape)}"
            )
        if grid is None or len(grid) != 3:
            raise ValueError(f"DiTBlock: grid must be the token grid (T, H, W), got {grid!r}")
        t, h, w = grid
        if t * h * w != x.shape[1]:
            raise ValueError(f"DiTBlock: grid (T, H, W) = {tuple(grid)} gives {t * h * w} tokens, x has {x.shape[1]}")

    def _modulation(self, c: Tensor) -> tuple[Tensor, ...]:
        """The six ``(B, 1, dim)`` vectors shift₁, scale₁, gate₁, shift₂, scale₂, gate₂."""
        if self.modulation_kind == "adaln_zero":
            return self.modulation(c)[:, None].chunk(6, dim=-1)
        table = self.scale_shift_table[None] + rearrange(c, "b (six d) -> b six d", six=6)
        return table.chunk(6, dim=1)

    def forward(self, x: Tensor, c: Tensor, *, grid: tuple[int, int, int], context: Tensor | None = None) -> Tensor:
        """``context`` ``(B, M, context_dim)``: required with ``context_dim``, refused without."""
        self._check(x, c, grid)
        if (context is None) != (self.cross_attn is None):
            raise ValueError(f"DiTBlock: context (B, M, context_dim={self.context_dim}) is required with context_dim "
                             f"and refused without it; built with context_dim={self.context_dim}, got "
                             f"{None if context is None else tuple(context.shape)}")
        t, h, w = grid
        shift1, scale1, gate1, shift2, scale2, gate2 = self._modulation(c)
        y = self.norm1(x) * (1 + scale1) + shift1
        y = rearrange(y, "b (t h w) d -> b d t h w", t=t, h=h, w=w)
        y = rearrange(self.attn(y), "b d t h w -> b (t h w) d")
        x = x + gate1 * y
        if self.cross_attn is not None:
            x = x + self.cross_attn(self.norm_cross(x), context)
        return x + gate2 * self.mlp(self.norm2(x) * (1 + scale2) + shift2)

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, cond_dim={self.cond_dim}, attention={self.attention!r}, "
                f"modulation={self.modulation_kind!r}, context_dim={self.context_dim}")
