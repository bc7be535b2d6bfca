"""Text2Video-Zero (Khachatryan et al., Picsart; arXiv 2303.13439, ICCV 2023) — code
``Picsart-AI-Research/Text2Video-Zero``.

Declarations only: Stable Diffusion 1.5's U-Net (``zoo.stable_diffusion.SD1``) with every self-attention replaced by
cross-frame attention (``attention/cross_frame``: queries from frame k, keys/values from frame 0; E14, docs/papers.md
§12.2 [V-code]). Training-free: no new parameters, so the count is SD's 859,520,964 and SD weights load unchanged.
The motion dynamics in the latent codes (DDIM to T' = 881, warp by λ·k·(12, 12) px, DDPM re-noise to T = 941) and
background smoothing are sampling-time techniques (``components/diffusion``), not part of the net.
"""

from __future__ import annotations

from ..recipe import Preset, Recipe, register_recipe
from .autoencoders import IMAGE_VAE
from .stable_diffusion import SD1, SD1_COUNT, SD_SAMPLING, SD_TINY, TINY_SAMPLING


_CROSS_FRAME = dict(spatial_block_kwargs={"attention": "cross_frame"})

PRESETS = {
    "paper": Preset(dict(SD1, **_CROSS_FRAME), 4, 8, 64, 64, SD1_COUNT,
                    "SD 1.5 with cross-frame attention: 8 frames × 512² (64² latents), 50 DDIM steps, CFG 7.5 "
                    "(diffusers TextToVideoZeroPipeline defaults, docs/papers.md §12.4 [V-code])"),
    "tiny": Preset(dict(SD_TINY, **_CROSS_FRAME), 4, 3, 8, 8, None, "CPU test size", sampling=TINY_SAMPLING),
}

RECIPE = register_recipe(Recipe(
    name="text2video_zero",
    paper="Khachatryan et al. 2023, Text2Video-Zero: Text-to-Image Diffusion Models are Zero-Shot Video Generators "
          "(arXiv 2303.13439, ICCV 2023)",
    net="net/space_time_unet",
    presets=PRESETS,
    sampling=SD_SAMPLING,  # [V-code] DDIM 50 steps (981 … 1), CFG 7.5, eta 0
    summary="training-free SD 1.5 with cross-frame attention to the first frame (no new parameters); motion via "
            "warped latents at sampling time",
    conditioning=("context",),
    encoders={"context": "conditioning/text"},
    autoencoder=IMAGE_VAE,
))
