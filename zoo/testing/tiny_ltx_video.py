"""A tiny random diffusers ``LTXVideoTransformer3DModel`` built offline from a config (tests, benchmarks): never a
download, at the latents' 128 channels shrunk to 8 — the ``ltx_video`` recipe's tiny preset (zoo/recipes/ltx_video.py
``TINY_NET``), over its tiny VAE of 8 latent channels."""

from __future__ import annotations

import torch

from .tiny_pipelines import _perturb


__all__ = ["LTX_VIDEO_T2V", "tiny_ltx_video_transformer"]

# 2 heads × 16 (width 32: 5 rotary frequencies per axis and 2 unrotated channels, as LTX's 2048 = 6·341 + 2),
# 2 blocks, text width 16
LTX_VIDEO_T2V = dict(in_channels=8, out_channels=8, num_attention_heads=2, attention_head_dim=16,
                     cross_attention_dim=32, num_layers=2, caption_channels=16)


def tiny_ltx_video_transformer(seed: int = 0):
    """A random diffusers ``LTXVideoTransformer3DModel`` of ``LTX_VIDEO_T2V`` (every weight perturbed from its
    initialisation, so zero-initialised parts are exercised)."""
    import diffusers

    torch.manual_seed(seed)
    return _perturb(diffusers.LTXVideoTransformer3DModel(**LTX_VIDEO_T2V)).eval()
