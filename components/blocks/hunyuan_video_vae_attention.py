"""HunyuanVideo's VAE mid-block attention: one head over every ``(t, h, w)`` position, causal across frames.

Kong et al. 2024 (HunyuanVideo §3, "3D VAE") [V-code: diffusers autoencoder_kl_hunyuan_video.py
``HunyuanVideoMidBlock3D`` (``Attention`` with a group norm and a residual connection),
``prepare_causal_attention_mask``]::

    h = GroupNorm(x)  -> tokens b (t h w) c
    y = x + Linear_out(softmax(Q Kᵀ / √C + M) V),   M[i, j] = 0 if frame(j) ≤ frame(i) else −∞

A query sees every position of its own and earlier frames, none of later ones, so the attention is causal in time (the
first frame is attended to like an image; the GroupNorm before it is not: its statistics span the clip). One head of width C; q, k, v, out have biases.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..attention.base import MultiHeadAttention
from ..attention.configure import configure_attention
from ..checks import check_video
from ..examples import video_inputs
from ..registry import BadInput, register


def frame_causal_mask(frames: int, tokens_per_frame: int, device=None) -> Tensor:
    """``(N, N)`` bool, N = frames · tokens_per_frame in ``(t h w)`` order: True where frame(key) ≤ frame(query)."""
    frame = torch.arange(frames, device=device).repeat_interleave(tokens_per_frame)
    return frame[None, :] <= frame[:, None]


@register(
    "block", "hunyuan_video_vae_attention", paper="Kong et al. 2024 (HunyuanVideo) causal 3D VAE mid-block attention",
    tiny=dict(channels=8, groups=2), inputs=video_inputs("channels", (4, 4)),
    # not declared causal: the GroupNorm before it takes its statistics over the whole clip (the mask alone is)
    bad_inputs=[BadInput(match="channels", inputs=lambda cfg: ((torch.zeros(1, cfg["channels"] + 1, 2, 4, 4),), {}),
                         why="wrong channels")],
)
class HunyuanVideoVAEAttention(nn.Module):
    """``(B, C, T, H, W) -> (B, C, T, H, W)``: ``x`` plus frame-causal single-head attention of its group-normed
    positions (module docstring).

    Args:
        channels: C; groups: GroupNorm groups (32); eps: its epsilon (1e-6).
        attention_backend: as every block holding attention.
    """

    def __init__(self, channels: int, *, groups: int = 32, eps: float = 1e-6, attention_backend: str | None = None,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.channels = channels
        self.group_norm = nn.GroupNorm(groups, channels, eps=eps, device=device, dtype=dtype)
        self.attn = MultiHeadAttention(channels, 1, qkv_bias=True, device=device, dtype=dtype)
        configure_attention(self, attention_backend=attention_backend)

    def forward(self, x: Tensor) -> Tensor:
        check_video(x, channels=self.channels, where=type(self).__name__)
        b, c, t, h, w = x.shape
        tokens = self.group_norm(x).flatten(2).transpose(1, 2)  # b c t h w -> b (t h w) c
        y = self.attn.attend_tokens(tokens, mask=frame_causal_mask(t, h * w, x.device))
        return x + y.transpose(1, 2).reshape(b, c, t, h, w)  # b (t h w) c -> b c t h w
