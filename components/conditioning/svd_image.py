"""``conditioning/svd_image``: Stable Video Diffusion's image conditioning (Blattmann et al. 2023, §4; diffusers'
``StableVideoDiffusionPipeline``).

From one conditioning frame x ∈ [-1, 1]:
    concat     = E(x + s·ε) repeated over T frames, ε ~ N(0, I), s = noise_aug_strength (VAE mode, not scaled:
                 diffusers' ``_encode_vae_image``), (B, 4, T, h, w): the latents concatenated to the net's input;
    context    = CLIP image embedding of x (``CLIPVisionModelWithProjection.image_embeds``), (B, 1, D);
    added_cond = (fps − 1, motion_bucket_id, s), (B, 3): the micro-conditioning ``added_time_ids``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..registry import BadInput, build, register
from .clip_image import clip_pixels, clip_vision
from .encoder import ConditioningEncoder
from .images import as_image


def _redraw(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Redraw from ``generator`` every parameter the default init drew at random: weights uniform in ±1/√fan_in
    (the default Conv / Linear bound), biases zero; constant ones (norms, zero-initialised layers) stay. The same
    module on every call without touching the global RNG."""
    with torch.no_grad():
        for p in module.parameters():
            if p.numel() > 1 and not bool((p == p.flatten()[0]).all()):
                if p.ndim == 1:
                    p.zero_()
                else:
                    bound = p[0].numel() ** -0.5
                    p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) * bound)
    return module


def _example(cfg, batch=2, generator=None, **_):
    vae = build("net/video_autoencoder", base_channels=8, channel_mults=(1, 2), num_res_blocks=1, num_groups=4)
    vae = _redraw(vae, torch.Generator().manual_seed(0))  # the same VAE on every call
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
class SVDImageEncoder(ConditioningEncoder):
    """Image ``(B, 3, H, W)`` (or PIL) → ``{"context": (B, 1, D), "concat": (B, 4, T, h, w), "added_cond": (B, 3)}``.

    Args:
        context_dim: CLIP projection size D = the net's ``context_dim`` (1024 for SVD's ViT-H/14).
        hidden, layers, heads, image_size, patch_size: the CLIP vision tower's (ViT-H/14: 1280, 32, 16, 224, 14).
        pretrained: a local ``image_encoder`` folder (diffusers layout) instead of random weights.
    """

    inputs, outputs = ("image",), ("context", "concat", "added_cond")
    facts, sized_by = ("num_frames", "autoencoder", "generator"), ("context_dim",)

    def __init__(self, context_dim: int = 1024, *, hidden: int = 1280, layers: int = 32, heads: int = 16,
                 image_size: int = 224, patch_size: int = 14, pretrained: str | None = None) -> None:
        super().__init__()
        self.clip = clip_vision(context_dim, hidden=hidden, layers=layers, heads=heads, image_size=image_size,
                                patch_size=patch_size, pretrained=pretrained)

    def load_parts(self, parts) -> None:
        """A folder's ``image_encoder`` (the CLIP vision tower)."""
        if parts.get("image_encoder") is not None:
            param = next(self.clip.parameters())
            self.clip = parts["image_encoder"].to(param.device).eval()

    def forward(self, image, *, num_frames: int, autoencoder: nn.Module | None = None, fps: float = 7.0,
                motion_bucket_id: float = 127.0, noise_aug_strength: float = 0.02,
                generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """``autoencoder``: the pipeline's VAE (``net/video_autoencoder``) for the concatenated latents; without it
        only ``context`` and ``added_cond`` are returned."""
        param = next(self.clip.parameters())
        x = as_image(image).to(param.device, param.dtype)
        b = x.shape[0]
        out = {"context": self.clip(pixel_values=clip_pixels(x, self.clip.config.image_size)).image_embeds[:, None]}
        ids = torch.tensor([fps - 1, motion_bucket_id, noise_aug_strength], dtype=x.dtype, device=x.device)
        out["added_cond"] = ids.expand(b, 3)
        if autoencoder is not None:
            noise = torch.randn(x.shape, generator=generator, device=generator.device if generator else "cpu")
            noisy = x + noise_aug_strength * noise.to(x)
            z = autoencoder.encode(noisy[:, :, None])  # (B, 4, 1, h, w), the posterior mode
            out["concat"] = z.expand(-1, -1, num_frames, -1, -1)
        return out
