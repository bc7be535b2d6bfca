"""Tiny random diffusers CogVideoX pipelines built offline from configs (tests, docs/use, benchmarks): never a download.

``tiny_cogvideox_pipeline(variant)`` is a ``CogVideoXPipeline`` (``"2b"``: sin-cos positions; ``"5b"``: rotary
positions), every part random-initialised from the small configs below; its sizes are the ``tiny`` presets of
zoo/recipes/cogvideox.py (``COGVIDEOX_T2V`` = ``TINY_NET``, ``COGVIDEOX_VAE`` = ``TINY_VAE``), so
``zoo.from_diffusers`` of its parts gives those presets' modules. The tokenizer is zoo/testing/tiny_wan.py's in-memory
``T5Tokenizer`` (pad 0, ``</s>`` 1), the text encoder a 2-layer ``T5EncoderModel`` of width 32; the scheduler is the
released ``CogVideoXDDIMScheduler`` config (diffusers scripts/convert_cogvideox_to_diffusers.py).
"""

from __future__ import annotations

import torch

from .tiny_pipelines import _perturb
from .tiny_wan import tiny_umt5_tokenizer


__all__ = ["COGVIDEOX_SCHEDULER", "COGVIDEOX_T2V", "COGVIDEOX_T5", "COGVIDEOX_VAE", "VARIANTS",
           "tiny_cogvideox_pipeline"]

# 2 heads × 16 (the rotary split needs a multiple of 16), 2 blocks, time embedding 16, text width = the T5's d_model;
# sample 8 × 8 latents: the rotary resize-crop rule's training grid is 4 × 4 tokens
COGVIDEOX_T2V = dict(num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4, time_embed_dim=16,
                     text_embed_dim=32, num_layers=2, sample_width=8, sample_height=8, sample_frames=9,
                     patch_size=2, max_text_seq_length=226)
# 4 levels of width 8: CogVideoX's real compression (4×8×8), 4 latent channels
COGVIDEOX_VAE = dict(block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2,
                     temporal_compression_ratio=4)
COGVIDEOX_T5 = dict(d_model=32, d_ff=64, d_kv=16, num_layers=2, num_heads=2, relative_attention_num_buckets=8,
                    relative_attention_max_distance=32, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
COGVIDEOX_SCHEDULER = dict(snr_shift_scale=3.0, beta_end=0.012, beta_schedule="scaled_linear", beta_start=0.00085,
                           clip_sample=False, num_train_timesteps=1000, prediction_type="v_prediction",
                           rescale_betas_zero_snr=True, set_alpha_to_one=True, timestep_spacing="trailing")
VARIANTS = ("2b", "5b")


def tiny_cogvideox_pipeline(variant: str = "5b", seed: int = 0):
    """A random diffusers ``CogVideoXPipeline`` of ``variant`` (one of ``VARIANTS``)."""
    import diffusers
    from transformers import T5Config, T5EncoderModel

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    torch.manual_seed(seed)
    tokenizer = tiny_umt5_tokenizer()
    tokenizer.model_max_length = 226
    text_encoder = T5EncoderModel(T5Config(vocab_size=len(tokenizer), **COGVIDEOX_T5)).eval()
    vae = diffusers.AutoencoderKLCogVideoX(**COGVIDEOX_VAE).eval()
    transformer = _perturb(diffusers.CogVideoXTransformer3DModel(
        **COGVIDEOX_T2V, use_rotary_positional_embeddings=variant == "5b"))
    scheduler = diffusers.CogVideoXDDIMScheduler(**COGVIDEOX_SCHEDULER)
    return diffusers.CogVideoXPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae,
                                       transformer=transformer, scheduler=scheduler)
