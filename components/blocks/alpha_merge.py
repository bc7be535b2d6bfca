"""Learned alpha merge of a spatial and a temporal path (Video LDM's z ← α z + (1 − α) z′; SVD's ``AlphaBlender``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..checks import check_video
from ..registry import BadInput, register


MERGE_STRATEGIES = ("fixed", "learned", "learned_with_images")


def _pair(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    x_spatial = torch.randn(batch, 8, frames, 8, 8, generator=generator)
    x_temporal = torch.randn(batch, 8, frames, 8, 8, generator=generator)
    indicator = torch.zeros(batch, frames, dtype=torch.bool)
    indicator[0, 0] = True  # one image frame in the first clip, the rest video
    return (x_spatial, x_temporal), {"image_only_indicator": indicator}


def _mismatched(cfg: dict):
    return (torch.zeros(2, 8, 2, 8, 8), torch.zeros(2, 8, 3, 8, 8)), {}


def _bad_indicator(cfg: dict):
    x = torch.zeros(2, 8, 2, 8, 8)
    return (x, x), {"image_only_indicator": torch.zeros(2, 3, dtype=torch.bool)}


def _image(cfg: dict):
    x = torch.zeros(2, 8, 8, 8)
    return (x, x), {}


@register(
    "block", "alpha_merge", paper="Blattmann et al. 2023 (Video LDM); Blattmann et al. 2023 (SVD)",
    tiny=dict(merge_factor=0.5, merge_strategy="learned_with_images"), inputs=_pair,
    bad_inputs=[
        BadInput(match="x_temporal", inputs=_mismatched, why="spatial and temporal outputs differ in shape"),
        BadInput(match="image_only_indicator", inputs=_bad_indicator, why="indicator is not (B, T)"),
        BadInput(match="B C T H W", inputs=_image, why="a 4-D image"),
        BadInput(match="merge_strategy", init={"merge_strategy": "average"}, why="unknown strategy"),
    ],
)
class AlphaMerge(nn.Module):
    """``out = α · x_spatial + (1 − α) · x_temporal``: blends an image layer's output with the temporal layer after it.

    Shapes: ``x_spatial``, ``x_temporal`` ``(B, C, T, H, W)`` -> ``(B, C, T, H, W)``; α broadcasts as ``(B, 1, T, 1, 1)``.

    Video LDM §3.1 (z ← α z + (1 − α) z′, z spatial, z′ temporal) in the convention of SVD's ``AlphaBlender``
    (``sgm/modules/diffusionmodules/util.py``): α multiplies the **spatial** side, so α = 1 is exactly the image model.

    Args:
        merge_factor: ``fixed``: α itself (a buffer, in [0, 1]); ``learned``/``learned_with_images``: the initial
            logit m with α = sigmoid(m) (SVD's init 0.5, α ≈ 0.622).
        merge_strategy: ``fixed`` | ``learned`` | ``learned_with_images``. With ``learned_with_images`` frames flagged
            as images take the spatial path alone (α = 1), which is how joint image/video batches are trained.

    Forward keywords (``learned_with_images`` only): ``image_only_indicator`` ``(B, T)`` bool, True for image frames;
    or ``num_image_frames`` (int): the last N frames of every clip are images (VDM's appended-images layout).
    """

    def __init__(self, merge_factor: float = 0.5, merge_strategy: str = "learned_with_images", *,
                 device=None, dtype=None) -> None:
        super().__init__()
        if merge_strategy not in MERGE_STRATEGIES:
            raise ValueError(f"AlphaMerge: merge_strategy must be one of {MERGE_STRATEGIES}, got {merge_strategy!r}")
        if merge_strategy == "fixed" and not 0.0 <= merge_factor <= 1.0:
            raise ValueError(f"AlphaMerge: a fixed merge_factor is α itself and must lie in [0, 1], got {merge_factor}")
        self.merge_strategy = merge_strategy
        value = torch.tensor([float(merge_factor)], device=device, dtype=dtype)
        if merge_strategy == "fixed":
            self.register_buffer("merge_factor", value)
        else:
            self.merge_factor = nn.Parameter(value)

    def alpha(self, image_only_indicator: Tensor | None = None) -> Tensor:
        """α: a 1-element tensor, or ``(B, 1, T, 1, 1)`` when image frames are flagged."""
        alpha = self.merge_factor if self.merge_strategy == "fixed" else torch.sigmoid(self.merge_factor)
        if image_only_indicator is None:
            return alpha
        if self.merge_strategy != "learned_with_images":
            raise ValueError(
                f"AlphaMerge: image_only_indicator needs merge_strategy='learned_with_images', "
                f"got {self.merge_strategy!r}"
            )
        flags = image_only_indicator.bool()[:, None, :, None, None]
        return torch.where(flags, torch.ones_like(alpha), alpha)

    def forward(self, x_spatial: Tensor, x_temporal: Tensor, *, image_only_indicator: Tensor | None = None,
                num_image_frames: int | None = None) -> Tensor:
        check_video(x_spatial, "x_spatial", where="AlphaMerge")
        if x_temporal.shape != x_spatial.shape:
            raise ValueError(
                f"AlphaMerge: x_temporal must have the shape of x_spatial {tuple(x_spatial.shape)}, "
                f"got {tuple(x_temporal.shape)}"
            )
        b, _, t = x_spatial.shape[:3]
        if num_image_frames is not None:
            if image_only_indicator is not None:
                raise ValueError("AlphaMerge: give image_only_indicator or num_image_frames, not both")
            if not 0 <= num_image_frames <= t:
                raise ValueError(f"AlphaMerge: num_image_frames must be in [0, T={t}], got {num_image_frames}")
            image_only_indicator = torch.zeros(b, t, dtype=torch.bool, device=x_spatial.device)
            image_only_indicator[:, t - num_image_frames:] = True
        if image_only_indicator is not None and tuple(image_only_indicator.shape) != (b, t):
            raise ValueError(
                f"AlphaMerge: image_only_indicator must have shape (B, T) = ({b}, {t}), "
                f"got {tuple(image_only_indicator.shape)}"
            )
        alpha = self.alpha(image_only_indicator).to(x_spatial.dtype)
        return alpha * x_spatial + (1 - alpha) * x_temporal

    def extra_repr(self) -> str:
        return f"merge_strategy={self.merge_strategy!r}"
