"""Wan's VAE mid-block attention: one-head self-attention over the H·W positions of each frame, RMS-normed input.

    y = x + attn(N(x)),   attn = softmax(Q Kᵀ / √C) V per frame (one head of width C, biased q/k/v/out projections)

Frames never exchange information, so the block is frame-independent (trivially causal, nothing to cache). The
attention is ``attention/spatial`` (the one attention core); Wan's fused 1×1 ``to_qkv`` conv is three Linear
projections here (the converter splits it). [V-code: diffusers autoencoder_kl_wan.py ``WanAttentionBlock``]
"""

from __future__ import annotations

from torch import Tensor, nn

from .. import registry
from ..attention.configure import configure_attention
from ..conv.common import BAD_VIDEO
from ..conv.feature_cache import FeatureCache
from ..examples import video_inputs
from ..registry import register
from .rms_norm import ChannelRMSNorm


@register(
    "block", "wan_frame_attention", paper="Wan Team 2025 (Wan 2.1) causal 3-D VAE mid-block attention",
    tiny=dict(in_channels=16), inputs=video_inputs("in_channels"), bad_inputs=list(BAD_VIDEO),
    properties=("frame_independent", "causal"),
)
class WanFrameAttention(nn.Module):
    """``(B, C, T, H, W) -> (B, C, T, H, W)``: ``x + attention/spatial(RMSNorm(x))`` with one head of width C.

    Args:
        in_channels: channels C.
        attention_backend, frame_attention, frame_attention_kwargs: as ``block/spatial_transformer`` (pin a backend;
            swap the per-frame attention for a frame-wise variant, weights kept).
    """

    def __init__(self, in_channels: int, *, attention_backend: str | None = None, frame_attention: str | None = None,
                 frame_attention_kwargs: dict | None = None, device=None, dtype=None) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.norm = ChannelRMSNorm(in_channels, device=device, dtype=dtype)
        self.attn = registry.build("attention/spatial", dim=in_channels, num_heads=1, qkv_bias=True,
                                   device=device, dtype=dtype)
        configure_attention(self, attention_backend=attention_backend, frame_attention=frame_attention,
                            frame_attention_kwargs=frame_attention_kwargs)

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        """``cache`` is accepted for the shared streaming signature and unused (the block is per frame)."""
        self.attn.check_input(x)
        return x + self.attn(self.norm(x))
