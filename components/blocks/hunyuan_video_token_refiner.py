"""HunyuanVideo's token refiner: a small self-attention transformer that adapts the text encoder's tokens.

Kong et al. 2024 (HunyuanVideo, arXiv 2412.03603) §4.3 "Text encoder": the decoder-only MLLM's causal tokens are
refined by a bidirectional "token refiner" before the MM-DiT blocks [V-code: diffusers transformer_hunyuan_video.py
``HunyuanVideoTokenRefiner``, ``HunyuanVideoIndividualTokenRefinerBlock``]::

    p   = Σ_j m_j e_j / Σ_j m_j                        masked mean of the raw text tokens e (B, M, context_dim)
    c   = MLP(sinusoid(t)) + MLP_silu(p)                the refiner's own timestep + pooled-text embedding (B, dim)
    h   = Linear(e)                                     (B, M, dim)
    h   = h + g₁ · SelfAttn(LN₁(h), mask)               (g₁, g₂) = Linear(SiLU(c)); LNs affine, eps 1e-6
    h   = h + g₂ · MLP_silu(LN₂(h))                      × depth (2)

The self-attention mask is ``m_i ∧ m_j`` with key 0 always visible (a padding query attends to the first token
only, so no row is empty). The gate Linear starts at zero: each refiner block is the identity at init (as the
official ``IndividualTokenRefinerBlock``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import registry
from ..attention.base import MultiHeadAttention
from ..attention.configure import configure_attention
from ..registry import BadInput, register


class TokenRefinerBlock(nn.Module):
    """One refiner block: ``(h (B, M, dim), c (B, dim), mask (B, 1, M, M) | None) -> (B, M, dim)``."""

    def __init__(self, dim: int, num_heads: int, *, mlp_ratio: float = 4.0, device=None, dtype=None) -> None:
        from timm.layers import Mlp  # lazy: timm is slow to import (tests/test_startup.py)

        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.norm1 = nn.LayerNorm(dim, eps=1e-6, **factory)
        self.attn = MultiHeadAttention(dim, num_heads, qkv_bias=True, **factory)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6, **factory)
        self.ff = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.SiLU, **factory)
        self.gates = nn.Linear(dim, 2 * dim, **factory)
        nn.init.zeros_(self.gates.weight)
        nn.init.zeros_(self.gates.bias)

    def forward(self, h: Tensor, c: Tensor, mask: Tensor | None = None) -> Tensor:
        gate1, gate2 = self.gates(nn.functional.silu(c))[:, None].chunk(2, dim=-1)
        h = h + gate1 * self.attn.attend_tokens(self.norm1(h), mask=mask)
        return h + gate2 * self.ff(self.norm2(h))


def refiner_mask(context_mask: Tensor) -> Tensor:
    """``(B, M)`` real-token mask -> the ``(B, 1, M, M)`` self-attention mask ``m_i ∧ m_j``, key 0 always visible."""
    m = context_mask.bool()
    mask = m[:, None, None, :] & m[:, None, :, None]
    mask[..., 0] = True
    return mask


def _inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    """``frames`` + 3 text tokens (the last padding), integer steps."""
    m = frames + 3
    context = torch.randn(batch, m, cfg["context_dim"], generator=generator)
    mask = torch.ones(batch, m, dtype=torch.bool)
    mask[:, -1] = False
    return (context, torch.randint(0, 1000, (batch,), generator=generator)), {"context_mask": mask}


def _output_shape(cfg: dict, context: Tensor, t, **kwargs) -> tuple[int, ...]:
    return (*context.shape[:2], cfg["dim"])


@register(
    "block", "hunyuan_video_token_refiner", paper="Kong et al. 2024 (HunyuanVideo) token refiner",
    tiny=dict(context_dim=12, dim=16, num_heads=2), inputs=_inputs, output_shape=_output_shape,
    bad_inputs=[
        BadInput(match="context must be tokens", why="text tokens of the wrong width",
                 inputs=lambda cfg: ((torch.zeros(2, 5, cfg["context_dim"] + 1), torch.zeros(2)), {})),
        BadInput(match="context_mask must be", why="a mask for another text length",
                 inputs=lambda cfg: ((torch.zeros(2, 5, cfg["context_dim"]), torch.zeros(2)),
                                     {"context_mask": torch.ones(2, 4, dtype=torch.bool)})),
        BadInput(match="divisible by num_heads", init={"num_heads": 3}),
    ],
)
class HunyuanVideoTokenRefiner(nn.Module):
    """``(context (B, M, context_dim), t (B,))`` with ``context_mask`` ``(B, M)`` (True = a real token; None: all) ->
    refined text tokens ``(B, M, dim)`` (module docstring).

    Args:
        context_dim: the text encoder's width (HunyuanVideo's LLaVA-LLaMA-3: 4096).
        dim, num_heads: the refiner's width and heads (the transformer's: 3072, 24).
        depth: refiner blocks (2); mlp_ratio: their MLP width / dim (4).
        time_scale: ``t`` is multiplied by it before the sinusoid (the transformer's).
        attention_backend: as every block holding attention.
    """

    def __init__(self, context_dim: int, dim: int, num_heads: int, *, depth: int = 2, mlp_ratio: float = 4.0,
                 time_scale: float = 1.0, attention_backend: str | None = None, device=None, dtype=None) -> None:
        from timm.layers import Mlp  # lazy: timm is slow to import (tests/test_startup.py)

        super().__init__()
        factory = {"device": device, "dtype": dtype}
        if dim % num_heads:
            raise ValueError(f"HunyuanVideoTokenRefiner: dim={dim} must be divisible by num_heads={num_heads}")
        self.context_dim, self.dim, self.time_scale = context_dim, dim, time_scale
        self.timestep = registry.build("embed/timestep", dim=dim, freq_dim=256, flavour="dit", **factory)
        self.pooled = Mlp(context_dim, dim, dim, act_layer=nn.SiLU, **factory)
        self.proj_in = nn.Linear(context_dim, dim, **factory)
        self.blocks = nn.ModuleList(TokenRefinerBlock(dim, num_heads, mlp_ratio=mlp_ratio, **factory)
                                    for _ in range(depth))
        configure_attention(self, attention_backend=attention_backend)

    def forward(self, context: Tensor, t, *, context_mask: Tensor | None = None) -> Tensor:
        where = type(self).__name__
        if context.ndim != 3 or context.shape[-1] != self.context_dim:
            raise ValueError(f"{where}: context must be tokens (B, M, context_dim={self.context_dim}), got "
                             f"{tuple(context.shape)}")
        if context_mask is not None and tuple(context_mask.shape) != tuple(context.shape[:2]):
            raise ValueError(f"{where}: context_mask must be (B, M) = {tuple(context.shape[:2])}, got "
                             f"{tuple(context_mask.shape)}")
        if context_mask is None:
            pooled, mask = context.mean(dim=1), None
        else:
            m = context_mask.float()[..., None]
            pooled = ((context * m).sum(dim=1) / m.sum(dim=1)).to(context.dtype)
            mask = refiner_mask(context_mask)
        t = torch.as_tensor(t, device=context.device).float().expand(context.shape[0])
        c = self.timestep(t * self.time_scale).to(context.dtype) + self.pooled(pooled)
        h = self.proj_in(context)
        for block in self.blocks:
            h = block(h, c, mask)
        return h
