"""Mochi 1's asymmetric MM-DiT block: a wide video stream and a narrow text stream in one softmax, RMS-normed branches.

Genmo 2024 (Mochi 1, "AsymmDiT") [V-code: diffusers transformer_mochi.py ``MochiTransformerBlock``,
``MochiRMSNormZero``, ``MochiModulatedRMSNorm``, ``MochiLayerNormContinuous``]. The video tokens are ``dim`` wide
(3072), the text tokens ``context_dim`` (1536); both streams are modulated from the one conditioning vector ``c``
``(B, cond_dim)`` (the video width)::

    (s₁, g₁, s₂, g₂)     = Linear(SiLU(c))                     video: 4·dim
    (s₁ᶜ, g₁ᶜ, s₂ᶜ, g₂ᶜ) = Linear_c(SiLU(c))                   text:  4·context_dim (the last block: s₁ᶜ only)
    (a, aᶜ) = JointAttn(RMS(x)(1 + s₁), RMS(ctx)(1 + s₁ᶜ))     attention/joint, context_dim -> dim projections,
                                                                per-head RMS qk-norm (eps 1e-5), RoPE on x only
    x   = x + RMS(a)·tanh(g₁),         x   = x + RMS(FFN(RMS(x)(1 + s₂)))·tanh(g₂)              SwiGLU MLPs, no bias
    ctx = ctx + RMS(aᶜ)·tanh(g₁ᶜ),     ctx = ctx + RMS(FFNᶜ(RMS(ctx)(1 + s₂ᶜ)))·tanh(g₂ᶜ)

``RMS`` has no weight (eps 1e-6) and runs in fp32 as diffusers'; note each residual branch is itself RMS-normalised
before its tanh gate. The MLP widths are ``⌊8·dim/3⌋`` and ``⌊8·context_dim/3⌋`` (8192 / 4096). The last block
(``context_pre_only``) modulates the text by a scale only, uses it as keys and values, and returns ``ctx`` unchanged.

The modulation Linears start at zero, so every gate is tanh(0) = 0 and the block is the identity at init.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import registry
from ..attention.configure import configure_attention
from ..registry import BadInput, register
from .common import feed_forward
from .hunyuan_video_dual import mmdit_inputs


def _inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    """Video tokens of a ``(frames, 2, 3)`` grid, 5 text tokens of ``context_dim`` (the last one padding), ``c``."""
    (x, _, c), kwargs = mmdit_inputs(cfg, frames, batch, generator)
    context = torch.randn(batch, 5, cfg.get("context_dim") or cfg["dim"], generator=generator)
    return (x, context, c), kwargs


def _bad(change):
    def make(cfg: dict):
        args, kwargs = _inputs(cfg)
        return change(cfg, args, kwargs)
    return make


def rms(x: Tensor, eps: float) -> Tensor:
    """``x / √(mean(x²) + eps)`` over the last axis in fp32, no weight (diffusers' ``RMSNorm(0, eps, False)``)."""
    return F.rms_norm(x.float(), (x.shape[-1],), eps=eps)


@register(
    "block", "mochi", paper="Genmo 2024 (Mochi 1 AsymmDiT block); Esser et al. 2024 (MM-DiT)",
    tiny=dict(dim=16, num_heads=2, context_dim=8), inputs=_inputs,
    bad_inputs=[
        BadInput(match="c must have shape", why="conditioning of the wrong width",
                 inputs=_bad(lambda cfg, a, k: ((a[0], a[1], torch.zeros(2, cfg["dim"] + 1)), k))),
        BadInput(match="context must be tokens", why="text tokens of the video's width",
                 inputs=_bad(lambda cfg, a, k: ((a[0], torch.zeros(2, 5, cfg["dim"] + 1), a[2]), k))),
        BadInput(match="context_mask", why="a mask for another text length",
                 inputs=_bad(lambda cfg, a, k: (a, {**k, "context_mask": torch.ones(2, 4, dtype=torch.bool)}))),
        BadInput(match="divisible by num_heads", init={"num_heads": 3}),
    ],
)
class MochiBlock(nn.Module):
    """``(x (B, N, dim), context (B, M, context_dim), c (B, cond_dim))`` with ``rope`` tables (``(N, head_dim)`` or
    per head ``(1, num_heads, N, head_dim)``) and ``context_mask`` ``(B, M)`` (True = a real text token) ->
    ``(x, context)`` (module docstring).

    Args:
        dim, num_heads, head_dim: video width and heads (Mochi: 24 × 128).
        context_dim: text-stream width (1536; default ``dim``); cond_dim: width of ``c`` (default ``dim``).
        context_pre_only: the last block: the text stream is keys/values only and is returned unchanged.
        eps: the branch RMS-norms' epsilon (1e-6); qk_norm_eps: the per-head q/k RMS-norms' (1e-5).
        attention_backend: as every block holding attention.
    """

    def __init__(self, dim: int, num_heads: int = 24, head_dim: int | None = None, *, context_dim: int | None = None,
                 cond_dim: int | None = None, context_pre_only: bool = False, eps: float = 1e-6,
                 qk_norm_eps: float = 1e-5, attention_backend: str | None = None, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.dim, self.context_dim, self.cond_dim = dim, context_dim or dim, cond_dim or dim
        self.context_pre_only, self.eps = context_pre_only, eps
        self.modulation = nn.Linear(self.cond_dim, 4 * dim, **factory)
        self.modulation_context = nn.Linear(self.cond_dim, (1 if context_pre_only else 4) * self.context_dim,
                                            **factory)
        for layer in (self.modulation, self.modulation_context):  # gates tanh(0) = 0: identity at init
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.attn = registry.build("attention/joint", dim=dim, num_heads=num_heads, head_dim=head_dim, qkv_bias=False,
                                   qk_norm="rms", qk_norm_eps=qk_norm_eps, separate_context=True,
                                   context_dim=self.context_dim, context_pre_only=context_pre_only, **factory)
        where = type(self).__name__
        self.ff = feed_forward(dim, kind="swiglu", hidden_dim=8 * dim // 3, bias=False, where=where, **factory)
        self.ff_context = (None if context_pre_only else
                           feed_forward(self.context_dim, kind="swiglu", hidden_dim=8 * self.context_dim // 3,
                                        bias=False, where=where, **factory))
        configure_attention(self, attention_backend=attention_backend)

    def _check(self, x: Tensor, context: Tensor, c: Tensor) -> None:
        where = type(self).__name__
        if c.ndim != 2 or c.shape != (x.shape[0], self.cond_dim):
            raise ValueError(f"{where}: c must have shape (B, cond_dim) = ({x.shape[0]}, {self.cond_dim}), got "
                             f"{tuple(c.shape)}")
        if context.ndim != 3 or context.shape[0] != x.shape[0] or context.shape[-1] != self.context_dim:
            raise ValueError(f"{where}: context must be tokens (B, M, context_dim) = ({x.shape[0]}, M, "
                             f"{self.context_dim}), got {tuple(context.shape)}")

    def _branch(self, x: Tensor, out: Tensor, gate: Tensor) -> Tensor:
        """``x + RMS(out)·tanh(gate)`` (the residual update, in ``x``'s dtype)."""
        return x + (rms(out, self.eps) * torch.tanh(gate.float())[:, None]).to(x.dtype)

    def _modulate(self, x: Tensor, scale: Tensor) -> Tensor:
        return (rms(x, self.eps) * (1 + scale.float()[:, None])).to(x.dtype)

    def forward(self, x: Tensor, context: Tensor, c: Tensor, *, rope: tuple[Tensor, Tensor] | None = None,
                context_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check(x, context, c)
        c = F.silu(c)
        scale1, gate1, scale2, gate2 = self.modulation(c).chunk(4, dim=-1)
        mod_c = self.modulation_context(c)
        c_scale1 = mod_c if self.context_pre_only else mod_c.chunk(4, dim=-1)[0]
        a, ac = self.attn(self._modulate(x, scale1), self._modulate(context, c_scale1), rope=rope,
                          context_mask=context_mask)
        x = self._branch(x, a, gate1)
        x = self._branch(x, self.ff(self._modulate(x, scale2)), gate2)
        if self.context_pre_only:
            return x, context
        _, c_gate1, c_scale2, c_gate2 = mod_c.chunk(4, dim=-1)
        context = self._branch(context, ac, c_gate1)
        context = self._branch(context, self.ff_context(self._modulate(context, c_scale2)), c_gate2)
        return x, context

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, context_dim={self.context_dim}, cond_dim={self.cond_dim}, "
                f"context_pre_only={self.context_pre_only}")
