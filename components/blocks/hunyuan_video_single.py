"""HunyuanVideo's single-stream block: text and video tokens in one sequence through one set of weights.

Kong et al. 2024 (HunyuanVideo, arXiv 2412.03603) §4.3: after the dual-stream blocks, 40 single-stream blocks
(the parallel attention + MLP layout of Dehghani et al. 2023, ViT-22B, as FLUX) [V-code: diffusers
transformer_hunyuan_video.py ``HunyuanVideoSingleTransformerBlock``]::

    s = [x ; ctx]                                         one sequence, shared weights
    (ŝ, g) = AdaLNZero(s, c)                              3 vectors (μ, s, g), LN without affine, eps 1e-6
    (a, aᶜ) = JointAttn(ŝ_x, ŝ_ctx)                       attention/joint, shared projections, no output projection,
                                                            RoPE on the video part, RMSNorm per head on q, k
    s = s + g · Linear([a ; aᶜ] ‖ GELU_tanh(Linear_mlp(ŝ)))     ‖: channel concat; one projection for both branches

The modulation starts at zero (g = 0): the block is the identity at init.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import registry
from ..attention.configure import configure_attention
from ..registry import register
from .adaln_zero_norm import AdaLNZeroNorm
from .hunyuan_video_dual import check_c, mmdit_bad_inputs, mmdit_inputs


@register(
    "block", "hunyuan_video_single", paper="Kong et al. 2024 (HunyuanVideo) single-stream block; Dehghani et al. 2023 "
                                           "(parallel attention + MLP)",
    tiny=dict(dim=16, num_heads=2), inputs=mmdit_inputs, bad_inputs=mmdit_bad_inputs(),
)
class HunyuanVideoSingleBlock(nn.Module):
    """``(x (B, N, dim), context (B, M, dim), c (B, cond_dim))`` with ``rope`` and ``context_mask`` as
    ``block/hunyuan_video_dual`` -> ``(x, context)``, both updated (module docstring).

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
        mlp_dim = int(dim * mlp_ratio)
        self.norm = AdaLNZeroNorm(dim, self.cond_dim, chunks=3, **factory)
        self.attn = registry.build("attention/joint", dim=dim, num_heads=num_heads, head_dim=head_dim, qkv_bias=True,
                                   qk_norm="rms", qk_norm_eps=1e-6, project_out=False, **factory)
        self.proj_mlp = nn.Linear(dim, mlp_dim, **factory)
        self.proj_out = nn.Linear(dim + mlp_dim, dim, **factory)
        configure_attention(self, attention_backend=attention_backend)

    def forward(self, x: Tensor, context: Tensor, c: Tensor, *, rope: tuple[Tensor, Tensor] | None = None,
                context_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        check_c(c, x, self.cond_dim, type(self).__name__, context, self.dim)
        n = x.shape[1]
        s = torch.cat((x, context), dim=1)  # b (n + m) d
        y, gate = self.norm(s, c)
        mlp = nn.functional.gelu(self.proj_mlp(y), approximate="tanh")
        a, ac = self.attn(y[:, :n], y[:, n:], rope=rope, context_mask=context_mask)
        s = s + gate * self.proj_out(torch.cat((torch.cat((a, ac), dim=1), mlp), dim=-1))
        return s[:, :n], s[:, n:]

    def extra_repr(self) -> str:
        return f"dim={self.dim}, cond_dim={self.cond_dim}"
