"""DiT block with adaLN-Zero conditioning (Peebles & Xie 2023), on spacetime tokens with a choice of attention."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.nn import functional as F

from .. import registry
from ..attention.configure import configure_attention
from ..attention.context_parallel import active_shard
from ..registry import BadInput, register
from .common import feed_forward


MODULATIONS = ("adaln_zero", "adaln_single")
NORMS = ("layer", "rms")  # the modulated norms: LayerNorm (DiT, Wan) or RMSNorm (LTX-Video), no affine, eps 1e-6
CONTEXT_NORMS = (False, True, "affine")  # none (PixArt-α), LayerNorm without / with affine parameters (Wan)


def layer_norm(norm: nn.Module, x: Tensor, upcast: bool = False) -> Tensor:
    """``norm(x)``; with ``upcast`` a LayerNorm runs in fp32 on fp32 weights and returns fp32 (diffusers'
    ``FP32LayerNorm`` before its cast back), so low-precision models normalise like their fp32 originals."""
    if not upcast or not isinstance(norm, nn.LayerNorm):
        return norm(x)
    weight = None if norm.weight is None else norm.weight.float()
    bias = None if norm.bias is None else norm.bias.float()
    return F.layer_norm(x.float(), norm.normalized_shape, weight, bias, norm.eps)


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
        BadInput(match="context_norm must be one of", init={"context_dim": 8, "context_norm": "rms"}),
        BadInput(match="added_context_dim needs context_dim", init={"added_context_dim": 8}),
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

    LayerNorms have no affine parameters (eps 1e-6); q/k/v have biases; MLP ratio 4 with tanh-GELU (or an explicit
    hidden width ``ffn_dim``).

    ``context_dim`` adds PixArt-α's text cross-attention (Chen et al. 2023, §2.3; Latte-1 T2V, docs/papers.md §5.3) between
    the two: ``x = x + CrossAttn(norm(x), context)`` (``attention/cross``, ungated; ``context`` ``(B, M, context_dim)``
    keyword). ``norm`` is the identity as in PixArt-α / Latte-1 (diffusers skips ``norm2`` there), an affine-free
    LayerNorm with ``context_norm=True``, or an affine one with ``context_norm="affine"`` (Wan). ``added_context_dim``
    gives that cross-attention a second key/value set for image tokens (Wan 2.1 I2V; ``attention/cross``):
    ``CrossAttn = W_out·(attn(q, K_ctx, V_ctx) + attn(q, K_img, V_img))``, ``added_context`` ``(B, M', D)`` keyword.

    Positions: ``rope=(cos, sin)`` fp32 tables ``(N, head_dim)`` (``embed/rope_3d``'s ``tables(grid)``, computed once
    per net forward) rotate the self-attention's queries and keys after qk-norm (RoFormer; Wan); they need
    ``attention="spacetime"``, whose tokens are the block's own ``(t h w)`` sequence.

    Per-token conditioning (Wan 2.2 TI2V, every token its own timestep): ``c`` may be ``(B, N, cond_dim)``; the six
    vectors are then ``(B, N, dim)``.

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
        ffn_dim: MLP hidden width (overrides ``mlp_ratio``; Wan publishes widths that are no ratio of ``dim``).
        qk_norm: norm on queries and keys (large-model stabiliser; off in DiT): ``True``/``"layer"`` per-head
            LayerNorm, ``"rms"`` per-head RMSNorm, ``"rms_across_heads"`` RMSNorm over all heads' width (Wan);
            ``qk_norm_eps`` its epsilon (None: the attention's default).
        context_dim: width of cross-attention ``context`` tokens; None: no cross-attention.
        context_norm: before the cross-attention: False (PixArt-α / Latte-1), True (LayerNorm, no affine, eps 1e-6)
            or ``"affine"`` (LayerNorm with weight and bias, eps 1e-6; Wan's ``norm2``).
        context_qk_norm: the cross-attention's qk-norm kind (as ``qk_norm``; Wan: ``"rms_across_heads"``).
        added_context_dim: width of image tokens given a second key/value set in the cross-attention (Wan I2V).
        modulation: ``"adaln_zero"`` (DiT: a per-block ``Linear(SiLU(c))``) or ``"adaln_single"`` (PixArt-α).
        norm: the two modulated norms: ``"layer"`` (LayerNorm, DiT / Wan) or ``"rms"`` (RMSNorm, LTX-Video); no
            affine parameters, eps 1e-6.
        upcast: LayerNorms, modulation and the gated residual adds in fp32, results cast back (diffusers' Wan:
            ``FP32LayerNorm`` and ``(x.float() + y·gate).type_as(x)``); no effect on an fp32 model.
        attention_backend, frame_attention, frame_attention_kwargs: as ``block/spatial_transformer`` (the swap
            needs ``attention="spatial"``).
        spacetime_attention, spacetime_attention_kwargs: swap a full ``attention/spacetime`` for this sparse video
            attention after building, weights kept (what ``swap_spacetime_attention`` on a built model records).
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *, cond_dim: int | None = None,
                 attention: str = "spacetime", attention_kwargs: dict | None = None, mlp_ratio: float = 4.0,
                 ffn_dim: int | None = None, qk_norm: bool | str = False, qk_norm_eps: float | None = None,
                 context_dim: int | None = None, context_norm: bool | str = False,
                 context_qk_norm: bool | str = False, added_context_dim: int | None = None,
                 modulation: str = "adaln_zero", upcast: bool = False, norm: str = "layer",
                 attention_backend: str | None = None,
                 frame_attention: str | None = None, frame_attention_kwargs: dict | None = None,
                 spacetime_attention: str | None = None, spacetime_attention_kwargs: dict | None = None, device=None,
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
        if norm not in NORMS:
            raise ValueError(f"DiTBlock: norm must be one of {NORMS}, got {norm!r}")
        if context_norm not in CONTEXT_NORMS:
            raise ValueError(f"DiTBlock: context_norm must be one of {CONTEXT_NORMS}, got {context_norm!r}")
        if added_context_dim is not None and context_dim is None:
            raise ValueError(f"DiTBlock: added_context_dim needs context_dim (the image keys/values join the text "
                             f"cross-attention), got added_context_dim={added_context_dim}, context_dim=None")
        factory = {"device": device, "dtype": dtype}
        self.dim, self.attention, self.modulation_kind, self.upcast = dim, attention, modulation, upcast
        self.cond_dim = 6 * dim if modulation == "adaln_single" else cond_dim or dim
        modulated_norm = nn.LayerNorm if norm == "layer" else nn.RMSNorm
        self.norm1 = modulated_norm(dim, elementwise_affine=False, eps=1e-6, **factory)
        self.attn = registry.build(
            f"attention/{attention}", dim=dim, num_heads=num_heads, head_dim=head_dim, qkv_bias=True,
            qk_norm=qk_norm, qk_norm_eps=qk_norm_eps, **(attention_kwargs or {}), **factory,
        )
        self.context_dim, self.added_context_dim = context_dim, added_context_dim
        self.cross_attn = self.norm_cross = None
        if context_dim is not None:
            self.norm_cross = (nn.LayerNorm(dim, elementwise_affine=context_norm == "affine", eps=1e-6, **factory)
                               if context_norm else nn.Identity())
            self.cross_attn = registry.build("attention/cross", dim=dim, num_heads=num_heads, head_dim=head_dim,
                                             context_dim=context_dim, qkv_bias=True, qk_norm=context_qk_norm,
                                             qk_norm_eps=qk_norm_eps, added_context_dim=added_context_dim, **factory)
        self.norm2 = modulated_norm(dim, elementwise_affine=False, eps=1e-6, **factory)
        self.mlp = feed_forward(dim, mlp_ratio, "gelu_tanh", hidden_dim=ffn_dim, where="DiTBlock", **factory)
        if modulation == "adaln_zero":
            self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(self.cond_dim, 6 * dim, **factory))
        else:
            self.scale_shift_table = nn.Parameter(torch.empty(6, dim, **factory))
        self.reset_parameters()
        configure_attention(self, attention_backend=attention_backend, frame_attention=frame_attention,
                            frame_attention_kwargs=frame_attention_kwargs, spacetime_attention=spacetime_attention,
                            spacetime_attention_kwargs=spacetime_attention_kwargs)

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
        b, n = x.shape[:2]
        if c.shape not in ((b, self.cond_dim), (b, n, self.cond_dim)):
            raise ValueError(f"DiTBlock: c must have shape (B, cond_dim) = ({b}, {self.cond_dim}) or per token "
                             f"(B, N, cond_dim) = ({b}, {n}, {self.cond_dim}), got {tuple(c.shape)}")
        if grid is None or len(grid) != 3:
            raise ValueError(f"DiTBlock: grid must be the token grid (T, H, W), got {grid!r}")
        t, h, w = grid
        shard = active_shard()  # under context parallel x holds this rank's shard of the grid's tokens
        if x.shape[1] != (shard.local if shard is not None and shard.total == t * h * w else t * h * w):
            raise ValueError(f"DiTBlock: grid (T, H, W) = {tuple(grid)} gives {t * h * w} tokens, x has {x.shape[1]}")

    def _modulation(self, c: Tensor) -> tuple[Tensor, ...]:
        """The six ``(B, 1, dim)`` (or per-token ``(B, N, dim)``) vectors shift₁, scale₁, gate₁, shift₂, scale₂,
        gate₂; fp32 with ``upcast``."""
        c = c[:, None] if c.ndim == 2 else c  # (B, 1 | N, cond_dim)
        if self.modulation_kind == "adaln_zero":
            out = self.modulation(c)
            return (out.float() if self.upcast else out).chunk(6, dim=-1)
        table = self.scale_shift_table
        if self.upcast:
            table, c = table.float(), c.float()
        return (table + rearrange(c, "b n (six d) -> b n six d", six=6)).unbind(dim=2)

    def _add(self, x: Tensor, y: Tensor, gate: Tensor) -> Tensor:
        """The gated residual ``x + gate·y`` (in fp32 with ``upcast``, returned in ``x``'s dtype)."""
        if self.upcast:
            return (x.float() + y.float() * gate).to(x.dtype)
        return x + gate * y

    def forward(self, x: Tensor, c: Tensor, *, grid: tuple[int, int, int], context: Tensor | None = None,
                rope: tuple[Tensor, Tensor] | None = None, added_context: Tensor | None = None,
                context_mask: Tensor | None = None) -> Tensor:
        """``context`` ``(B, M, context_dim)``: required with ``context_dim``, refused without; ``added_context``
        ``(B, M', added_context_dim)`` likewise with ``added_context_dim``; ``rope`` ``(cos, sin)`` tables;
        ``context_mask`` ``(B, M)``: which text tokens are real (1 / True; None: all), for the cross-attention."""
        self._check(x, c, grid)
        if (context is None) != (self.cross_attn is None):
            raise ValueError(f"DiTBlock: context (B, M, context_dim={self.context_dim}) is required with context_dim "
                             f"and refused without it; built with context_dim={self.context_dim}, got "
                             f"{None if context is None else tuple(context.shape)}")
        if (added_context is None) != (self.added_context_dim is None):
            raise ValueError(f"DiTBlock: added_context (B, M', added_context_dim={self.added_context_dim}) is "
                             f"required with added_context_dim and refused without it; got "
                             f"{None if added_context is None else tuple(added_context.shape)}")
        if rope is not None and self.attention != "spacetime":
            raise ValueError(f"DiTBlock: rope tables rotate the (t h w) token sequence and need "
                             f"attention='spacetime', got attention={self.attention!r}")
        shift1, scale1, gate1, shift2, scale2, gate2 = self._modulation(c)
        y = (layer_norm(self.norm1, x, self.upcast) * (1 + scale1) + shift1).to(x.dtype)
        if rope is not None or (self.attention == "spacetime" and self.attn.rope is None):
            y = self.attn.attend_grid(y, grid, rope=rope)  # attention/spacetime or a sparse variant swapped in
        else:
            t, h, w = grid
            y = rearrange(y, "b (t h w) d -> b d t h w", t=t, h=h, w=w)
            y = rearrange(self.attn(y), "b d t h w -> b (t h w) d")
        x = self._add(x, y, gate1)
        if self.cross_attn is not None:
            y = layer_norm(self.norm_cross, x, self.upcast).to(x.dtype)
            x = x + self.cross_attn(y, context, context_mask=context_mask, added_context=added_context)
        y = (layer_norm(self.norm2, x, self.upcast) * (1 + scale2) + shift2).to(x.dtype)
        return self._add(x, self.mlp(y), gate2)

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, cond_dim={self.cond_dim}, attention={self.attention!r}, "
                f"modulation={self.modulation_kind!r}, context_dim={self.context_dim}, "
                f"added_context_dim={self.added_context_dim}, upcast={self.upcast}")
