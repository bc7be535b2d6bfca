"""Mochi 1's two net-level pieces: its learned mixed 3-D RoPE and its timestep + attention-pooled caption embedding.

Genmo 2024 (Mochi 1) [V-code: diffusers transformer_mochi.py ``MochiRoPE`` and ``pos_frequencies``; embeddings.py
``MochiCombinedTimestepCaptionEmbedding``, ``MochiAttentionPool``].

**Mixed RoPE.** Fixed: each video token's position ``p = (t, h, w)`` with ``t`` the latent frame index and ``h, w``
the centres of an ``H × W`` grid spread over a 192×192 base area (``s = √(192² / (H·W))``, ``h_i = s·(i + ½ − H/2)``).
Learned: the frequencies ``F`` ``(3, num_heads, head_dim/2)``, one 3-vector per head and channel pair, so the angle of
pair ``m`` of head ``h`` mixes the three axes (Heo et al. 2024, RoPE-Mixed)::

    φ[n, h, m] = Σ_a p[n, a] · F[a, h, m]          (N, num_heads, head_dim/2), in fp32
    (x_{2m}, x_{2m+1}) -> (x_{2m} cos φ − x_{2m+1} sin φ,  x_{2m} sin φ + x_{2m+1} cos φ)

diffusers initialises ``F`` at 0 (the rotation is the identity until trained or loaded); so does this module.

**Conditioning.** ``c = MLP(sin(t)) + AttnPool(text, mask)``: the pool's single query is the masked mean of the text
tokens, its keys and values the mean token and every real text token (8 heads over the 4096-wide T5 tokens), its
output projected to the model width. The text stream starts as ``Linear(text)`` (4096 -> 1536, ``caption_proj``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import registry
from ..attention.base import MultiHeadAttention


class MochiRoPE(nn.Module):
    """``grid (T, H, W) -> (cos, sin)``, each ``(1, num_heads, T·H·W, head_dim)`` fp32 per-head tables in ``(t h w)``
    order (``apply_rope``'s per-head form), from the learned ``pos_frequencies`` ``(3, num_heads, head_dim/2)``.

    Args:
        num_heads, head_dim: the attention's heads.
        base_size: the ``(H, W)`` token area the spatial positions are spread over (192, 192).
    """

    def __init__(self, num_heads: int, head_dim: int, *, base_size: tuple[int, int] = (192, 192), device=None,
                 dtype=None) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"MochiRoPE: head_dim must be even (channel pairs rotate), got {head_dim}")
        self.num_heads, self.head_dim, self.base_size = num_heads, head_dim, tuple(base_size)
        self.pos_frequencies = nn.Parameter(torch.zeros(3, num_heads, head_dim // 2, device=device, dtype=dtype))

    def positions(self, grid: tuple[int, int, int], device=None) -> Tensor:
        """``(T·H·W, 3)`` fp32 ``(t, h, w)`` positions (module docstring)."""
        t, h, w = grid
        scale = (self.base_size[0] * self.base_size[1] / (h * w)) ** 0.5

        def centres(n: int) -> Tensor:
            edges = torch.linspace(-n * scale / 2, n * scale / 2, n + 1, device=device, dtype=torch.float32)
            return (edges[:-1] + edges[1:]) / 2

        axes = torch.meshgrid(torch.arange(t, device=device, dtype=torch.float32), centres(h), centres(w),
                              indexing="ij")
        return torch.stack(axes, dim=-1).reshape(-1, 3)

    def forward(self, grid: tuple[int, int, int], device=None) -> tuple[Tensor, Tensor]:
        pos = self.positions(grid, device)
        phi = torch.einsum("na,ahm->hnm", pos, self.pos_frequencies.float())  # (heads, N, head_dim/2)
        phi = torch.repeat_interleave(phi, 2, dim=-1)[None]  # (1, heads, N, head_dim): pairs share an angle
        return phi.cos(), phi.sin()

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, head_dim={self.head_dim}, base_size={self.base_size}"


class MochiAttentionPool(nn.Module):
    """``(text (B, M, text_dim), mask (B, M) | None) -> (B, out_dim)``: one query, the masked mean token, attends over
    ``[mean ; text]`` (padding hidden) on the shared attention core; the merged heads are projected to ``out_dim``.
    diffusers' fused ``to_kv`` is our ``attn.to_k`` / ``attn.to_v`` (its first / second half)."""

    def __init__(self, text_dim: int, out_dim: int, num_heads: int = 8, *, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.attn = MultiHeadAttention(text_dim, num_heads, qkv_bias=True, **factory)
        self.attn.to_out = nn.Linear(text_dim, out_dim, **factory)  # the pooled vector leaves at the model width

    def forward(self, text: Tensor, mask: Tensor | None) -> Tensor:
        keep = torch.ones(text.shape[:2], dtype=torch.bool, device=text.device) if mask is None else mask.bool()
        weights = keep[:, :, None].to(text.dtype)
        mean = (text * (weights / weights.sum(dim=1, keepdim=True).clamp(min=1))).sum(dim=1, keepdim=True)
        tokens = torch.cat([mean, text], dim=1)  # b (1 + m) d
        keys = torch.cat([torch.ones_like(keep[:, :1]), keep], dim=1)[:, None, None, :]  # (B, 1, 1, 1 + M)
        return self.attn.attend_tokens(mean, tokens, mask=keys)[:, 0]


class MochiCaptionEmbedding(nn.Module):
    """``(t (B,), text (B, M, text_dim), mask (B, M) | None) -> (c (B, dim), context (B, M, context_dim))``: the
    conditioning vector ``MLP(sin(t)) + AttnPool(text)`` and the projected text stream (module docstring).

    Args:
        dim: model width; context_dim: text-stream width (1536); text_dim: T5 token width (4096).
        pool_heads: the pool's heads (8); freq_dim: the timestep sinusoid width (256).
    """

    def __init__(self, dim: int, context_dim: int, text_dim: int, *, pool_heads: int = 8, freq_dim: int = 256,
                 device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.timestep = registry.build("embed/timestep", dim=dim, freq_dim=freq_dim, flavour="dit", **factory)
        self.pool = MochiAttentionPool(text_dim, dim, pool_heads, **factory)
        self.caption_proj = nn.Linear(text_dim, context_dim, **factory)

    def forward(self, t: Tensor, text: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        c = self.timestep(t).to(text.dtype) + self.pool(text, mask)
        return c, self.caption_proj(text)
