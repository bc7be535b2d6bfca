"""CogVideoX's expert transformer block: one joint sequence of text and video tokens, modulated per stream.

Yang et al. 2024 (CogVideoX, arXiv 2408.06072) §2.2 "Expert Transformer Block" [V-code: diffusers
cogvideox_transformer_3d.py ``CogVideoXBlock``, normalization.py ``CogVideoXLayerNormZero``]. The text and video
tokens share every weight of the block except their adaLN modulation ("expert adaptive LayerNorm"): one
``Linear(SiLU(c))`` gives six vectors per stream, so the two modalities, whose feature spaces differ, are scaled and
shifted apart while attending in one softmax::

    (μ₁, s₁, g₁, μ₁ᶜ, s₁ᶜ, g₁ᶜ) = Linear₁(SiLU(c)),   (μ₂, s₂, g₂, μ₂ᶜ, s₂ᶜ, g₂ᶜ) = Linear₂(SiLU(c))
    x̂ = LN₁(x)(1 + s₁) + μ₁,   ĉ = LN₁(ctx)(1 + s₁ᶜ) + μ₁ᶜ
    (a, aᶜ) = JointAttn(x̂, ĉ)                     attention/joint, shared projections, [ctx ; x], RoPE on x only
    x = x + g₁ a,   ctx = ctx + g₁ᶜ aᶜ
    (f, fᶜ) = FFN(LN₂(·)(1 + s₂) + μ₂ on each stream)   one tanh-GELU MLP over the joint sequence
    x = x + g₂ f,   ctx = ctx + g₂ᶜ fᶜ

LayerNorms are affine (eps 1e-5, shared by the two streams); qk-norm is a LayerNorm per head (eps 1e-6); q/k/v and
the output have biases. The modulation Linears start at zero, so every gate is 0 and the block is the identity at init
(adaLN-Zero, DiT §3.2).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import registry
from ..attention.configure import configure_attention
from ..registry import BadInput, register
from .common import feed_forward


class ExpertAdaLayerNorm(nn.Module):
    """CogVideoX's expert adaLN: ``(x (B, N, D), ctx (B, M, D), c (B, cond_dim)) -> (x̂, ĉ, g, gᶜ)``.

    ``Linear(SiLU(c))`` (cond_dim -> 6·D) gives ``μ, s, g, μᶜ, sᶜ, gᶜ`` (diffusers' order); one affine LayerNorm serves
    both streams: ``x̂ = LN(x)(1 + s) + μ``, ``ĉ = LN(ctx)(1 + sᶜ) + μᶜ``; the gates ``(B, 1, D)`` are returned for the
    residual adds. The Linear starts at zero (gates 0).
    """

    def __init__(self, dim: int, cond_dim: int, *, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.linear = nn.Linear(cond_dim, 6 * dim, **factory)
        self.norm = nn.LayerNorm(dim, eps=eps, elementwise_affine=affine, **factory)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: Tensor, context: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        shift, scale, gate, c_shift, c_scale, c_gate = self.linear(nn.functional.silu(c))[:, None].chunk(6, dim=-1)
        return (self.norm(x) * (1 + scale) + shift, self.norm(context) * (1 + c_scale) + c_shift, gate, c_gate)


def _inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    """Video tokens of a ``(frames, 2, 3)`` grid, the conditioning vector, 5 text tokens."""
    x = torch.randn(batch, frames * 6, cfg["dim"], generator=generator)
    c = torch.randn(batch, cfg["cond_dim"], generator=generator)
    return (x, c), {"context": torch.randn(batch, 5, cfg["dim"], generator=generator)}


def _bad(change):
    def make(cfg: dict):
        args, kwargs = _inputs(cfg)
        return change(cfg, args, kwargs)
    return make


@register(
    "block", "cogvideox", paper="Yang et al. 2024 (CogVideoX) expert transformer block, expert adaptive LayerNorm",
    tiny=dict(dim=16, num_heads=2, cond_dim=12), inputs=_inputs,
    bad_inputs=[
        BadInput(match="c must have shape", why="conditioning of the wrong width",
                 inputs=_bad(lambda cfg, a, k: ((a[0], torch.zeros(2, cfg["cond_dim"] + 1)), k))),
        BadInput(match="context must be tokens", why="text tokens of the wrong width",
                 inputs=_bad(lambda cfg, a, k: (a, {"context": torch.zeros(2, 5, cfg["dim"] + 1)}))),
        BadInput(match="divisible by num_heads", init={"num_heads": 3}),
    ],
)
class CogVideoXBlock(nn.Module):
    """``x`` ``(B, N, dim)`` video tokens, ``c`` ``(B, cond_dim)``, ``context`` ``(B, M, dim)`` text tokens, ``rope``
    ``(N, head_dim)`` tables (CogVideoX 5B; 2B adds sin-cos positions at the net instead) -> ``(x, context)``, both
    updated (see the module docstring).

    Args:
        dim, num_heads, head_dim: width and heads (CogVideoX: head_dim 64).
        cond_dim: width of ``c`` (CogVideoX's ``time_embed_dim`` 512).
        ffn_dim: MLP hidden width (default 4·dim).
        norm_eps, norm_affine: the two expert LayerNorms (1e-5, affine).
        attention_backend: as every block holding attention.
    """

    def __init__(self, dim: int, num_heads: int = 30, head_dim: int | None = None, *, cond_dim: int = 512,
                 ffn_dim: int | None = None, norm_eps: float = 1e-5, norm_affine: bool = True,
                 attention_backend: str | None = None, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.dim, self.cond_dim = dim, cond_dim
        self.norm1 = ExpertAdaLayerNorm(dim, cond_dim, eps=norm_eps, affine=norm_affine, **factory)
        self.attn = registry.build("attention/joint", dim=dim, num_heads=num_heads, head_dim=head_dim, qkv_bias=True,
                                   qk_norm="layer", qk_norm_eps=1e-6, context_first=True, **factory)
        self.norm2 = ExpertAdaLayerNorm(dim, cond_dim, eps=norm_eps, affine=norm_affine, **factory)
        self.mlp = feed_forward(dim, 4.0, "gelu_tanh", hidden_dim=ffn_dim, where="CogVideoXBlock", **factory)
        configure_attention(self, attention_backend=attention_backend)

    def forward(self, x: Tensor, c: Tensor, *, context: Tensor,
                rope: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if c.ndim != 2 or c.shape != (x.shape[0], self.cond_dim):
            raise ValueError(f"CogVideoXBlock: c must have shape (B, cond_dim) = ({x.shape[0]}, {self.cond_dim}), "
                             f"got {tuple(c.shape)}")
        if context is None or context.ndim != 3 or context.shape[0] != x.shape[0] or context.shape[-1] != self.dim:
            raise ValueError(f"CogVideoXBlock: context must be tokens (B, M, dim) = ({x.shape[0]}, M, {self.dim}), "
                             f"got {None if context is None else tuple(context.shape)}")
        m = context.shape[1]
        y, yc, gate, c_gate = self.norm1(x, context, c)
        a, ac = self.attn(y, yc, rope=rope)
        x, context = x + gate * a, context + c_gate * ac
        y, yc, gate, c_gate = self.norm2(x, context, c)
        f = self.mlp(torch.cat((yc, y), dim=1))  # one MLP over the joint sequence [ctx ; x]
        return x + gate * f[:, m:], context + c_gate * f[:, :m]

    def extra_repr(self) -> str:
        return f"dim={self.dim}, cond_dim={self.cond_dim}"
