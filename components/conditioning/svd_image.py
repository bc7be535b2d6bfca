"""``conditioning/svd_image``: Stable Video Diffusion's image conditioning (Blattmann et al. 2023, §4; diffusers'
``StableVideoDiffusionPipeline``).

From one conditioning frame x ∈ [-1, 1]:
    concat     = E(x + s·ε) repeated over T frames, ε ~ N(0, I), s = noise_aug_strength (VAE mode, not scaled:
                 diffusers' ``_encode_vae_image``), (B, 4, T, h, w): the latents concatenated to the net's input;
    context    = CLIP image embedding of x (``CLIPVisionModelWithProjection.image_embeds``), (B, 1, D);
    added_cond = (fps − 1, motion_bucket_id, s), (B, 3): the micro-conditioning ``added_time_ids``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..registry import BadInput, register
from .images import as_image


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
    normalised by CLIP's mean / std (the model's own input transform, as diffusers' ``_encode_image``)."""
    x = F.interpolate(image, size=(size, size), mode="bicubic", align_corners=True, antialias=True)
    x = ((x + 1) / 2).clamp(0, 1)
    mean, std = (torch.tensor(v, dtype=x.dtype, device=x.device).view(1, 3, 1, 1) for v in (CLIP_MEAN, CLIP_STD))
    return (x - mean) / std


def _example(cfg, batch=2, generator=None, **_):
    from .. import build

    torch.manual_seed(0)
    vae = build("net/video_autoencoder", base_channels=8, channel_mults=(1, 2), num_res_blocks=1, num_groups=4)
    return ((torch.rand(batch, 3, 16, 16, generator=generator) * 2 - 1,),
            dict(num_frames=2, autoencoder=vae.eval(), noise_aug_strength=0.0))  # the suite reuses inputs


@register(
    "conditioning", "svd_image",
    paper="Blattmann et al. 2023 (Stable Video Diffusion)",
    tiny=dict(context_dim=16, hidden=16, layers=1, heads=2, image_size=16, patch_size=8),
    inputs=_example,
    output_shape=lambda cfg, image, **kw: (image.shape[0], 1, cfg["context_dim"]),
    bad_inputs=[BadInput(match="RGB", inputs=lambda cfg: ((torch.zeros(1, 1, 16, 16),), dict(num_frames=2)),
                         why="a grey image")],
    dtypes=("float32",),
)
class SVDImageEncoder(nn.Module):
    """Image ``(B, 3, H, W)`` (or PIL) → ``{"context": (B, 1, D), "concat": (B, 4, T, h, w), "added_cond": (B, 3)}``.

    Args:
        context_dim: CLIP projection size D = the net's ``context_dim`` (1024 for SVD's ViT-H/14).
        hidden, layers, heads, image_size, patch_size: the CLIP vision tower's (ViT-H/14: 1280, 32, 16, 224, 14).
        pretrained: a local ``image_encoder`` folder (diffusers layout) instead of random weights.
    """

    def __init__(self, context_dim: int = 1024, *, hidden: int = 1280, layers: int = 32, heads: int = 16,
                 image_size: int = 224, patch_size: int = 14, pretrained: str | None = None) -> None:
        super().__init__()
        self.image_size = image_size
        self.clip = clip_vision(context_dim, hidden=hidden, layers=layers, heads=heads, image_size=image_size,
                                patch_size=patch_size, pretrained=pretrained)

    def forward(self, image, *, num_frames: int, autoencoder: nn.Module | None = None, fps: float = 7.0,
                motion_bucket_id: float = 127.0, noise_aug_strength: float = 0.02,
                generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """``autoencoder``: the pipeline's VAE (``net/video_autoencoder``) for the concatenated latents; without it
        only ``context`` and ``added_cond`` are returned."""
        param = next(self.clip.parameters())
        x = as_image(image).to(param.device, param.dtype)
        b = x.shape[0]
        out = {"context": self.clip(pixel_values=clip_pixels(x, self.image_size)).image_embeds[:, None]}
        ids = torch.tensor([fps - 1, motion_bucket_id, noise_aug_strength], dtype=x.dtype, device=x.device)
        out["added_cond"] = ids.expand(b, 3)
        if autoencoder is not None:
            noise = torch.randn(x.shape, generator=generator, device=generator.device if generator else "cpu")
            noisy = x + noise_aug_strength * noise.to(x)
            z = autoencoder.encode(noisy[:, :, None])  # (B, 4, 1, h, w), the posterior mode
            out["concat"] = z.expand(-1, -1, num_frames, -1, -1)
        return out
