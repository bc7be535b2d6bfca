"""Wan 2.1 / 2.2's diffusion transformer: ``SpaceTimeDiT`` with Wan's options (``net/wan_transformer``).

[V-code: diffusers transformer_wan.py ``WanTransformer3DModel``; Wan-Video/Wan2.1 wan/modules/model.py ``WanModel``]
Wan is PixArt-α / Latte-1's text-to-video DiT on full spacetime attention, with 3-D RoPE instead of added positions::

    tokens = PatchEmbed3d(x)                                  Conv3d, kernel = stride = patch (1, 2, 2)
    e      = MLP(sinusoid(t · time_scale))                   freq_dim 256, [cos | sin]; t (B,) or per token (B, N)
    c      = Linear(SiLU(e))  (-> 6·D, shared by all blocks)  adaLN-single (``time_proj``)
    text   = Linear-GELU(tanh)-Linear(T5 tokens)              (B, 512, 4096) -> (B, 512, D)
    image  = LN-Linear-GELU-Linear-LN(CLIP tokens)            I2V only: (B, 257, 1280) -> (B, 257, D)
    tokens = WanBlock_k(tokens, c, text, image, RoPE(grid))   block/wan × depth (block/dit_adaln_zero + WAN_BLOCK)
    out    = unpatchify(Linear(LN(tokens)·(1 + scale) + shift)),  (shift, scale) = table + e

Shapes: ``model(x, t, context=, image_context=)``, ``x`` ``(B, in_channels, T, H, W)``, ``t`` ``(B,)`` or per token
``(B, N)`` with N = (T/p_t)(H/p_h)(W/p_w) (Wan 2.2 TI2V gives the conditioning first frame's tokens t = 0),
``context`` ``(B, L, context_dim)`` text tokens, ``image_context`` ``(B, 257, image_context_dim)`` CLIP tokens (I2V
nets only) -> ``(B, out_channels, T, H, W)`` (the flow-matching velocity). Wan's timestep is ``1000·σ``: with
``time_scale=1000`` a recipe feeds ``t`` in [0, 1]. T, H, W must be divisible by the patch size (``size_multiple``).

The published sizes are ``WAN_SIZES`` (constructor keywords of this class); diffusers checkpoints convert with
``zoo.from_diffusers`` (zoo/convert/wan_transformer.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..blocks.wan import WAN_BLOCK, wan_block_options
from ..embed.rope import wan_axes_dim
from ..registry import BadInput, register
from .dit import SpaceTimeDiT
from .dit_parts import bad_net_inputs, dit_inputs, same_channels_output_shape


_T2V_1_3B = dict(hidden_dim=1536, ffn_dim=8960, num_heads=12, depth=30)
_14B = dict(hidden_dim=5120, ffn_dim=13824, num_heads=40, depth=40)
_COMMON = dict(patch_size=(1, 2, 2), context_dim=4096, frequency_dim=256)
# Published sizes, as this class's keywords. [V-code: Wan-Video/Wan2.1 wan/configs/wan_t2v_1_3B.py, wan_t2v_14B.py,
# wan_i2v_14B.py; Wan-Video/Wan2.2 wan/configs/wan_ti2v_5B.py, wan_t2v_A14B.py, wan_i2v_A14B.py (read in the
# ml-explore/mlx-examples video/Wan2.1, video/Wan2.2 copies): dim, ffn_dim, freq_dim 256, num_heads, num_layers,
# patch (1, 2, 2), qk_norm, cross_attn_norm, eps 1e-6; diffusers scripts/convert_wan_to_diffusers.py: in/out channels,
# text_dim 4096, I2V image_dim 1280 and added_kv_proj_dim = dim.] Head size is 128 in every one. Wan 2.2's A14B
# models are two experts of the 14B shape (high-noise for t ≥ boundary, low-noise below): build the size twice.
WAN_SIZES = {
    "wan2.1_t2v_1.3b": dict(**_COMMON, **_T2V_1_3B, in_channels=16, out_channels=16),
    "wan2.1_t2v_14b": dict(**_COMMON, **_14B, in_channels=16, out_channels=16),
    # 16 noisy + 4 mask + 16 first-frame latents in; CLIP ViT-H/14 tokens (257 × 1280) through the image projection
    "wan2.1_i2v_14b": dict(**_COMMON, **_14B, in_channels=36, out_channels=16, image_context_dim=1280),
    # Wan 2.2 VAE (48 latent channels, 16× spatial); per-token timesteps; no CLIP branch
    "wan2.2_ti2v_5b": dict(**_COMMON, hidden_dim=3072, ffn_dim=14336, num_heads=24, depth=30, in_channels=48,
                           out_channels=48),
    "wan2.2_t2v_a14b": dict(**_COMMON, **_14B, in_channels=16, out_channels=16),  # each expert
    "wan2.2_i2v_a14b": dict(**_COMMON, **_14B, in_channels=36, out_channels=16),  # each expert; no CLIP branch
}

TINY = dict(in_channels=4, hidden_dim=24, depth=2, num_heads=2, ffn_dim=32, context_dim=16, image_context_dim=8,
            frequency_dim=32)


def _inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    """``(x, t), cond`` on an 8 × 8 latent, integer steps ``t`` in [0, 1000) (Wan's ``time_scale=1``)."""
    return dit_inputs({**cfg, "input_size": (1, 8, 8)}, frames, batch, generator)



@register(
    "net", "wan_transformer", paper="Wan Team 2025 (Wan 2.1 / 2.2, arXiv:2503.20314)", tiny=TINY, inputs=_inputs,
    output_shape=same_channels_output_shape, tolerance={"bfloat16": 4e-2, "float16": 2e-2},
    bad_inputs=[
        BadInput(match="height=7 must be divisible by patch_size", inputs=bad_net_inputs(_inputs, (2, 4, 2, 7, 8)),
                 why="spatial size not a multiple of the patch"),
        BadInput(match="image_context must be", inputs=bad_net_inputs(_inputs, image_context=None), why="an I2V net without CLIP tokens"),
        BadInput(match="context must be tokens", inputs=bad_net_inputs(_inputs, context=torch.zeros(2, 3, 17)),
                 why="text tokens of the wrong width"),
        BadInput(match="t must be a scalar or shape", inputs=bad_net_inputs(_inputs, t=torch.zeros(2, 7)),
                 why="per-token t for the wrong token count"),
        BadInput(match="divisible by num_heads", init={"num_heads": 5}),
    ],
)
class WanTransformer(SpaceTimeDiT):
    """Wan's DiT: ``(B, C, T, H, W), t, context [, image_context] -> (B, C_out, T, H, W)`` (see the module docstring).

    Args:
        in_channels, out_channels: latent channels in / predicted (default ``in_channels``).
        patch_size: ``(p_t, p_h, p_w)`` (Wan: (1, 2, 2)).
        hidden_dim, depth, num_heads: width D, blocks, heads (Wan's head size: 128).
        ffn_dim: block FFN width.
        context_dim: text-token width (umT5-XXL: 4096).
        image_context_dim: CLIP image-token width (Wan 2.1 I2V: 1280); None: no image branch.
        image_pos_embed_len: learned positions over the image tokens (Wan FLF2V: 514).
        frequency_dim: timestep sinusoid width (256).
        time_scale: ``t`` is multiplied by it first (1: diffusers' timesteps 0…1000; 1000: t ∈ [0, 1]).
        cross_attn_norm: the affine LayerNorm before each cross-attention (all released checkpoints).
        gradient_checkpointing, attention_backend, spacetime_attention, spacetime_attention_kwargs: as
            ``net/space_time_dit`` (the last two: a sparse video attention in place of the full self-attention).
    """

    def __init__(self, in_channels: int = 16, out_channels: int | None = None, *,
                 patch_size: int | Sequence[int] = (1, 2, 2), hidden_dim: int = 1536, depth: int = 30,
                 num_heads: int = 12, ffn_dim: int = 8960, context_dim: int = 4096,
                 image_context_dim: int | None = None, image_pos_embed_len: int | None = None,
                 frequency_dim: int = 256, time_scale: float = 1.0, cross_attn_norm: bool = True,
                 gradient_checkpointing: bool = False, attention_backend: str | None = None,
                 spacetime_attention: str | None = None, spacetime_attention_kwargs: dict | None = None, device=None,
                 dtype=None) -> None:
        if hidden_dim % num_heads:  # before the RoPE split of the head size
            raise ValueError(f"WanTransformer: hidden_dim={hidden_dim} must be divisible by num_heads={num_heads}")
        super().__init__(
            in_channels, out_channels or in_channels, learn_sigma=False, patch_size=patch_size,
            hidden_dim=hidden_dim, depth=depth, num_heads=num_heads, block_pattern="full", pos_embed="rope_3d",
            rope_axes_dim=wan_axes_dim(hidden_dim // num_heads), frequency_dim=frequency_dim, time_scale=time_scale,
            qk_norm=WAN_BLOCK["qk_norm"], context_dim=context_dim, modulation=WAN_BLOCK["modulation"],
            image_context_dim=image_context_dim, image_pos_embed_len=image_pos_embed_len,
            block_kwargs=wan_block_options(ffn_dim, cross_attn_norm), upcast=WAN_BLOCK["upcast"],
            gradient_checkpointing=gradient_checkpointing, attention_backend=attention_backend,
            spacetime_attention=spacetime_attention, spacetime_attention_kwargs=spacetime_attention_kwargs,
            device=device, dtype=dtype,
        )
