"""``conditioning/control``: ControlNet / ControlVideo control frames from a video: Sobel edge maps per frame
(|∇Y| of the luma, normalised to [0, 1] per clip, repeated to 3 channels), or a given map video (e.g. depth).

Control maps are in [0, 1], the range SD's ControlNets were trained on (diffusers' control image processor does not
normalise them to [-1, 1]); a given video, read in [-1, 1] like every input video, is mapped to (v + 1)/2.

    edges(x) = |∇Y| / max|∇Y|,  |∇Y| = sqrt((S_x ∗ Y)² + (S_y ∗ Y)²),  S_x = [[-1,0,1],[-2,0,2],[-1,0,1]]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from ..registry import BadInput, register
from .encoder import ConditioningEncoder
from .images import as_video, luminance, take_frames


def sobel_edges(video: Tensor) -> Tensor:
    """``(B, 3, T, H, W)`` in [-1, 1] → edge magnitude ``(B, 3, T, H, W)`` in [0, 1] (see the module docstring)."""
    b = video.shape[0]
    y = rearrange(luminance(video), "b 1 t h w -> (b t) 1 h w")
    sx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=y.dtype, device=y.device)
    kernel = torch.stack([sx, sx.T])[:, None]
    g = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), kernel).square().sum(1, keepdim=True).sqrt()
    g = rearrange(g, "(b t) 1 h w -> b 1 t h w", b=b)
    g = g / g.flatten(1).amax(1).clamp_min(1e-6).view(b, 1, 1, 1, 1)
    return g.expand(-1, 3, -1, -1, -1)


@register(
    "conditioning", "control",
    paper="Zhang et al. 2023 (ControlNet); Zhang et al. 2023 (ControlVideo)",
    tiny=dict(),
    inputs=lambda cfg, batch=2, generator=None, **_: ((torch.rand(batch, 3, 3, 8, 8, generator=generator) * 2 - 1,),
                                                      dict(num_frames=2)),
    output_shape=lambda cfg, video, num_frames, **kw: (video.shape[0], 3, num_frames, *video.shape[-2:]),
    bad_inputs=[BadInput(match="frames", inputs=lambda cfg: ((torch.zeros(1, 3, 1, 8, 8),), dict(num_frames=2)),
                         why="too few frames")],
)
class ControlEncoder(ConditioningEncoder):
    """Video (path, frames or ``(B, 3, T, H, W)``) → ``{"control": (B, 3, T, H, W)}`` in [0, 1]: Sobel edges
    (``mode="edges"``) or the video itself as the control map (``mode="given"``, e.g. a depth video: (v + 1)/2)."""

    inputs, outputs, facts = ("video",), ("control",), ("num_frames",)

    def __init__(self, mode: str = "edges") -> None:
        super().__init__()
        if mode not in ("edges", "given"):
            raise ValueError(f"mode must be 'edges' or 'given', got {mode!r}")
        self.mode = mode

    def forward(self, video, *, num_frames: int) -> dict[str, Tensor]:
        v = take_frames(as_video(video), num_frames)
        return {"control": sobel_edges(v) if self.mode == "edges" else (v + 1) / 2}
