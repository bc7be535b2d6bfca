"""HunyuanVideo's diffusion transformer (``net/hunyuan_video_transformer``): dual- then single-stream MM-DiT blocks.

Kong et al. 2024 (HunyuanVideo, arXiv 2412.03603) §4.3 [V-code: diffusers transformer_hunyuan_video.py
``HunyuanVideoTransformer3DModel``]::

    tokens = PatchEmbed3d(x)                                   Conv3d, kernel = stride = patch (1, 2, 2)
    c      = MLP(sin(t)) + MLP(sin(g)) + MLP_silu(pooled)      timestep, embedded guidance g, pooled CLIP-L text (B, D)
    ctx    = TokenRefiner(text, t, mask)                       block/hunyuan_video_token_refiner: (B, M, 4096) -> D
    (tokens, ctx) = DualBlock_k(tokens, ctx, c, RoPE, mask)    block/hunyuan_video_dual × 20
    (tokens, ctx) = SingleBlock_k(tokens, ctx, c, RoPE, mask)  block/hunyuan_video_single × 40
    out    = unpatchify(Linear(LN(tokens)(1 + s) + μ)),  (s, μ) = Linear(SiLU(c))

Rotary positions rotate the video tokens' q and k in every block: ``embed/rope_3d`` with HunyuanVideo's split
``rope_axes_dim`` (16, 56, 56) of the 128-wide head and θ = 256, integer ``(t, h, w)`` positions.

Shapes: ``model(x, t, context=, added_cond=, context_mask=, guidance=)``: ``x`` ``(B, in_channels, T, H, W)``, ``t``
``(B,)`` (× ``time_scale``: 1 for diffusers' timesteps 0…1000, 1000 for flow time t ∈ [0, 1]), ``context`` ``(B, M,
context_dim)`` text tokens (diffusers' ``encoder_hidden_states``), ``added_cond`` ``(B, added_cond_dim)`` the pooled
CLIP text vector (diffusers' ``pooled_projections``), ``context_mask`` ``(B, M)`` True for real text tokens (diffusers'
``encoder_attention_mask``; default all real), ``guidance`` ``(B,)`` or a number, the embedded (distilled) guidance
scale, × ``time_scale`` like ``t`` (diffusers' ``guidance`` is 1000·w; default ``guidance_default``) -> ``(B,
out_channels, T, H, W)`` (the flow-matching velocity). T, H, W must be divisible by the patch size.

diffusers hides the text padding by counting the mask's ones (its pipeline's masks are a prefix of ones); ours hides
exactly the masked tokens: the same for prefix masks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .. import registry
from ..attention.configure import configure_attention
from ..attention.context_parallel import sequence_shard
from ..embed.rope import RoPE3d
from ..registry import BadInput, register
from .conditioning import ConditioningEmbedding, check_cond_keywords, maybe_checkpoint, timesteps_for
from .dit_parts import FinalAdaLN, bad_net_inputs, dit_inputs, same_channels_output_shape, shard_video


# Published size, as this class's keywords. [V-code: diffusers scripts/convert_hunyuan_video_to_diffusers.py builds
# ``HunyuanVideoTransformer3DModel()`` with its defaults: 24 heads × 128, 20 dual + 40 single layers, 2 refiner
# layers, mlp_ratio 4, patch (1, 2, 2), RMS qk-norm, guidance embedding, text 4096, pooled 768, θ 256, axes
# (16, 56, 56)]
HUNYUAN_VIDEO_SIZES = {
    "hunyuan_video": dict(in_channels=16, hidden_dim=3072, num_heads=24, depth_dual=20, depth_single=40,
                          refiner_depth=2, context_dim=4096, added_cond_dim=768, patch_size=(1, 2, 2),
                          rope_axes_dim=(16, 56, 56), rope_theta=256.0, guidance_embed=True),
}

TINY = dict(in_channels=4, hidden_dim=16, num_heads=2, depth_dual=1, depth_single=1, refiner_depth=1, context_dim=12,
            added_cond_dim=8, rope_axes_dim=(4, 2, 2), guidance_default=6.0)


def _inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    (x, t), cond = dit_inputs({**cfg, "input_size": (1, 8, 8)}, frames, batch, generator)
    cond["context_mask"] = torch.tensor([[True, True, True], [True, True, False]])[:batch]
    return (x, t), cond




@register(
    "net", "hunyuan_video_transformer", paper="Kong et al. 2024 (HunyuanVideo, arXiv 2412.03603)", tiny=TINY,
    inputs=_inputs, output_shape=same_channels_output_shape, tolerance={"bfloat16": 4e-2, "float16": 2e-2},
    bad_inputs=[
        BadInput(match="height=7 must be divisible by patch_size", inputs=bad_net_inputs(_inputs, (2, 4, 2, 7, 8)),
                 why="spatial size not a multiple of the patch"),
        BadInput(match="context must be tokens", inputs=bad_net_inputs(_inputs, context=None), why="no text for a text-to-video net"),
        BadInput(match="added_cond must have shape", inputs=bad_net_inputs(_inputs, added_cond=None), why="no pooled text vector"),
        BadInput(match="context_mask must be", inputs=bad_net_inputs(_inputs, context_mask=torch.ones(2, 4, dtype=torch.bool)),
                 why="a mask for another text length"),
        BadInput(match="guidance must be", inputs=bad_net_inputs(_inputs, guidance=torch.ones(3)), why="guidance for another batch"),
        BadInput(match="axes_dim", init={"rope_axes_dim": (4, 4, 4)}, why="rope split not summing to the head"),
    ],
)
class HunyuanVideoTransformer(nn.Module):
    """HunyuanVideo's MM-DiT: ``(B, C, T, H, W), t, context, added_cond -> (B, C_out, T, H, W)`` (module docstring).

    Args:
        in_channels, out_channels: latent channels in / predicted (default ``in_channels``).
        patch_size: ``(p_t, p_h, p_w)`` ((1, 2, 2)).
        hidden_dim, num_heads: width D and heads (3072 = 24 × 128).
        depth_dual, depth_single, refiner_depth: dual-stream, single-stream and token-refiner blocks (20, 40, 2).
        mlp_ratio: MLP width / D (4).
        context_dim: text-token width (4096); added_cond_dim: pooled text width (CLIP-L: 768).
        rope_axes_dim, rope_theta: the rotary split of the head and θ ((16, 56, 56), 256).
        guidance_embed: embed a distilled guidance scale (``guidance``) into ``c``; guidance_default: its value when
            ``guidance`` is not given (None: required).
        time_scale: ``t`` and ``guidance`` are multiplied by it first (1: diffusers' timesteps).
        gradient_checkpointing, attention_backend: as ``net/space_time_dit``.
    """

    # the context-parallel mesh its video tokens are sharded over (``set_context_parallel``; None: one device); the
    # text stream stays whole on every rank
    context_parallel = None
    # submodules that see only the text (the token refiner's self-attention): never sharded
    context_parallel_exempt = ("refiner",)

    def __init__(self, in_channels: int = 16, out_channels: int | None = None, *,
                 patch_size: int | Sequence[int] = (1, 2, 2), hidden_dim: int = 3072, num_heads: int = 24,
                 depth_dual: int = 20, depth_single: int = 40, refiner_depth: int = 2, mlp_ratio: float = 4.0,
                 context_dim: int = 4096, added_cond_dim: int = 768,
                 rope_axes_dim: Sequence[int] = (16, 56, 56), rope_theta: float = 256.0, guidance_embed: bool = True,
                 guidance_default: float | None = None, time_scale: float = 1.0,
                 gradient_checkpointing: bool = False, attention_backend: str | None = None, device=None,
                 dtype=None) -> None:
        super().__init__()
        if hidden_dim % num_heads:
            raise ValueError(f"HunyuanVideoTransformer: hidden_dim={hidden_dim} must be divisible by "
                             f"num_heads={num_heads}")
        factory = {"device": device, "dtype": dtype}
        head_dim = hidden_dim // num_heads
        self.in_channels, self.out_channels = in_channels, out_channels or in_channels
        self.hidden_dim, self.time_scale, self.guidance_default = hidden_dim, time_scale, guidance_default
        self.gradient_checkpointing = gradient_checkpointing
        self.supported_cond = ("context", "added_cond", "context_mask", "guidance")
        self.rope = RoPE3d(head_dim, rope_axes_dim, rope_theta)
        self.patch = registry.build("embed/patch3d", in_channels=in_channels, dim=hidden_dim, patch_size=patch_size,
                                    **factory)
        self.patch_size = self.patch.patch_size
        self.size_multiple = tuple(self.patch_size)
        self.refiner = registry.build("block/hunyuan_video_token_refiner", context_dim=context_dim, dim=hidden_dim,
                                      num_heads=num_heads, depth=refiner_depth, mlp_ratio=mlp_ratio,
                                      time_scale=time_scale, **factory)
        self.embed = ConditioningEmbedding(hidden_dim, freq_dim=256, flavour="dit", time_scale=time_scale,
                                           added_cond_dim=added_cond_dim, **factory)
        self.guidance_embed = (registry.build("embed/timestep", dim=hidden_dim, freq_dim=256, flavour="dit", **factory)
                               if guidance_embed else None)
        block = dict(dim=hidden_dim, num_heads=num_heads, mlp_ratio=mlp_ratio, **factory)
        self.dual_blocks = nn.ModuleList(registry.build("block/hunyuan_video_dual", **block)
                                         for _ in range(depth_dual))
        self.single_blocks = nn.ModuleList(registry.build("block/hunyuan_video_single", **block)
                                           for _ in range(depth_single))
        out_dim = self.out_channels * self.patch_size[0] * self.patch_size[1] * self.patch_size[2]
        self.final = FinalAdaLN(hidden_dim, out_dim, eps=1e-6, **factory)
        configure_attention(self, attention_backend=attention_backend)

    def set_gradient_checkpointing(self, enabled: bool = True) -> HunyuanVideoTransformer:
        self.gradient_checkpointing = enabled
        return self

    def _guidance(self, guidance, x: Tensor, where: str) -> Tensor | None:
        if self.guidance_embed is None:
            if guidance is not None:
                raise ValueError(f"{where}: guidance given but the net was built without guidance_embed")
            return None
        guidance = self.guidance_default if guidance is None else guidance
        if guidance is None:
            raise ValueError(f"{where}: guidance must be given (B,) or a number: the net embeds a distilled guidance "
                             f"scale and has no guidance_default")
        g = torch.as_tensor(guidance, device=x.device, dtype=torch.float32)
        g = g.expand(x.shape[0]) if g.ndim == 0 else g
        if g.shape != (x.shape[0],):
            raise ValueError(f"{where}: guidance must be a number or shape (B,) = ({x.shape[0]},), got "
                             f"{tuple(g.shape)}")
        return self.guidance_embed(g * self.time_scale)

    def forward(self, x: Tensor, t, **cond) -> Tensor:
        where = type(self).__name__
        check_cond_keywords(cond, self.supported_cond, where)
        context, mask = cond.get("context"), cond.get("context_mask")
        width = self.refiner.context_dim
        if context is None or context.ndim != 3 or context.shape[0] != x.shape[0] or context.shape[-1] != width:
            got = None if context is None else tuple(context.shape)
            raise ValueError(f"{where}: context must be tokens of shape (B, M, context_dim) = ({x.shape[0]}, M, "
                             f"{width}) (HunyuanVideo is text-conditioned), got {got}")
        if mask is not None and tuple(mask.shape) != tuple(context.shape[:2]):
            raise ValueError(f"{where}: context_mask must be (B, M) = {tuple(context.shape[:2])}, got "
                             f"{tuple(mask.shape)}")
        tokens = self.patch(x).contiguous()
        grid = self.patch.grid_size(x.shape)
        rope = self.rope.tables(grid, x.device)
        t = timesteps_for(t, x, where)
        c = self.embed(t, added_cond=cond.get("added_cond"))
        g = self._guidance(cond.get("guidance"), x, where)
        c = (c if g is None else c + g).to(tokens.dtype)  # (B, D)
        ctx = self.refiner(context.to(tokens.dtype), t, context_mask=mask)
        mask = None if mask is None else mask.bool()
        with sequence_shard(self.context_parallel, tokens.shape[1]) as shard:  # video sharded, text whole
            tokens, rope = shard_video(shard, tokens, rope)
            for block in (*self.dual_blocks, *self.single_blocks):
                tokens, ctx = maybe_checkpoint(self.gradient_checkpointing and self.training, _run_block, block,
                                               tokens, ctx, c, rope, mask)
            out = self.final(tokens, c)
            out = out if shard is None else shard.gather(out)
        return self.patch.unpatchify(out, grid, self.out_channels)


def _run_block(block: nn.Module, tokens: Tensor, context: Tensor, c: Tensor, rope, mask) -> tuple[Tensor, Tensor]:
    return block(tokens, context, c, rope=rope, context_mask=mask)
