"""The CLIP image tower shared by the image encoders (``conditioning/svd_image``, ``conditioning/image_embedding``):
``transformers.CLIPVisionModelWithProjection`` from a config or a local folder, and CLIP's input transform."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn


CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def clip_vision(embed_dim: int, *, hidden: int, layers: int, heads: int, image_size: int, patch_size: int,
                pretrained: str | None) -> nn.Module:
    """A ``transformers.CLIPVisionModelWithProjection`` from a config (random) or a local folder (never the hub)."""
    import transformers

    cls = transformers.CLIPVisionModelWithProjection
    if pretrained is not None:
        if not (Path(pretrained) / "config.json").is_file():
            raise ValueError(f"pretrained={str(pretrained)!r}: no config.json there (an image_encoder folder expected)")
        return cls.from_pretrained(pretrained, local_files_only=True, use_safetensors=True)
    return cls(transformers.CLIPVisionConfig(
        hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers, num_attention_heads=heads,
        image_size=image_size, patch_size=patch_size, projection_dim=embed_dim))


def clip_pixels(image: Tensor, size: int) -> Tensor:
    """CLIP's preprocessing of ``(B, 3, H, W)`` in [-1, 1]: bicubic antialiased resize to ``size``², to [0, 1],
    normalised by CLIP's mean / std (the model's own input transform, as diffusers' ``_encode_image``). Computed in
    fp32 and returned in ``image``'s dtype (CPU has no bf16 antialiased bicubic resize)."""
    x = F.interpolate(image.float(), size=(size, size), mode="bicubic", align_corners=True, antialias=True)
    x = ((x + 1) / 2).clamp(0, 1)
    mean, std = (torch.tensor(v, dtype=x.dtype, device=x.device).view(1, 3, 1, 1) for v in (CLIP_MEAN, CLIP_STD))
    return ((x - mean) / std).to(image.dtype)
