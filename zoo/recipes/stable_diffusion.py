"""Stable Diffusion's image U-Net (Rombach et al. 2022, LDM; SD 1.x / 2.x checkpoints) as a ``net/space_time_unet``.

Declarations only. ``temporal="none"`` makes the assembler an image U-Net applied to every frame (space-only convs,
per-frame GroupNorm and attention), so T = 1 is exactly the image model and T > 1 runs it per frame: the base that
Tune-A-Video, Text2Video-Zero, ControlVideo and Gen-1 inflate (their recipes start from ``SD1`` / ``SD2`` here).

Layout of ``UNet2DConditionModel`` (diffusers 0.42.1 defaults = the SD checkpoints' configs): 320 × (1, 2, 4, 4),
2 res-blocks per level (3 in the decoder), cross-attention transformers at levels 0–2 and in the middle block, a
plain (not scale-shift) time projection in every res-block, a 2-layer 320 → 1280 → 1280 time MLP on integer
timesteps (``time_scale=1``), GEGLU feed-forward ×4, no zero-init output. SD 1.x: 8 heads at every width, CLIP
ViT-L/14 text (768), 1×1-conv ``proj_in``/``proj_out``; SD 2.x: head size 64 (5/10/20/20 heads), OpenCLIP ViT-H
text (1024), linear ``proj_in``/``proj_out`` (same parameter count; the converter reshapes).
"""

from __future__ import annotations

from ..recipe import Preset, Published, Recipe, Sampling, register_recipe
from .autoencoders import IMAGE_VAE


SD1 = dict(in_channels=4, base_channels=320, channel_mults=(1, 2, 4, 4), num_res_blocks=2, attention_levels=(0, 1, 2),
           temporal="none", num_heads=8, context_dim=768, emb_dim=1280, num_groups=32, scale_shift=False,
           zero_init_output=False, time_scale=1.0)
SD2 = {**{k: v for k, v in SD1.items() if k != "num_heads"}, "head_dim": 64, "context_dim": 1024}
# a CPU-test SD: two levels, attention at level 0 and in the middle block (as SD: none at the last level)
SD_TINY = dict(SD1, base_channels=16, channel_mults=(1, 2), num_res_blocks=1, attention_levels=(0,), num_heads=2,
               context_dim=8, emb_dim=32, num_groups=4, transformer_ff_mult=1.0)

SD1_PARAMS = 859_520_964
SD1_COUNT = Published(SD1_PARAMS, "[C]", "diffusers 0.42.1 UNet2DConditionModel(cross_attention_dim=768) on meta "
                                         "(docs/papers.md §15)")

# SD's DDIM sampler: scaled-linear β (0.00085 → 0.012, 1000 steps), ε-prediction, 50 DDIM steps, CFG 7.5 in the
# "scale" form, integer timesteps [V-code: diffusers StableDiffusionPipeline defaults]
SD_SAMPLING = Sampling(
    schedule="schedule/scaled_linear", parameterization="parameterization/eps", sampler="sampler/ddim",
    sampler_kwargs={"eta": 0.0}, steps=50, guidance="guidance/cfg", guidance_kwargs={"scale": 7.5, "form": "scale"},
    time_input="discrete")
TINY_SAMPLING = dict(steps=2)

PRESETS = {
    "paper": Preset(SD1, 4, 1, 64, 64, SD1_COUNT, "SD 1.x (1.4 / 1.5) U-Net, 512² images = 64² latents (f = 8)"),
    "sd2": Preset(SD2, 4, 1, 96, 96,
                  Published(865_910_724, "[C]", "diffusers UNet2DConditionModel SD 2.1 config (docs/papers.md §15)"),
                  "SD 2.x U-Net (768-v: v-prediction on 96² latents)",
                  sampling=dict(parameterization="parameterization/v")),
    "tiny": Preset(SD_TINY, 4, 1, 8, 8, Published(None, "[ours]", "CPU test size"), "CPU test size",
                   sampling=TINY_SAMPLING),
}

RECIPE = register_recipe(Recipe(
    name="stable_diffusion",
    paper="Rombach et al. 2022, High-Resolution Image Synthesis with Latent Diffusion Models (arXiv 2112.10752); "
          "Stable Diffusion 1.x / 2.x checkpoints",
    net="net/space_time_unet",
    presets=PRESETS,
    sampling=SD_SAMPLING,
    summary="the SD image U-Net applied per frame (temporal='none'): the base every inflated SD video model starts "
            "from; loads diffusers UNet2DConditionModel weights exactly (zoo.from_diffusers)",
    conditioning=("context",),
    encoders={"context": "conditioning/text"},
    autoencoder=IMAGE_VAE,
))
