"""``conditioning/structure``: Gen-1's structure input (Esser et al. 2023, §3.2): a depth map of every frame,
blurred and down-sampled to the latent size, concatenated to the net's input (``concat``, B × 1 × T × h × w).

Without a depth estimator (MiDaS is not bundled) the depth *proxy* is the frame's luma; a given depth video
(``mode="given"``) is used as is. Down-sampling: area average by the latent factor (``factor``), then a 3×3 box blur.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from ..registry import BadInput, register
from .encoder import ConditioningEncoder
from .images import as_video, luminance, take_frames


@register(
    "conditioning", "structure",
    paper="Esser et al. 2023 (Gen-1, structure and content-guided video synthesis)",
    tiny=dict(factor=2),
    inputs=lambda cfg, batch=2, generator=None, **_: ((torch.rand(batch, 3, 3, 8, 8, generator=generator) * 2 - 1,),
                                                      dict(num_frames=2)),
    output_shape=lambda cfg, video, num_frames, **kw: (video.shape[0], 1, num_frames,
                                                       *(s // cfg["factor"] for s in video.shape[-2:])),
    bad_inputs=[BadInput(match="divisible", inputs=lambda cfg: ((torch.zeros(1, 3, 2, 7, 8),), dict(num_frames=2)),
                         why="H not divisible by the latent factor")],
)
class StructureEncoder(ConditioningEncoder):
    """Video → ``{"concat": (B, 1, T, H/factor, W/factor)}`` (``factor``: the autoencoder's spatial factor, 8 for
    SD's VAE); ``mode``: "luma" (the depth proxy) or "given" (the video's first channel is depth)."""

    inputs, outputs, facts, sized_by = ("video",), ("concat",), ("num_frames",), ("factor",)

    def __init__(self, factor: int = 8, mode: str = "luma") -> None:
        super().__init__()
        if mode not in ("luma", "given"):
            raise ValueError(f"mode must be 'luma' or 'given', got {mode!r}")
        self.factor, self.mode = factor, mode

    def forward(self, video, *, num_frames: int) -> dict[str, Tensor]:
        v = take_frames(as_video(video), num_frames)
        h, w = v.shape[-2:]
        if h % self.factor or w % self.factor:
            raise ValueError(f"video height={h}, width={w} must be divisible by the latent factor {self.factor}")
        d = luminance(v) if self.mode == "luma" else v[:, :1]
        d = rearrange(d, "b 1 t h w -> (b t) 1 h w")
        d = F.avg_pool2d(F.avg_pool2d(d, self.factor), 3, stride=1, padding=1, count_include_pad=False)
        return {"concat": rearrange(d, "(b t) 1 h w -> b 1 t h w", b=v.shape[0]).contiguous()}
