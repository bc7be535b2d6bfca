"""Tiny random diffusers-format weights folders that fit each recipe's ``tiny`` preset (tests, the docs/use pages):
``tiny_weights_folder(name, directory)`` writes what ``save_pretrained`` writes for a real checkpoint, so
``python -m zoo sample NAME --preset tiny --weights DIR`` and ``load_pretrained_folder`` run offline.

Sizes follow the tiny presets' interfaces (``context_dim``, latent channels, control maps) and the converters'
constraints: SVD's temporal-decoder VAE has ``layers_per_block=2`` (``vae_temporal.py``), SVD's CLIP image tower
takes 16×16 inputs like ``conditioning/svd_image``'s tiny one. Everything else is ``tiny_pipelines``' components; the
Wan recipes' folders are ``tiny_wan``'s pipelines (their tiny presets are declared from those sizes), LTX-Video's
``tiny_ltx_video``'s ``LTXPipeline``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch

from .tiny_ltx_video import tiny_ltx_video_pipeline
from .tiny_pipelines import _VAE, T2V_SCHEDULER, _perturb, tiny_svd_pipeline, tiny_t2v_pipeline, write_tiny_clip_vocab
from .tiny_wan import tiny_wan_pipeline


__all__ = ["SD_UNET", "WAN_VARIANTS", "tiny_sd_pipeline", "tiny_weights_folder"]

# Wan recipe -> the tiny_wan pipeline variant its folder is (the 1.3B and 14B T2V differ only in size)
WAN_VARIANTS = {"wan2_1_t2v_1_3b": "t2v", "wan2_1_t2v_14b": "t2v", "wan2_1_i2v_14b": "i2v", "wan2_2_ti2v_5b": "ti2v",
                "wan2_2_t2v_a14b": "t2v_a14b"}

# a two-level SD U-Net whose interface is zoo.recipes.stable_diffusion.SD_TINY's (context_dim 8, 4 latent channels)
SD_UNET = dict(block_out_channels=(32, 64), layers_per_block=1, cross_attention_dim=8, attention_head_dim=2,
               norm_num_groups=8, in_channels=4, out_channels=4, sample_size=8,
               down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
# its ControlNet: two embedding widths = a map-to-latent factor of 2, as controlvideo's tiny preset
CONTROLNET = {k: v for k, v in SD_UNET.items() if k not in ("out_channels", "sample_size", "up_block_types")}


def tiny_sd_pipeline(directory, seed: int = 0, *, controlnet: bool = False):
    """A random ``StableDiffusionPipeline`` (``StableDiffusionControlNetPipeline`` with ``controlnet``) on 16×16
    images; the tokenizer's vocabulary files are written into ``directory``."""
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    vocab = write_tiny_clip_vocab(directory)
    tokenizer = CLIPTokenizer(str(vocab / "vocab.json"), str(vocab / "merges.txt"), model_max_length=77)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=SD_UNET["cross_attention_dim"], num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=16, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
        pad_token_id=1)).eval()
    parts = dict(vae=diffusers.AutoencoderKL(**_VAE, up_block_types=("UpDecoderBlock2D",) * 2).eval(),
                 text_encoder=text_encoder, tokenizer=tokenizer,
                 unet=_perturb(diffusers.UNet2DConditionModel(**SD_UNET)),
                 scheduler=diffusers.DDIMScheduler(**T2V_SCHEDULER), safety_checker=None, feature_extractor=None,
                 requires_safety_checker=False)
    if not controlnet:
        return diffusers.StableDiffusionPipeline(**parts)
    net = _perturb(diffusers.ControlNetModel(**CONTROLNET, conditioning_embedding_out_channels=(8, 16)))
    return diffusers.StableDiffusionControlNetPipeline(**parts, controlnet=net)


def _svd_folder_pipeline(seed: int):
    import diffusers
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    pipe = tiny_svd_pipeline(seed)
    torch.manual_seed(seed + 1)
    pipe.vae = _perturb(diffusers.AutoencoderKLTemporalDecoder(**{**_VAE, "layers_per_block": 2}), 0.02)
    pipe.image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=16, projection_dim=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        image_size=16, patch_size=8)).eval()
    return pipe


def tiny_weights_folder(name: str, directory, seed: int = 0) -> Path:
    """Write a random diffusers-format folder for recipe ``name`` (``svd``, ``svd_xt``, ``modelscope_t2v``,
    ``stable_diffusion``, ``tune_a_video``, ``text2video_zero``, ``controlvideo``, ``ltx_video``, the Wan recipes of
    ``WAN_VARIANTS``) into ``directory``; returns it."""
    directory = Path(directory)
    vocab = Path(tempfile.mkdtemp())  # the tokenizer's own files are saved into tokenizer/
    builders = {"svd": lambda: _svd_folder_pipeline(seed), "svd_xt": lambda: _svd_folder_pipeline(seed),
                "modelscope_t2v": lambda: tiny_t2v_pipeline(vocab, seed),
                "controlvideo": lambda: tiny_sd_pipeline(vocab, seed, controlnet=True)}
    builders.update({n: (lambda: tiny_sd_pipeline(vocab, seed)) for n in ("stable_diffusion", "tune_a_video",
                                                                        "text2video_zero")})
    builders.update({n: (lambda v=v: tiny_wan_pipeline(v, seed)) for n, v in WAN_VARIANTS.items()})
    builders["ltx_video"] = lambda: tiny_ltx_video_pipeline(seed)
    if name not in builders:
        raise ValueError(f"name must be one of {sorted(builders)}, got {name!r}")
    try:
        builders[name]().save_pretrained(directory, safe_serialization=True)
    finally:
        shutil.rmtree(vocab, ignore_errors=True)
    return directory
