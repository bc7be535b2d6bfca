"""ControlVideo (Zhang et al.; arXiv 2305.13077) — code ``YBYBZhang/ControlVideo``.

Declarations only: ``net/controlled_unet`` = Stable Diffusion 1.5's U-Net (``zoo.stable_diffusion.SD1``) plus a
ControlNet (``net/control_branch``: copy of the encoder and middle block, ``cond_embed`` 16/32/96/256 from 512² maps to
64² latents, zero 1×1 convs), both applied per frame, with every self-attention replaced by fully cross-frame
attention (``attention/fully_cross_frame``: each frame's tokens attend to all frames' tokens; docs/papers.md §13
[V-code]). Training-free: the ControlNet is SD 1.5's (openpose / depth / canny), 361,279,120 parameters [C].
``model(x, t, context=..., control=...)`` with ``control`` ``(B, 3, T, 8·H, 8·W)`` (one map per frame).
Same initial noise for all frames, the interleaved-frame smoother (steps i = 30, 31 of 50) and the hierarchical
long-video sampler are sampling-time techniques (``wrapper/interleaved_smoother``, ``sampler/hierarchical``).
"""

from __future__ import annotations

from ..recipe import Preset, Published, Recipe, register_recipe
from .autoencoders import IMAGE_VAE
from .stable_diffusion import SD1, SD1_PARAMS, SD_SAMPLING, SD_TINY, TINY_SAMPLING


CONTROLNET_PARAMS = 361_279_120  # diffusers ControlNetModel(cross_attention_dim=768) [C], docs/papers.md §15

_FULLY_CROSS_FRAME = dict(spatial_block_kwargs={"attention": "fully_cross_frame"})

PRESETS = {
    "paper": Preset(
        dict(SD1, **_FULLY_CROSS_FRAME, control_channels=3, control_embedding_channels=(16, 32, 96, 256)),
        4, 15, 64, 64,
        Published(SD1_PARAMS + CONTROLNET_PARAMS, "[C]", "SD 1.5 U-Net 859,520,964 + SD 1.5 ControlNet 361,279,120 "
                                                         "(docs/papers.md §13, §15)"),
        "SD 1.5 + ControlNet with fully cross-frame attention: 15 frames × 512² (64² latents; the official code "
        "uses the input video's resolution), 50 DDIM steps, CFG 12.5"),
    "tiny": Preset(dict(SD_TINY, **_FULLY_CROSS_FRAME, control_embedding_channels=(4, 8)), 4, 3, 8, 8, None,
                   "CPU test size: control maps (B, 3, T, 16, 16)", sampling=TINY_SAMPLING),
}

RECIPE = register_recipe(Recipe(
    name="controlvideo",
    paper="Zhang et al. 2023, ControlVideo: Training-free Controllable Text-to-Video Generation (arXiv 2305.13077)",
    net="net/controlled_unet",
    presets=PRESETS,
    sampling=SD_SAMPLING.replace(guidance_kwargs={"scale": 12.5, "form": "scale"}),  # [V-code] 50 DDIM, CFG 12.5
    summary="training-free SD 1.5 + per-frame ControlNet with fully cross-frame attention (all frames' tokens as "
            "keys); control maps per frame via the `control` keyword",
    conditioning=("context", "control"),
    encoders={"context": "conditioning/text", "control": "conditioning/control"},
    autoencoder=IMAGE_VAE,
))
