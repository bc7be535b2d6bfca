"""Tiny random diffusers Wan pipelines built offline from configs (tests, docs/use, benchmarks): never a download.

``tiny_wan_pipeline(variant)`` is a ``WanPipeline`` (``"t2v"``: Wan 2.1 T2V; ``"t2v_a14b"``: Wan 2.2 A14B's two
experts with ``boundary_ratio``; ``"ti2v"``: Wan 2.2 TI2V 5B, the 48-channel VAE with ``expand_timesteps``) or a
``WanImageToVideoPipeline`` (``"i2v"``: Wan 2.1 I2V, CLIP image tokens and the 4 + 16 channel first-frame
condition), every part random-initialised from the small configs below; ``save_pretrained`` of it is a "tiny
weights folder" (``zoo.testing.tiny_folders``). Sizes are the diffusers test suite's Wan configs
(tests/pipelines/wan/test_wan*.py) with the transformer's text width = the tiny UMT5's ``d_model``.

The tokenizer is a ``T5Tokenizer`` (Unigram, as umt5-xxl's; pad = 0, ``</s>`` = 1 appended) over a character
vocabulary built in memory: no sentencepiece file, no hub. Wan pads prompts to 512 tokens and diffusers' I2V attention
splits image from text tokens by that 512 (``WanAttnProcessor``), so the tiny text encoder keeps 512.
Transformer weights are moved off their initialisation (``_perturb``) so every weight matters in a comparison.
"""

from __future__ import annotations

import string

import torch

from .tiny_pipelines import _perturb


__all__ = ["VARIANTS", "WAN21_VAE", "WAN22_VAE", "WAN_CLIP", "WAN_I2V", "WAN_T2V", "WAN_TI2V", "WAN_UMT5",
           "tiny_umt5_tokenizer", "tiny_wan_pipeline"]

# the tiny T2V transformer (diffusers' test config, text_dim = WAN_UMT5's d_model, rope_max_seq_len at its default
# 1024 as every release): 2 heads × 12, 2 blocks
WAN_T2V = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
               text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
               qk_norm="rms_norm_across_heads")
# Wan 2.1 I2V: x (16) + mask (4) + first-frame latents (16); CLIP tokens of width 16 into added K/V of the inner width
WAN_I2V = {**WAN_T2V, "in_channels": 36, "image_dim": 16, "added_kv_proj_dim": 24}
# Wan 2.2 TI2V 5B: the 48-channel latents of the 2.2 VAE
WAN_TI2V = {**WAN_T2V, "in_channels": 48, "out_channels": 48}
# the 2.1 VAE: 3 spatial (÷ 8) and 2 temporal (÷ 4) downsamplings, 16 latent channels (latents_mean / std: diffusers'
# defaults, the real 2.1 statistics)
WAN21_VAE = dict(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
# the 2.2 VAE: residual blocks, a 2 × 2 patchify in front (÷ 16 in all), 48 latent channels; the statistics are
# stand-ins (mean 0.1 c / 48, std 1 + c / 48 per channel c): every channel is normalised differently
WAN22_VAE = dict(base_dim=8, z_dim=48, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True],
                 is_residual=True, in_channels=12, out_channels=12, patch_size=2, scale_factor_spatial=16,
                 latents_mean=[0.1 * c / 48 for c in range(48)], latents_std=[1 + c / 48 for c in range(48)])
WAN_UMT5 = dict(d_model=32, d_ff=64, d_kv=16, num_layers=2, num_heads=2, relative_attention_num_buckets=8,
                relative_attention_max_distance=32, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
# CLIPVisionModel (Wan uses its penultimate hidden states); image_size 32 (the tiny videos' size, so CLIP sees the
# image unresized on both sides), patch 8: 16 + 1 tokens of width 16
WAN_CLIP = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                patch_size=8)
# Wan 2.1's UniPC (the released scheduler_config.json) and 2.2's (flow_shift 5)
SCHEDULER = dict(prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, solver_order=2,
                 beta_schedule="linear", beta_start=0.0001, beta_end=0.02)
VARIANTS = ("t2v", "i2v", "ti2v", "t2v_a14b")


def tiny_umt5_tokenizer():
    """A ``T5Tokenizer`` over printable ASCII characters (Unigram pieces, each word prefixed by ``▁``): pad 0,
    ``</s>`` 1 (appended to every prompt), ``<unk>`` 2, no sentinels."""
    from transformers import T5Tokenizer

    chars = sorted(set(string.printable) - set(string.whitespace))
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0), *((c, -3.0) for c in chars)]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=512)


def tiny_wan_pipeline(variant: str = "t2v", seed: int = 0):
    """A random diffusers Wan pipeline of ``variant`` (one of ``VARIANTS``; see the module docstring)."""
    import diffusers
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    torch.manual_seed(seed)
    tokenizer = tiny_umt5_tokenizer()
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), **WAN_UMT5)).eval()
    wan22 = variant == "ti2v"
    vae = diffusers.AutoencoderKLWan(**(WAN22_VAE if wan22 else WAN21_VAE)).eval()
    scheduler = diffusers.UniPCMultistepScheduler(**SCHEDULER, flow_shift=5.0 if variant in ("ti2v", "t2v_a14b")
                                                  else 3.0)
    net = {"t2v": WAN_T2V, "i2v": WAN_I2V, "ti2v": WAN_TI2V, "t2v_a14b": WAN_T2V}[variant]
    transformer = _perturb(diffusers.WanTransformer3DModel(**net))
    parts = dict(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer)
    if variant == "i2v":
        image_encoder = CLIPVisionModel(CLIPVisionConfig(**WAN_CLIP)).eval()
        size = WAN_CLIP["image_size"]
        return diffusers.WanImageToVideoPipeline(**parts, image_encoder=image_encoder,
                                                 image_processor=CLIPImageProcessor(size=size, crop_size=size))
    if variant == "t2v_a14b":  # the low-noise expert below t = 0.875 × 1000
        return diffusers.WanPipeline(**parts, transformer_2=_perturb(diffusers.WanTransformer3DModel(**net)),
                                     boundary_ratio=0.875)
    return diffusers.WanPipeline(**parts, expand_timesteps=wan22)
