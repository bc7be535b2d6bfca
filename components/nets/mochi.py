"""Mochi 1's diffusion transformer (``net/mochi_transformer``): 48 asymmetric MM-DiT blocks over [video ; text].

Genmo 2024 (Mochi 1 preview, genmo/mochi-1-preview; "AsymmDiT") [V-code: diffusers transformer_mochi.py
``MochiTransformer3DModel``]::

    tokens   = PatchEmbed(x)                                  per frame, kernel = stride = 2 (patch (1, 2, 2))
    (c, ctx) = MLP(sin(t)) + AttnPool(text, mask), Linear(text)    nets/mochi_parts.py: c (B, D), ctx (B, M, 1536)
                                                                   (text: the T5 tokens, ``context``, 4096 wide)
    (tokens, ctx) = Block_k(tokens, ctx, c, RoPE, mask)       block/mochi × 48 (the last: context_pre_only)
    out      = unpatchify(Linear(LN(tokens)(1 + s) + μ)),  (s, μ) = Linear(SiLU(c))

The video stream is D = 3072 wide (24 heads × 128), the text stream 1536; RoPE is Mochi's learned mixed rotation
(``MochiRoPE``: per-head frequencies over ``(t, h, w)``), applied to the video tokens only.

Shapes: ``model(x, t, context=, context_mask=)``: ``x`` ``(B, in_channels, T, H, W)``, ``t`` ``(B,)``, ``context``
``(B, M, context_dim)`` T5 tokens (diffusers' ``encoder_hidden_states``), ``context_mask`` ``(B, M)`` True for real
tokens (``encoder_attention_mask``; default all real) -> ``(B, out_channels, T, H, W)``. H, W must be even.

**Time.** At the defaults (``flow_time=False``, ``time_scale=1``) the net is diffusers' exactly: ``t`` is Mochi's
timestep, which runs *backwards* (1000·(1 − σ) at noise level σ) and the output is ``x0 − ε`` [V-code:
pipeline_mochi.py "Mochi uses reversed timesteps", ``FlowMatchEulerDiscreteScheduler(invert_sigmas=True)``]. With
``flow_time=True`` the net takes this library's flow time ``t = σ`` (1 = noise), conditions itself on
``time_scale·(1 − t)`` and returns the velocity ``ε − x0`` (``parameterization/flow``): the same function.

diffusers drops the masked text tokens per sample (its masks are prefixes of ones); ours hides them as keys: the
video output is the same for prefix masks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .. import registry
from ..attention.configure import configure_attention
from ..attention.context_parallel import sequence_shard
from ..registry import BadInput, register
from .conditioning import check_cond_keywords, maybe_checkpoint, timesteps_for
from .dit_parts import FinalAdaLN, bad_net_inputs, dit_inputs, same_channels_output_shape, shard_video
from .mochi_parts import MochiCaptionEmbedding, MochiRoPE


# Published size, as this class's keywords. [V-code: diffusers MochiTransformer3DModel() defaults = the
# genmo/mochi-1-preview transformer config: 24 heads × 128, 48 layers, pooled_projection_dim 1536, 12 channels,
# patch 2, text 4096, time 256]
MOCHI_SIZES = {
    "mochi_1": dict(in_channels=12, hidden_dim=3072, num_heads=24, depth=48, caption_dim=1536, context_dim=4096,
                    patch_size=2),
}

TINY = dict(in_channels=4, hidden_dim=16, num_heads=2, depth=2, caption_dim=8, context_dim=16)


def _inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    (x, t), _ = dit_inputs({**cfg, "input_size": (1, 8, 8)}, frames, batch, generator)
    cond = {"context": torch.randn(batch, 3, cfg["context_dim"], generator=generator),
            "context_mask": torch.tensor([[True, True, True], [True, True, False]])[:batch]}
    return (x, t), cond


@register(
    "net", "mochi_transformer", paper="Genmo 2024 (Mochi 1 preview, AsymmDiT)", tiny=TINY, inputs=_inputs,
    output_shape=same_channels_output_shape, tolerance={"bfloat16": 4e-2, "float16": 2e-2},
    bad_inputs=[
        BadInput(match="height=7 must be divisible by patch_size", inputs=bad_net_inputs(_inputs, (2, 4, 2, 7, 8)),
                 why="spatial size not a multiple of the patch"),
        BadInput(match="context must be tokens", inputs=bad_net_inputs(_inputs, context=None),
                 why="no text for a text-to-video net"),
        BadInput(match="context_mask must be", inputs=bad_net_inputs(_inputs, context_mask=torch.ones(2, 4, dtype=torch.bool)),
                 why="a mask for another text length"),
        BadInput(match="divisible by num_heads", init={"num_heads": 3}),
    ],
)
class MochiTransformer(nn.Module):
    """Mochi 1's AsymmDiT: ``(B, C, T, H, W), t, context, context_mask -> (B, C_out, T, H, W)`` (module docstring).

    Args:
        in_channels, out_channels: latent channels in / predicted (12; default ``in_channels``).
        patch_size: spatial patch ``p`` (2; frames are not patched).
        hidden_dim, num_heads: video width D and heads (3072 = 24 × 128).
        depth: blocks (48; the last one's text stream is keys / values only).
        caption_dim: text-stream width (diffusers' ``pooled_projection_dim``, 1536); context_dim: T5 width (4096).
        pool_heads: heads of the caption attention pool (8); freq_dim: timestep sinusoid width (256).
        rope_base_size: the ``(H, W)`` area the RoPE's spatial positions span (192, 192).
        flow_time: take flow time σ and return ε − x0 (see "Time"); time_scale: the timestep's scale (1: diffusers').
        gradient_checkpointing, attention_backend: as ``net/space_time_dit``.
    """

    # the context-parallel mesh its video tokens are sharded over (``set_context_parallel``; None: one device); the
    # text stream, and the caption embedding's attention pool over it, stay whole on every rank
    context_parallel = None
    context_parallel_exempt = ("embed",)

    def __init__(self, in_channels: int = 12, out_channels: int | None = None, *, patch_size: int = 2,
                 hidden_dim: int = 3072, num_heads: int = 24, depth: int = 48, caption_dim: int = 1536,
                 context_dim: int = 4096, pool_heads: int = 8, freq_dim: int = 256,
                 rope_base_size: Sequence[int] = (192, 192), flow_time: bool = False, time_scale: float = 1.0,
                 gradient_checkpointing: bool = False, attention_backend: str | None = None, device=None,
                 dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        if hidden_dim % num_heads:
            raise ValueError(f"{where}: hidden_dim={hidden_dim} must be divisible by num_heads={num_heads}")
        if depth < 1:
            raise ValueError(f"{where}: depth must be >= 1, got {depth}")
        factory = {"device": device, "dtype": dtype}
        self.in_channels, self.out_channels = in_channels, out_channels or in_channels
        self.hidden_dim, self.context_dim, self.caption_dim = hidden_dim, context_dim, caption_dim
        self.flow_time, self.time_scale = flow_time, time_scale
        self.gradient_checkpointing = gradient_checkpointing
        self.supported_cond = ("context", "context_mask")
        self.patch = registry.build("embed/patch3d", in_channels=in_channels, dim=hidden_dim,
                                    patch_size=(1, patch_size, patch_size), **factory)
        self.patch_size = self.patch.patch_size
        self.size_multiple = tuple(self.patch_size)
        self.embed = MochiCaptionEmbedding(hidden_dim, caption_dim, context_dim, pool_heads=pool_heads,
                                           freq_dim=freq_dim, **factory)
        self.rope = MochiRoPE(num_heads, hidden_dim // num_heads, base_size=tuple(rope_base_size), **factory)
        self.blocks = nn.ModuleList(
            registry.build("block/mochi", dim=hidden_dim, num_heads=num_heads, context_dim=caption_dim,
                           context_pre_only=i == depth - 1, **factory)
            for i in range(depth))
        self.final = FinalAdaLN(hidden_dim, self.out_channels * patch_size * patch_size, eps=1e-6, **factory)
        configure_attention(self, attention_backend=attention_backend)

    def set_gradient_checkpointing(self, enabled: bool = True) -> MochiTransformer:
        self.gradient_checkpointing = enabled
        return self

    def _check(self, x: Tensor, context: Tensor | None, mask: Tensor | None, where: str) -> None:
        width = self.context_dim
        if context is None or context.ndim != 3 or context.shape[0] != x.shape[0] or context.shape[-1] != width:
            got = None if context is None else tuple(context.shape)
            raise ValueError(f"{where}: context must be tokens of shape (B, M, context_dim) = ({x.shape[0]}, M, "
                             f"{self.context_dim}) (Mochi is text-conditioned), got {got}")
        if mask is not None and tuple(mask.shape) != tuple(context.shape[:2]):
            raise ValueError(f"{where}: context_mask must be (B, M) = {tuple(context.shape[:2])}, got "
                             f"{tuple(mask.shape)}")

    def forward(self, x: Tensor, t, **cond) -> Tensor:
        where = type(self).__name__
        check_cond_keywords(cond, self.supported_cond, where)
        context, mask = cond.get("context"), cond.get("context_mask")
        self._check(x, context, mask, where)
        tokens = self.patch(x).contiguous()
        grid = self.patch.grid_size(x.shape)
        t = timesteps_for(t, x, where).float()
        timestep = self.time_scale * ((1 - t) if self.flow_time else t)
        c, ctx = self.embed(timestep, context.to(tokens.dtype), mask)
        rope = self.rope(grid, x.device)
        mask = None if mask is None else mask.bool()
        with sequence_shard(self.context_parallel, tokens.shape[1]) as shard:  # video sharded, text whole
            tokens, rope = shard_video(shard, tokens, rope)
            for block in self.blocks:
                tokens, ctx = maybe_checkpoint(self.gradient_checkpointing and self.training, _run_block, block,
                                               tokens, ctx, c, rope, mask)
            out = self.final(tokens, c)
            out = out if shard is None else shard.gather(out)
        out = self.patch.unpatchify(out, grid, self.out_channels)
        return -out if self.flow_time else out


def _run_block(block: nn.Module, tokens: Tensor, context: Tensor, c: Tensor, rope, mask) -> tuple[Tensor, Tensor]:
    return block(tokens, context, c, rope=rope, context_mask=mask)
