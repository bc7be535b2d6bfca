"""A tiny random diffusers ``LTXVideoTransformer3DModel`` and ``LTXPipeline`` built offline from configs (tests,
benchmarks, ``--weights`` folders): never a download, at the latents' 128 channels shrunk to 8 — the ``ltx_video``
recipe's tiny preset (zoo/recipes/ltx_video.py ``TINY_NET`` over ``TINY_VAE``).

The pipeline's VAE is ``TINY_VAE`` in diffusers' words (LTX's real 32×32×8 compression, the 0.9.1 decoder layout) with
stand-in per-channel ``latents_mean`` / ``latents_std`` buffers (so the latent normalisation is exercised); the
tokenizer is zoo/testing/tiny_wan.py's in-memory ``T5Tokenizer`` (pad 0, ``</s>`` 1), the text encoder a 2-layer
``T5EncoderModel`` of the transformer's ``caption_channels``; the scheduler is the released one
(diffusers scripts/convert_ltx_to_diffusers.py: dynamic shifting 0.95…2.05 over 1,024…4,096 tokens, terminal 0.1).
"""

from __future__ import annotations

import torch

from .tiny_pipelines import _perturb
from .tiny_wan import tiny_umt5_tokenizer


__all__ = ["LTX_VIDEO_SCHEDULER", "LTX_VIDEO_T2V", "LTX_VIDEO_T5", "LTX_VIDEO_VAE", "tiny_ltx_video_pipeline",
           "tiny_ltx_video_transformer"]

# 2 heads × 16 (width 32: 5 rotary frequencies per axis and 2 unrotated channels, as LTX's 2048 = 6·341 + 2),
# 2 blocks, text width 16
LTX_VIDEO_T2V = dict(in_channels=8, out_channels=8, num_attention_heads=2, attention_head_dim=16,
                     cross_attention_dim=32, num_layers=2, caption_channels=16)
# = zoo/recipes/ltx_video.py TINY_VAE: patch 4 and three scaled levels (32×32×8 -> 8 channels), 0.9.1 decoder
LTX_VIDEO_VAE = dict(latent_channels=8, block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
                     spatio_temporal_scaling=(True, True, True, False), decoder_block_out_channels=(8, 16, 32),
                     decoder_layers_per_block=(1, 1, 1, 1), decoder_spatio_temporal_scaling=(True, True, True),
                     decoder_inject_noise=(True, True, True, False), upsample_residual=(True, True, True),
                     upsample_factor=(2, 2, 2), timestep_conditioning=True, patch_size=4)
LTX_VIDEO_T5 = dict(d_model=16, d_ff=32, d_kv=8, num_layers=2, num_heads=2, relative_attention_num_buckets=8,
                    relative_attention_max_distance=32, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
LTX_VIDEO_SCHEDULER = dict(use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024,
                           max_image_seq_len=4096, shift_terminal=0.1)


def tiny_ltx_video_transformer(seed: int = 0):
    """A random diffusers ``LTXVideoTransformer3DModel`` of ``LTX_VIDEO_T2V`` (every weight perturbed from its
    initialisation, so zero-initialised parts are exercised)."""
    import diffusers

    torch.manual_seed(seed)
    return _perturb(diffusers.LTXVideoTransformer3DModel(**LTX_VIDEO_T2V)).eval()


def tiny_ltx_video_pipeline(seed: int = 0):
    """A random diffusers ``LTXPipeline``: ``tiny_ltx_video_transformer(seed)``, the ``LTX_VIDEO_VAE`` (perturbed, its
    latent statistics stand-ins), a T5 text encoder of width 16 and its tokenizer (128 tokens)."""
    import diffusers
    from transformers import T5Config, T5EncoderModel

    transformer = tiny_ltx_video_transformer(seed)
    torch.manual_seed(seed + 1)
    tokenizer = tiny_umt5_tokenizer()
    tokenizer.model_max_length = 128
    text_encoder = T5EncoderModel(T5Config(vocab_size=len(tokenizer), **LTX_VIDEO_T5)).eval()
    vae = _perturb(diffusers.AutoencoderKLLTXVideo(**LTX_VIDEO_VAE), 0.02)
    channels = LTX_VIDEO_VAE["latent_channels"]
    with torch.no_grad():
        vae.latents_mean.copy_(0.1 * torch.randn(channels))
        vae.latents_std.copy_(1 + 0.5 * torch.rand(channels))
    return diffusers.LTXPipeline(scheduler=diffusers.FlowMatchEulerDiscreteScheduler(**LTX_VIDEO_SCHEDULER), vae=vae,
                                 text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer)
