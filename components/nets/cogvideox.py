"""CogVideoX's diffusion transformer (``net/cogvideox_transformer``): expert blocks over one text + video sequence.

Yang et al. 2024 (CogVideoX, arXiv 2408.06072) §2 [V-code: diffusers cogvideox_transformer_3d.py
``CogVideoXTransformer3DModel``, embeddings.py ``CogVideoXPatchEmbed``, pipeline_cogvideox.py
``_prepare_rotary_positional_embeddings``]::

    tokens = PatchEmbed3d(x) [+ P_sincos]       patch (1, 2, 2) (1.0) or (2, 2, 2) (1.5); 2B adds fixed 3-D sin-cos
                                               positions at interpolation scales (t/1, h/1.875, w/1.875)
    ctx    = Linear(T5 tokens)                  (B, 226, 4096) -> (B, 226, D); text tokens carry no position
    c      = MLP(sinusoid(t))                   sinusoid width D, MLP D -> 512 -> 512 (``cond_dim``)
    (tokens, ctx) = CogVideoXBlock_k(tokens, ctx, c, RoPE)    block/cogvideox × depth; 5B rotates the video q/k
    out    = unpatchify(Linear(AdaLN(LN(tokens), c)))          final LN, then (shift, scale) = Linear(SiLU(c))

Positions (``pos_embed``): ``"sincos_3d"`` (CogVideoX 2B) adds ``embed/sincos_3d``'s table of the positions
``(t / s_t, h / s_s, w / s_s)`` (``sincos_scales = (s_t, s_s)``, published (1, 1.875)); ``"rope_3d"`` (5B, 1.5)
rotates each block's video queries and keys (``embed/rope_3d``, CogVideoX's head split 16/24/24 of 64). For CogVideoX
1.0 the rotary positions follow the pipeline's resize-crop rule: the token grid is fitted into ``rope_base_grid``
(the training grid, 30 × 45 for 480 × 720) keeping its aspect ratio, and positions are spread over that region
(``cogvideox_rope_positions``) — integers at the training size; ``rope_crop=False`` (1.5) uses integer positions.

Shapes: ``model(x, t, context=)``, ``x`` ``(B, in_channels, T, H, W)`` (diffusers' ``hidden_states`` is
``(B, T, C, H, W)``), ``t`` ``(B,)`` DDPM steps 0…999, ``context`` ``(B, M, context_dim)`` -> ``(B, out_channels, T, H,
W)`` (the v-prediction). T, H, W must be divisible by the patch size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .. import registry
from ..attention.configure import configure_attention
from ..attention.context_parallel import sequence_shard
from ..embed import SinCosPosEmbed3d
from ..embed.rope import RoPE3d
from ..embed.sincos import grid_positions, sincos_table
from ..registry import BadInput, register
from .conditioning import ConditioningEmbedding, check_cond_keywords, maybe_checkpoint, timesteps_for
from .dit_parts import FinalAdaLN, bad_net_inputs, dit_inputs, same_channels_output_shape, shard_video


POS_EMBEDS = ("sincos_3d", "rope_3d")

# Published sizes, as this class's keywords. [V-code: THUDM/CogVideoX-2b, CogVideoX-5b transformer/config.json, read
# through diffusers scripts/convert_cogvideox_to_diffusers.py (TRANSFORMER_CONFIG: num_layers 30 / 42,
# num_attention_heads 30 / 48, use_rotary_positional_embeddings False / True; head 64, time_embed_dim 512,
# text_embed_dim 4096, patch 2, sample 49 × 60 × 90, spatial interpolation 1.875)]
_COMMON = dict(in_channels=16, patch_size=(1, 2, 2), cond_dim=512, context_dim=4096, rope_base_grid=(30, 45))
COGVIDEOX_SIZES = {
    "cogvideox_2b": dict(_COMMON, hidden_dim=1920, num_heads=30, depth=30, pos_embed="sincos_3d"),
    "cogvideox_5b": dict(_COMMON, hidden_dim=3072, num_heads=48, depth=42, pos_embed="rope_3d"),
}

TINY = dict(in_channels=4, hidden_dim=16, num_heads=2, depth=2, cond_dim=12, context_dim=8, pos_embed="rope_3d",
            rope_base_grid=(4, 4))


def crop_region(grid_hw: tuple[int, int], base_hw: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """The ``((top, left), (bottom, right))`` region of a ``(H, W)`` grid resized into ``base_hw`` keeping its aspect
    ratio and centred [V-code: diffusers pipeline_cogvideox.py ``get_resize_crop_region_for_grid``]."""
    (h, w), (th, tw) = grid_hw, base_hw
    if h / w > th / tw:
        rh, rw = th, int(round(th / h * w))
    else:
        rh, rw = int(round(tw / w * h)), tw
    top, left = int(round((th - rh) / 2.0)), int(round((tw - rw) / 2.0))
    return (top, left), (top + rh, left + rw)


def cogvideox_rope_positions(grid: Sequence[int], base_hw: tuple[int, int] | None) -> Tensor:
    """``(T·H·W, 3)`` rotary positions of a token grid, ``(t h w)`` order: CogVideoX 1.0's ``linspace(start, stop·(n −
    1)/n, n)`` over the crop region per spatial axis (``crop_region``), frames ``0 … T − 1``; integer positions when
    ``base_hw`` is None (CogVideoX 1.5's ``grid_type="slice"``)."""
    t, h, w = grid
    if base_hw is None:
        return grid_positions(grid)
    (top, left), (bottom, right) = crop_region((h, w), base_hw)
    axes = [torch.linspace(0, t - 1, t, dtype=torch.float64),
            torch.linspace(top, bottom * (h - 1) / h, h, dtype=torch.float64),
            torch.linspace(left, right * (w - 1) / w, w, dtype=torch.float64)]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)


def _inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    return dit_inputs({**cfg, "input_size": (1, 8, 8)}, frames, batch, generator)




@register(
    "net", "cogvideox_transformer", paper="Yang et al. 2024 (CogVideoX, arXiv 2408.06072)", tiny=TINY,
    inputs=_inputs, output_shape=same_channels_output_shape, tolerance={"bfloat16": 4e-2, "float16": 2e-2},
    bad_inputs=[
        BadInput(match="height=7 must be divisible by patch_size", inputs=bad_net_inputs(_inputs, (2, 4, 2, 7, 8)),
                 why="spatial size not a multiple of the patch"),
        BadInput(match="context must be tokens", inputs=bad_net_inputs(_inputs, context=None), why="no text for a text-to-video net"),
        BadInput(match="context must be tokens", inputs=bad_net_inputs(_inputs, context=torch.zeros(2, 3, 9)),
                 why="text tokens of the wrong width"),
        BadInput(match="pos_embed must be one of", init={"pos_embed": "learned"}),
        BadInput(match="divisible by num_heads", init={"num_heads": 3}),
    ],
)
class CogVideoXTransformer(nn.Module):
    """CogVideoX's DiT: ``(B, C, T, H, W), t, context -> (B, C_out, T, H, W)`` (see the module docstring).

    Args:
        in_channels, out_channels: latent channels in / predicted (default ``in_channels``).
        patch_size: ``(p_t, p_h, p_w)`` (1.0: (1, 2, 2); 1.5: (2, 2, 2)).
        hidden_dim, depth, num_heads: width D, blocks, heads (CogVideoX's head size 64).
        cond_dim: time-embedding width (``time_embed_dim`` 512); frequency_dim: its sinusoid width (default D).
        context_dim: text-token width (T5-XXL: 4096).
        pos_embed: ``"sincos_3d"`` (2B) or ``"rope_3d"`` (5B, 1.5); sincos_scales: ``(s_t, s_s)`` interpolation
            scales of the sin-cos positions; rope_base_grid: the ``(H, W)`` token grid of the resize-crop rule
            (None: integer positions, 1.5); rope_theta: θ (10000).
        ffn_dim: block MLP width (default 4·D); norm_eps: the LayerNorms' epsilon (1e-5).
        time_scale: ``t`` is multiplied by it first (1: DDPM steps).
        gradient_checkpointing, attention_backend: as ``net/space_time_dit``.
    """

    # the context-parallel mesh its video tokens are sharded over (``set_context_parallel``; None: one device); the
    # text stream stays whole on every rank
    context_parallel = None

    def __init__(self, in_channels: int = 16, out_channels: int | None = None, *,
                 patch_size: int | Sequence[int] = (1, 2, 2), hidden_dim: int = 1920, depth: int = 30,
                 num_heads: int = 30, cond_dim: int = 512, frequency_dim: int | None = None, context_dim: int = 4096,
                 pos_embed: str = "sincos_3d", sincos_scales: tuple[float, float] = (1.0, 1.875),
                 rope_base_grid: tuple[int, int] | None = (30, 45), rope_theta: float = 10000.0,
                 ffn_dim: int | None = None, norm_eps: float = 1e-5, time_scale: float = 1.0,
                 gradient_checkpointing: bool = False, attention_backend: str | None = None, device=None,
                 dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        if pos_embed not in POS_EMBEDS:
            raise ValueError(f"{where}: pos_embed must be one of {POS_EMBEDS}, got {pos_embed!r}")
        if hidden_dim % num_heads:
            raise ValueError(f"{where}: hidden_dim={hidden_dim} must be divisible by num_heads={num_heads}")
        factory = {"device": device, "dtype": dtype}
        self.in_channels, self.out_channels = in_channels, out_channels or in_channels
        self.hidden_dim, self.pos_embed_kind, self.sincos_scales = hidden_dim, pos_embed, tuple(sincos_scales)
        self.rope_base_grid = None if rope_base_grid is None else tuple(rope_base_grid)
        self.gradient_checkpointing = gradient_checkpointing
        self.supported_cond = ("context",)
        self.patch = registry.build("embed/patch3d", in_channels=in_channels, dim=hidden_dim, patch_size=patch_size,
                                    **factory)
        self.patch_size = self.patch.patch_size
        self.size_multiple = tuple(self.patch_size)
        self.rope = RoPE3d(hidden_dim // num_heads, theta=rope_theta) if pos_embed == "rope_3d" else None
        self._positions: tuple | None = None  # the last grid's table (sin-cos or rope), shared by the blocks
        self.context_proj = nn.Linear(context_dim, hidden_dim, **factory)
        self.embed = ConditioningEmbedding(cond_dim, freq_dim=frequency_dim or hidden_dim, flavour="dit",
                                           time_scale=time_scale, **factory)
        self.blocks = nn.ModuleList(
            registry.build("block/cogvideox", dim=hidden_dim, num_heads=num_heads, cond_dim=cond_dim, ffn_dim=ffn_dim,
                           norm_eps=norm_eps, **factory)
            for _ in range(depth))
        self.norm_final = nn.LayerNorm(hidden_dim, eps=norm_eps, **factory)
        out_dim = self.out_channels * self.patch_size[0] * self.patch_size[1] * self.patch_size[2]
        self.final = FinalAdaLN(hidden_dim, out_dim, cond_dim=cond_dim, affine=True, eps=norm_eps, **factory)
        configure_attention(self, attention_backend=attention_backend)

    def set_gradient_checkpointing(self, enabled: bool = True) -> CogVideoXTransformer:
        self.gradient_checkpointing = enabled
        return self

    def positions(self, grid: tuple[int, int, int], device) -> Tensor | tuple[Tensor, Tensor]:
        """The sin-cos table ``(N, D)`` fp32, or the rotary ``(cos, sin)`` tables ``(N, head_dim)``, of a token grid
        (kept for the last grid: every sampling step reuses it)."""
        key = (tuple(grid), torch.device(device))
        if self._positions is not None and self._positions[0] == key:
            return self._positions[1]
        if self.rope is None:
            scale_t, scale_s = self.sincos_scales
            pos = grid_positions(grid) / torch.tensor([scale_t, scale_s, scale_s], dtype=torch.float64)
            table = SinCosPosEmbed3d(self.hidden_dim)
            out = sincos_table(table.axis_order(pos), table.axis_dims()).to(device)
        else:
            cos, sin = self.rope.frequencies(cogvideox_rope_positions(grid, self.rope_base_grid))
            out = (cos.to(device), sin.to(device))
        self._positions = (key, out)
        return out

    def forward(self, x: Tensor, t, **cond) -> Tensor:
        where = type(self).__name__
        check_cond_keywords(cond, self.supported_cond, where)
        context = cond.get("context")
        width = self.context_proj.in_features
        if context is None or context.ndim != 3 or context.shape[0] != x.shape[0] or context.shape[-1] != width:
            got = None if context is None else tuple(context.shape)
            raise ValueError(f"{where}: context must be tokens of shape (B, M, context_dim) = ({x.shape[0]}, M, "
                             f"{width}) (CogVideoX is text-conditioned), got {got}")
        tokens = self.patch(x).contiguous()
        grid = self.patch.grid_size(x.shape)
        positions = self.positions(grid, x.device)
        rope = positions if self.rope is not None else None
        if rope is None:
            tokens = tokens + positions.to(tokens.dtype)
        c = self.embed(timesteps_for(t, x, where)).to(tokens.dtype)  # (B, cond_dim)
        ctx = self.context_proj(context.to(tokens.dtype))
        with sequence_shard(self.context_parallel, tokens.shape[1]) as shard:  # video sharded, text whole
            tokens, rope = shard_video(shard, tokens, rope)
            for block in self.blocks:
                tokens, ctx = maybe_checkpoint(self.gradient_checkpointing and self.training, _run_block, block,
                                               tokens, c, ctx, rope)
            out = self.final(self.norm_final(tokens), c)
            out = out if shard is None else shard.gather(out)
        return self.patch.unpatchify(out, grid, self.out_channels)


def _run_block(block: nn.Module, tokens: Tensor, c: Tensor, context: Tensor, rope) -> tuple[Tensor, Tensor]:
    return block(tokens, c, context=context, rope=rope)
