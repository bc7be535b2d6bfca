"""Tiny random diffusers HunyuanVideo models built offline from configs (tests, benchmarks): never a download.

``tiny_hunyuan_video_transformer()`` / ``tiny_hunyuan_video_vae()`` are a ``HunyuanVideoTransformer3DModel`` and an
``AutoencoderKLHunyuanVideo`` random-initialised from the small configs below; their sizes are the ``tiny`` preset of
zoo/recipes/hunyuan_video.py (``HUNYUAN_VIDEO_T2V`` = ``TINY_NET``, ``HUNYUAN_VIDEO_VAE`` = ``TINY_VAE``), so
``zoo.from_diffusers`` of them gives that preset's modules. The transformer's weights are moved off the init
(``_perturb``) so the zero-initialised gates are exercised.
"""

from __future__ import annotations

import torch

from .tiny_pipelines import _perturb


__all__ = ["HUNYUAN_VIDEO_T2V", "HUNYUAN_VIDEO_VAE", "tiny_hunyuan_video_transformer", "tiny_hunyuan_video_vae"]

# 2 heads × 10 (rope split (2, 4, 4)), 1 dual + 1 single block, 1 refiner block, text width 16, pooled width 8
HUNYUAN_VIDEO_T2V = dict(in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=10, num_layers=1,
                         num_single_layers=1, num_refiner_layers=1, patch_size=2, patch_size_t=1, text_embed_dim=16,
                         pooled_projection_dim=8, rope_axes_dim=(2, 4, 4), guidance_embeds=True)
# 4 levels of width 8: HunyuanVideo's real compression (4×8×8), 4 latent channels
HUNYUAN_VIDEO_VAE = dict(block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2)


def tiny_hunyuan_video_transformer(seed: int = 0):
    """A random diffusers ``HunyuanVideoTransformer3DModel`` of ``HUNYUAN_VIDEO_T2V`` (eval mode)."""
    import diffusers

    torch.manual_seed(seed)
    return _perturb(diffusers.HunyuanVideoTransformer3DModel(**HUNYUAN_VIDEO_T2V)).eval()


def tiny_hunyuan_video_vae(seed: int = 0):
    """A random diffusers ``AutoencoderKLHunyuanVideo`` of ``HUNYUAN_VIDEO_VAE`` (eval mode)."""
    import diffusers

    torch.manual_seed(seed)
    return diffusers.AutoencoderKLHunyuanVideo(**HUNYUAN_VIDEO_VAE).eval()
