"""Wan 2.1 / 2.2's transformer block: the PixArt-α / Latte-1 DiT block (``block/dit_adaln_zero``) with Wan's options.

[V-code: diffusers transformer_wan.py ``WanTransformerBlock``; Wan-Video/Wan2.1 wan/modules/model.py
``WanAttentionBlock``] Wan's block is adaLN-single (one shared ``time_proj(SiLU(t_emb))`` -> 6·D per net, plus a
learned ``(6, D)`` table per block) around three sub-layers::

    x = x + gate₁ ⊙ SelfAttn(LN(x)·(1 + scale₁) + shift₁)        RoPE-3D on q, k; RMSNorm on q, k across heads
    x = x + CrossAttn(LN_affine(x), text [, image])             ungated; image: Wan 2.1 I2V's second k/v set
    x = x + gate₂ ⊙ FFN(LN(x)·(1 + scale₂) + shift₂)            tanh-GELU, hidden width ffn_dim

with every LayerNorm eps 1e-6 and the norms, modulation and gated adds in fp32 (diffusers' ``FP32LayerNorm``), so a
bf16 model normalises like the fp32 one. Nothing here is new mechanism: ``WAN_BLOCK`` and ``wan_block_options`` are
the options of ``DiTBlock`` that give Wan's block, shared by this registry entry and ``net/wan_transformer``'s blocks.
"""

from __future__ import annotations

import torch

from ..embed.rope import RoPE3d, wan_axes_dim
from ..registry import BadInput, register
from .dit_adaln_zero import DiTBlock


# DiTBlock options of Wan's block (diffusers WanTransformerBlock: qk_norm "rms_norm_across_heads", eps 1e-6,
# cross_attn_norm=True -> an affine FP32LayerNorm; the cross-attention has its own RMSNorm on q and k). WAN_BLOCK are
# the ones a DiT assembler sets for all its blocks itself (net/space_time_dit's keywords of the same names);
# wan_block_options the rest, its block_kwargs.
WAN_BLOCK = dict(attention="spacetime", modulation="adaln_single", qk_norm="rms_across_heads", upcast=True)


def wan_block_options(ffn_dim: int, cross_attn_norm: bool = True) -> dict:
    """The other ``DiTBlock`` keywords of a Wan block with FFN width ``ffn_dim`` (``cross_attn_norm``: Wan's affine
    ``norm2`` before the cross-attention)."""
    return dict(ffn_dim=ffn_dim, qk_norm_eps=1e-6, context_qk_norm="rms_across_heads",
                context_norm="affine" if cross_attn_norm else False)


def _inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    """Tokens of a ``(frames, 2, 3)`` grid, the shared ``(B, 6·dim)`` projection, text (and image) tokens, RoPE."""
    dim, grid = cfg["dim"], (frames, 2, 3)
    x = torch.randn(batch, frames * 6, dim, generator=generator)
    c = torch.randn(batch, 6 * dim, generator=generator)
    kwargs = {"grid": grid, "context": torch.randn(batch, 5, cfg["context_dim"], generator=generator),
              "rope": RoPE3d(dim // cfg["num_heads"], wan_axes_dim(dim // cfg["num_heads"])).tables(grid)}
    if cfg.get("added_context_dim") is not None:
        kwargs["added_context"] = torch.randn(batch, 4, cfg["added_context_dim"], generator=generator)
    return (x, c), kwargs


def _bad(change):
    """Valid inputs with ``change(cfg)``'s keywords replaced."""
    def make(cfg: dict):
        args, kwargs = _inputs(cfg)
        return args, {**kwargs, **change(cfg)}

    return make


@register(
    "block", "wan", paper="Wan Team 2025 (Wan 2.1 / 2.2); Chen et al. 2023 (PixArt-α) adaLN-single",
    tiny=dict(dim=24, num_heads=2, ffn_dim=32, context_dim=16, added_context_dim=24), inputs=_inputs,
    bad_inputs=[
        BadInput(match="context_dim", why="text tokens of the wrong width",
                 inputs=_bad(lambda cfg: {"context": torch.zeros(2, 5, cfg["context_dim"] + 1)})),
        BadInput(match="added_context", why="an I2V block called without image tokens",
                 inputs=_bad(lambda cfg: {"added_context": None})),
        BadInput(match="c must have shape", why="per-token c for the wrong token count",
                 inputs=lambda cfg: ((_inputs(cfg)[0][0], torch.zeros(2, 5, 6 * cfg["dim"])), _inputs(cfg)[1])),
        BadInput(match="divisible by num_heads", init={"num_heads": 5}),
    ],
)
class WanBlock(DiTBlock):
    """``DiTBlock`` with Wan's options (``WAN_BLOCK``, ``wan_block_options``): ``x`` ``(B, N, dim)``, ``c`` ``(B, 6·dim)`` or per-token
    ``(B, N, 6·dim)`` (the net's shared ``time_proj``), ``grid=(T, H, W)``, ``context`` ``(B, M, context_dim)``,
    ``rope=(cos, sin)`` ``(N, head_dim)`` fp32 tables (``embed/rope_3d`` with ``wan_axes_dim``), ``added_context``
    ``(B, M', added_context_dim)`` (I2V) -> ``(B, N, dim)``.

    Args:
        dim, num_heads, head_dim: width and heads (Wan: head_dim 128).
        ffn_dim: FFN hidden width (Wan 2.1 1.3B: 8960 at dim 1536).
        context_dim: text width at the block (Wan projects T5's 4096 to ``dim`` first, so ``dim``).
        added_context_dim: image-token width at the block (Wan 2.1 I2V: ``dim``); None: text only.
        cross_attn_norm: Wan's affine LayerNorm before the cross-attention (all released checkpoints: True).
        attention_backend: as every block holding attention.
    """

    def __init__(self, dim: int, num_heads: int = 12, head_dim: int | None = None, *, ffn_dim: int,
                 context_dim: int, added_context_dim: int | None = None, cross_attn_norm: bool = True,
                 attention_backend: str | None = None, device=None, dtype=None) -> None:
        super().__init__(dim, num_heads, head_dim, context_dim=context_dim, added_context_dim=added_context_dim,
                         attention_backend=attention_backend, device=device, dtype=dtype,
                         **WAN_BLOCK, **wan_block_options(ffn_dim, cross_attn_norm))
