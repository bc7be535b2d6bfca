"""HunyuanVideo's dual-stream block: video and text tokens keep their own weights but attend in one softmax.

Kong et al. 2024 (HunyuanVideo, arXiv 2412.03603) §4.3 "Unified image and video generative architecture": the first
20 blocks are MM-DiT dual-stream (Esser et al. 2024, SD3 §2.2) [V-code: diffusers transformer_hunyuan_video.py
``HunyuanVideoTransformerBlock``]. Each stream has its own adaLN-Zero modulation, projections, qk-norms and MLP::

    (x̂, g₁, μ₂, s₂, g₂) = AdaLNZero_x(x, c),   (ĉ, g₁ᶜ, μ₂ᶜ, s₂ᶜ, g₂ᶜ) = AdaLNZero_c(ctx, c)
    (a, aᶜ) = JointAttn(x̂, ĉ)                  attention/joint, per-stream projections, [x ; ctx], RoPE on x only,
                                                 RMSNorm per head on q, k (eps 1e-6), text padding hidden as keys
    x = x + g₁ a,                 ctx = ctx + g₁ᶜ aᶜ
    x = x + g₂ FFN(LN(x)(1 + s₂) + μ₂),   ctx = ctx + g₂ᶜ FFNᶜ(LN(ctx)(1 + s₂ᶜ) + μ₂ᶜ)      tanh-GELU MLPs

LayerNorms have no affine parameters (eps 1e-6); the modulations start at zero, so the block is the identity at init.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import registry
from ..attention.configure import configure_attention
from ..embed.rope import RoPE3d
from ..registry import BadInput, register
from .adaln_zero_norm import AdaLNZeroNorm
from .common import feed_forward


def mmdit_inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    """Video tokens of a ``(frames, 2, 3)`` grid, 5 text tokens (the last one padding), ``c``, rope tables."""
    dim, grid = cfg["dim"], (frames, 2, 3)
    x = torch.randn(batch, frames * 6, dim, generator=generator)
    context = torch.randn(batch, 5, dim, generator=generator)
    c = torch.randn(batch, cfg.get("cond_dim") or dim, generator=generator)
    mask = torch.ones(batch, 5, dtype=torch.bool)
    mask[:, -1] = False
    return (x, context, c), {"rope": RoPE3d(dim // cfg["num_heads"]).tables(grid), "context_mask": mask}


def mmdit_bad(change):
    def make(cfg: dict):
        args, kwargs = mmdit_inputs(cfg)
        return change(cfg, args, kwargs)
    return make


def mmdit_bad_inputs() -> list[BadInput]:
    """What both HunyuanVideo blocks refuse."""
    return [
        BadInput(match="c must have shape", why="conditioning of the wrong width",
                 inputs=mmdit_bad(lambda cfg, a, k: ((a[0], a[1], torch.zeros(2, cfg["dim"] + 1)), k))),
        BadInput(match="context must be tokens", why="text tokens of the wrong width",
                 inputs=mmdit_bad(lambda cfg, a, k: ((a[0], torch.zeros(2, 5, cfg["dim"] + 1), a[2]), k))),
        BadInput(match="context_mask", why="a mask for another text length",
                 inputs=mmdit_bad(lambda cfg, a, k: (a, {**k, "context_mask": torch.ones(2, 4, dtype=torch.bool)}))),
        BadInput(match="divisible by num_heads", init={"num_heads": 3}),
    ]


def check_c(c: Tensor, x: Tensor, cond_dim: int, where: str, context: Tensor, dim: int) -> None:
    """``c`` ``(B, cond_dim)`` and ``context`` ``(B, M, dim)`` for video tokens ``x`` ``(B, N, dim)``."""
    if c.ndim != 2 or c.shape != (x.shape[0], cond_dim):
        raise ValueError(f"{where}: c must have shape (B, cond_dim) = ({x.shape[0]}, {cond_dim}), got {tuple(c.shape)}")
    if context.ndim != 3 or context.shape[0] != x.shape[0] or context.shape[-1] != dim:
        raise ValueError(f"{where}: context must be tokens (B, M, dim) = ({x.shape[0]}, M, {dim}), got "
                         f"{tuple(context.shape)}")


@register(
    "block", "hunyuan_video_dual", paper="Kong et al. 2024 (HunyuanVideo) dual-stream block; Esser et al. 2024 (MM-DiT)",
    tiny=dict(dim=16, num_heads=2), inputs=mmdit_inputs, bad_inputs=mmdit_bad_inputs(),
)
class HunyuanVideoDualBlock(nn.Module):
    """``(x (B, N, dim), context (B, M, dim), c (B, cond_dim))`` with ``rope`` ``(N, head_dim)`` tables and
    ``context_mask`` ``(B, M)`` (True = a real text token) -> ``(x, context)``, both updated (module docstring).

    Args:
        dim, num_heads, head_dim: width and heads (HunyuanVideo: 24 × 128).
        cond_dim: width of ``c`` (default ``dim``).
        mlp_ratio: MLP hidden width / dim (4).
        attention_backend: as every block holding attention.
    """

    def __init__(self, dim: int, num_heads: int = 24, head_dim: int | None = None, *, cond_dim: int | None = None,
                 mlp_ratio: float = 4.0, attention_backend: str | None = None, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.dim, self.cond_dim = dim, cond_dim or dim
        self.norm1 = AdaLNZeroNorm(dim, self.cond_dim, chunks=6, **factory)
        self.norm1_context = AdaLNZeroNorm(dim, self.cond_dim, chunks=6, **factory)
        self.attn = registry.build("attention/joint", dim=dim, num_heads=num_heads, head_dim=head_dim, qkv_bias=True,
                                   qk_norm="rms", qk_norm_eps=1e-6, separate_context=True, **factory)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6, **factory)
        self.norm2_context = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6, **factory)
        where = type(self).__name__
        self.ff = feed_forward(dim, mlp_ratio, "gelu_tanh", where=where, **factory)
        self.ff_context = feed_forward(dim, mlp_ratio, "gelu_tanh", where=where, **factory)
        configure_attention(self, attention_backend=attention_backend)

    def forward(self, x: Tensor, context: Tensor, c: Tensor, *, rope: tuple[Tensor, Tensor] | None = None,
                context_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        check_c(c, x, self.cond_dim, type(self).__name__, context, self.dim)
        y, gate, shift2, scale2, gate2 = self.norm1(x, c)
        yc, c_gate, c_shift2, c_scale2, c_gate2 = self.norm1_context(context, c)
        a, ac = self.attn(y, yc, rope=rope, context_mask=context_mask)
        x, context = x + gate * a, context + c_gate * ac
        x = x + gate2 * self.ff(self.norm2(x) * (1 + scale2) + shift2)
        context = context + c_gate2 * self.ff_context(self.norm2_context(context) * (1 + c_scale2) + c_shift2)
        return x, context

    def extra_repr(self) -> str:
        return f"dim={self.dim}, cond_dim={self.cond_dim}"
