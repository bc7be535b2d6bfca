"""Wan's causal residual block: RMS norm – SiLU – causal 3×3×3 conv, twice, plus a 1×1×1 shortcut.

    h = conv₂(drop(SiLU(N₂(conv₁(SiLU(N₁(x))))))),   y = skip(x) + h

with ``N`` the channel RMS norm (``ChannelRMSNorm``) and ``conv`` the causal conv (``conv/causal_temporal``: two
frames of zero padding in front, "same" zero padding in space), so output frame i sees input frames ≤ i and a clip
can be processed chunk by chunk through a ``FeatureCache``. [V-code: diffusers autoencoder_kl_wan.py
``WanResidualBlock``; Wan-Video/Wan2.1 wan/modules/vae.py ``ResidualBlock``]
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_video
from ..conv.causal import CausalConv3d
from ..conv.common import BAD_VIDEO, VIDEO_INPUTS, conv_output_shape
from ..conv.feature_cache import FeatureCache
from ..registry import register
from .rms_norm import ChannelRMSNorm


@register(
    "block", "wan_causal_resnet", paper="Wan Team 2025 (Wan 2.1) causal 3-D VAE residual block",
    tiny=dict(in_channels=8, out_channels=16), inputs=VIDEO_INPUTS, output_shape=conv_output_shape,
    properties=("causal",), bad_inputs=list(BAD_VIDEO),
)
class WanCausalResBlock(nn.Module):
    """``(B, C_in, T, H, W) -> (B, C_out, T, H, W)``, causal in time; ``forward(x, cache)`` streams a chunk.

    Args:
        in_channels, out_channels: C_in, C_out (default C_in); the shortcut is a 1×1×1 conv when they differ.
        dropout: before the second conv (Wan: 0).
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, dropout: float = 0.0, device=None,
                 dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        out_channels = in_channels if out_channels is None else out_channels
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm1 = ChannelRMSNorm(in_channels, **factory)
        self.conv1 = CausalConv3d(in_channels, out_channels, 3, **factory)
        self.norm2 = ChannelRMSNorm(out_channels, **factory)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = CausalConv3d(out_channels, out_channels, 3, **factory)
        self.skip = CausalConv3d(in_channels, out_channels, 1, **factory) if in_channels != out_channels else None

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        h = self.conv1(F.silu(self.norm1(x)), cache)
        h = self.conv2(self.dropout(F.silu(self.norm2(h))), cache)
        return h + (x if self.skip is None else self.skip(x))
