"""Tiny random diffusers Mochi models built offline from configs (tests, benchmarks): never a download.

``tiny_mochi_transformer()`` / ``tiny_mochi_vae()`` are a ``MochiTransformer3DModel`` and an ``AutoencoderKLMochi``
random-initialised from the small configs below; their sizes are the ``tiny`` preset of zoo/recipes/mochi.py
(``MOCHI_T2V`` = ``TINY_NET``, ``MOCHI_VAE`` = ``TINY_VAE``), so ``zoo.from_diffusers`` of them gives that preset's
modules. The transformer's weights are moved off the init (``_perturb``; its ``pos_frequencies`` start at 0 and would
leave the rotation untested otherwise).

``tiny_mochi_pipeline()`` is a whole ``MochiPipeline`` around them: a 2-layer ``T5EncoderModel`` of width 16
(``text_embed_dim``) with zoo/testing/tiny_wan.py's in-memory ``T5Tokenizer`` (pad 0, ``</s>`` 1; 256 tokens, the
pipeline's ``max_sequence_length``) and the released scheduler, ``FlowMatchEulerDiscreteScheduler(invert_sigmas=True)``.
The latents have 12 channels as the released model's: ``MochiPipeline`` reshapes the VAE's ``latents_mean`` /
``latents_std`` to 12 channels when it decodes; the tiny statistics (``TINY_LATENTS_MEAN`` / ``_STD`` of the recipe) are
off identity so the per-channel normalisation is exercised.
"""

from __future__ import annotations

import torch

from ..recipes.mochi import TINY_LATENTS_MEAN, TINY_LATENTS_STD
from .tiny_pipelines import _perturb
from .tiny_wan import tiny_umt5_tokenizer


__all__ = ["MOCHI_T2V", "MOCHI_T5", "MOCHI_VAE", "tiny_mochi_pipeline", "tiny_mochi_transformer", "tiny_mochi_vae"]

# 2 heads × 8, 2 blocks (the last context_pre_only), text stream 8 wide, T5 width 16 (the pool's 8 heads are fixed
# in diffusers' MochiCombinedTimestepCaptionEmbedding); 12 latent channels (MochiPipeline's decode assumes 12)
MOCHI_T2V = dict(patch_size=2, num_attention_heads=2, attention_head_dim=8, num_layers=2, pooled_projection_dim=8,
                 in_channels=12, text_embed_dim=16, time_embed_dim=256)
# Mochi's real compression (6×8×8: temporal 1, 2, 3; spatial 2, 2, 2) at width 32 (the VAE attention has 32-wide heads
# and GroupNorm 32 groups, both fixed in diffusers), one res-block per level, 12 latent channels
MOCHI_VAE = dict(encoder_block_out_channels=(32, 32, 32, 32), decoder_block_out_channels=(32, 32, 32, 32),
                 latent_channels=12, layers_per_block=(1, 1, 1, 1, 1), latents_mean=TINY_LATENTS_MEAN,
                 latents_std=TINY_LATENTS_STD)
# the text encoder: T5 of the transformer's text width
MOCHI_T5 = dict(d_model=16, d_ff=32, d_kv=8, num_layers=2, num_heads=2, relative_attention_num_buckets=8,
                relative_attention_max_distance=16, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
MAX_SEQUENCE_LENGTH = 256  # MochiPipeline's default max_sequence_length


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


def tiny_mochi_pipeline(seed: int = 0, *, force_zeros_for_empty_prompt: bool = False):
    """A random diffusers ``MochiPipeline`` (see the module docstring)."""
    import diffusers
    from transformers import T5Config, T5EncoderModel

    transformer, vae = tiny_mochi_transformer(seed), tiny_mochi_vae(seed)
    torch.manual_seed(seed + 1)
    tokenizer = tiny_umt5_tokenizer()
    tokenizer.model_max_length = MAX_SEQUENCE_LENGTH
    text_encoder = T5EncoderModel(T5Config(vocab_size=len(tokenizer), **MOCHI_T5)).eval()
    return diffusers.MochiPipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(invert_sigmas=True), vae=vae, text_encoder=text_encoder,
        tokenizer=tokenizer, transformer=transformer, force_zeros_for_empty_prompt=force_zeros_for_empty_prompt)
