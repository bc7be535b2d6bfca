"""Tune-A-Video (Wu et al.; arXiv 2212.11565, ICCV 2023) — official code ``showlab/Tune-A-Video``.

Declarations only: Stable Diffusion 1.4's U-Net (``zoo.stable_diffusion.SD1``) inflated to video. Convs are
space-only (``InflatedConv3d``), and every transformer is ``block/tune_a_video``: sparse-causal self-attention
(``attn1``, frame i attends to frames 0 and i − 1 with SD's weights), text cross-attention, feed-forward, then a new
temporal attention (``norm_temp`` + ``attn_temp``, zero output projection, no frame positions) — docs/papers.md §7.1
[V-code]. One-shot tuning trains only ``attn1.to_q``, ``attn2.to_q`` and ``attn_temp`` (``Recipe.trainable``; the
official ``trainable_modules`` matched by name suffix, so ``norm_temp`` stays frozen).

Counts (docs/papers.md §15, [C]): 909,120,004 = SD 859,520,964 + 16 blocks × (attn_temp + norm_temp) 49,599,040;
trainable 74,354,880 = attn_temp 49,574,080 + attn1.to_q 12,390,400 + attn2.to_q 12,390,400.
"""

from __future__ import annotations

from ..recipe import Preset, Published, Recipe, register_recipe
from .autoencoders import IMAGE_VAE
from .stable_diffusion import SD1, SD_SAMPLING, SD_TINY, TINY_SAMPLING


_INFLATE = dict(spatial_block="block/tune_a_video")

TRAINABLE_PARAMS = 74_354_880
# Module-name suffixes Tune-A-Video fine-tunes (official ``configs/*.yaml`` ``trainable_modules``): the query
# projections of the sparse-causal self-attention and of the text cross-attention, and the whole new temporal
# attention. Matched as the official training script does (``name.endswith(suffix)``, ``Recipe.mark_trainable``), so
# ``norm_temp``, keys/values, feed-forwards, norms and convs keep the image model's weights.
TRAINABLE = ("attn1.to_q", "attn2.to_q", "attn_temp")

PRESETS = {
    "paper": Preset(
        dict(SD1, **_INFLATE), 4, 24, 64, 64,
        Published(909_120_004, "[C]", "SD-1.x U-Net + 49,599,040 temporal parameters; trainable 74,354,880 "
                                      "(docs/papers.md §7.1, §15)"),
        "SD 1.4 inflated: 24 frames × 512² (64² latents; config man-skiing.yaml; the paper reportedly samples 32 "
        "[M]); DDIM inversion of the source video (50 steps) gives x_T, then 50 DDIM steps, CFG 12.5"),
    "tiny": Preset(dict(SD_TINY, **_INFLATE), 4, 3, 8, 8, Published(None, "[ours]", "CPU test size"), "CPU test size",
                   sampling=TINY_SAMPLING),
}

RECIPE = register_recipe(Recipe(
    name="tune_a_video",
    paper="Wu et al. 2023, Tune-A-Video: One-Shot Tuning of Image Diffusion Models for Text-to-Video Generation "
          "(arXiv 2212.11565, ICCV 2023)",
    net="net/space_time_unet",
    presets=PRESETS,
    # [V-code] configs/man-skiing.yaml: 50 DDIM steps, guidance 12.5 (x_T from DDIM inversion, sampler/ddim_inversion)
    sampling=SD_SAMPLING.replace(guidance_kwargs={"scale": 12.5, "form": "scale"}),
    summary="SD 1.4 inflated: sparse-causal self-attention (frames 0 and i-1) + zero-init temporal attention in every "
            "transformer; one-shot tuning of attn1.to_q, attn2.to_q, attn_temp",
    conditioning=("context",),
    encoders={"context": "conditioning/text"},
    autoencoder=IMAGE_VAE,
    trainable=TRAINABLE,
))
