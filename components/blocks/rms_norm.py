"""RMS norm over the channels of every position (Wan's VAE norm, ``WanRMS_norm``): L2-normalise, scale by √C.

    y = x / max(‖x‖₂, ε) · √C · γ        (‖·‖₂ over the C channels of one position; ε = 1e-12)

which is ``x / RMS(x) · γ`` with the RMS over channels. Unlike GroupNorm it has no statistics over space or time, so
it is frame-independent and causal, and a chunk of a clip is normalised exactly as in the whole clip (what the
streaming VAE needs). fp16/bf16 inputs are normalised in fp32. [V-code: diffusers autoencoder_kl_wan.py
``WanRMS_norm`` (F.normalize, ``bias=False`` in every Wan layer)]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ChannelRMSNorm(nn.Module):
    """``(B, C, *) -> (B, C, *)``: RMS norm over dim 1 with a learned per-channel gain ``weight`` (γ, init 1)."""

    def __init__(self, channels: int, *, device=None, dtype=None) -> None:
        super().__init__()
        self.channels, self.scale = channels, channels ** 0.5
        self.weight = nn.Parameter(torch.ones(channels, device=device, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        low = x.dtype in (torch.float16, torch.bfloat16)
        normalized = F.normalize(x.float() if low else x, dim=1).to(x.dtype)
        gain = self.weight.view(-1, *([1] * (x.ndim - 2)))  # c -> c 1 1 (1): broadcast over the positions
        return normalized * self.scale * gain

    def extra_repr(self) -> str:
        return f"{self.channels}"
