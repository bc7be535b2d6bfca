"""Tiny random diffusers Mochi models built offline from configs (tests, benchmarks): never a download.

``tiny_mochi_transformer()`` / ``tiny_mochi_vae()`` are a ``MochiTransformer3DModel`` and an ``AutoencoderKLMochi``
random-initialised from the small configs below; their sizes are the ``tiny`` preset of zoo/recipes/mochi.py
(``MOCHI_T2V`` = ``TINY_NET``, ``MOCHI_VAE`` = ``TINY_VAE``), so ``zoo.from_diffusers`` of them gives that preset's
modules. The transformer's weights are moved off the init (``_perturb``; its ``pos_frequencies`` start at 0 and would
leave the rotation untested otherwise).
"""

from __future__ import annotations

import torch

from .tiny_pipelines import _perturb


__all__ = ["MOCHI_T2V", "MOCHI_VAE", "tiny_mochi_transformer", "tiny_mochi_vae"]

# 2 heads × 8, 2 blocks (the last context_pre_only), text stream 8 wide, T5 width 16 (the pool's 8 heads are fixed
# in diffusers' MochiCombinedTimestepCaptionEmbedding)
MOCHI_T2V = dict(patch_size=2, num_attention_heads=2, attention_head_dim=8, num_layers=2, pooled_projection_dim=8,
                 in_channels=4, text_embed_dim=16, time_embed_dim=256)
# Mochi's real compression (6×8×8: temporal 1, 2, 3; spatial 2, 2, 2) at width 32 (the VAE attention has 32-wide heads
# and GroupNorm 32 groups, both fixed in diffusers), one res-block per level, 4 latent channels
MOCHI_VAE = dict(encoder_block_out_channels=(32, 32, 32, 32), decoder_block_out_channels=(32, 32, 32, 32),
                 latent_channels=4, layers_per_block=(1, 1, 1, 1, 1), latents_mean=(0.0,) * 4, latents_std=(1.0,) * 4)


def tiny_mochi_transformer(seed: int = 0):
    """A random diffusers ``MochiTransformer3DModel`` of ``MOCHI_T2V`` (eval mode)."""
    import diffusers

    torch.manual_seed(seed)
    return _perturb(diffusers.MochiTransformer3DModel(**MOCHI_T2V)).eval()


def tiny_mochi_vae(seed: int = 0):
    """A random diffusers ``AutoencoderKLMochi`` of ``MOCHI_VAE`` (eval mode)."""
    import diffusers

    torch.manual_seed(seed)
    return diffusers.AutoencoderKLMochi(**MOCHI_VAE).eval()
