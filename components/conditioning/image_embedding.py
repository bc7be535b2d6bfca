"""``conditioning/image_embedding``: a CLIP image embedding as the net's ``added_cond`` vector (Make-A-Video's
decoder D^t is conditioned on the CLIP image embedding x_e that the prior P produces from text; Singer et al. 2022,
§3): ``added_cond = CLIP(x).image_embeds``, (B, D). Given an image, its embedding stands in for the prior's output.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..registry import BadInput, register
from .clip_image import clip_pixels, clip_vision
from .encoder import ConditioningEncoder
from .images import as_image


@register(
    "conditioning", "image_embedding",
    paper="Singer et al. 2022 (Make-A-Video); Radford et al. 2021 (CLIP)",
    tiny=dict(added_cond_dim=4, hidden=16, layers=1, heads=2, image_size=16, patch_size=8),
    inputs=lambda cfg, batch=2, generator=None, **_: ((torch.rand(batch, 3, 16, 16, generator=generator) * 2 - 1,),
                                                      {}),
    output_shape=lambda cfg, image, **kw: (image.shape[0], cfg["added_cond_dim"]),
    bad_inputs=[BadInput(match="RGB", inputs=lambda cfg: ((torch.zeros(1, 4, 16, 16),), {}), why="4 channels")],
    dtypes=("float32",),
)
class ImageEmbeddingEncoder(ConditioningEncoder):
    """Image ``(B, 3, H, W)`` (or PIL) → ``{"added_cond": (B, added_cond_dim)}``.

    Args:
        added_cond_dim: CLIP projection size = the net's ``added_cond_dim`` (768 for ViT-L/14).
        hidden, layers, heads, image_size, patch_size: the CLIP vision tower's; pretrained: a local folder.
    """

    spatial_inputs = False  # the image is resized to CLIP's input size, not matched to the sampled size

    inputs, outputs, sized_by = ("image",), ("added_cond",), ("added_cond_dim",)

    def __init__(self, added_cond_dim: int = 768, *, hidden: int = 1024, layers: int = 24, heads: int = 16,
                 image_size: int = 224, patch_size: int = 14, pretrained: str | None = None) -> None:
        super().__init__()
        self.clip = clip_vision(added_cond_dim, hidden=hidden, layers=layers, heads=heads, image_size=image_size,
                                patch_size=patch_size, pretrained=pretrained)

    def load_parts(self, parts) -> None:
        """A folder's ``image_encoder`` (the CLIP vision tower)."""
        if parts.get("image_encoder") is not None:
            param = next(self.clip.parameters())
            self.clip = parts["image_encoder"].to(param.device).eval()

    def forward(self, image) -> dict[str, Tensor]:
        param = next(self.clip.parameters())
        x = as_image(image).to(param.device, param.dtype)
        return {"added_cond": self.clip(pixel_values=clip_pixels(x, self.clip.config.image_size)).image_embeds}
