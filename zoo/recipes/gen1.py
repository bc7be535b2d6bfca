"""Gen-1 (Esser, Chiu, Atighehchian, Granskog, Germanidis; Runway; arXiv 2302.03011, ICCV 2023). No official code.

Declarations only, and a reconstruction (``reconstruction=True``): the paper gives the structure but no sizes or
parameter count (docs/papers.md §8, §16 item 1). What is from the paper [V-paper: blog]: a latent video diffusion U-Net
from an image model; structure ``s`` (MiDaS depth of every frame) concatenated to the latent (``concat``, 1 channel at
latent resolution); content ``c`` (a CLIP image embedding of a frame) through cross-attention in place of text
(``context``, one 768-wide token); a 1-D temporal conv after every 2-D conv of a res-block and a 1-D temporal
attention after every 2-D attention. Our choices: the SD 1.x U-Net sizes (``zoo.stable_diffusion.SD1``) for the
image part, ``temporal="both"`` (``conv/temporal_resblock`` in every res-block, zero-initialised; a temporal
transformer after every spatial one, zero ``proj_out``), sinusoidal frame positions (the paper's learnt temporal
encoding is [M]). The structure-fidelity knob t_s and the temporal guidance ω_t are [M] and not modelled.
"""

from __future__ import annotations

from ..recipe import Preset, Published, Recipe, register_recipe
from .autoencoders import IMAGE_VAE
from .stable_diffusion import SD1, SD_SAMPLING, SD_TINY, TINY_SAMPLING


_GEN1 = dict(temporal="both", temporal_position="sinusoidal", concat_channels=1)

NOT_PUBLISHED = Published(None, "[V-paper]", "Gen-1 publishes no parameter count (docs/papers.md §8, §16)")

PRESETS = {
    "paper": Preset(dict(SD1, **_GEN1), 4, 8, 64, 64, NOT_PUBLISHED,
                    "reconstruction on the SD 1.x layout: depth (1 ch, latent resolution) by concat, CLIP ViT-L/14 "
                    "image embedding (768, one token) by cross-attention; 8 frames × 512² as an example size"),
    "tiny": Preset(dict(SD_TINY, **_GEN1), 4, 3, 8, 8, Published(None, "[ours]", "CPU test size"), "CPU test size",
                   sampling=TINY_SAMPLING),
}

RECIPE = register_recipe(Recipe(
    name="gen1",
    paper="Esser et al. 2023, Structure and Content-Guided Video Synthesis with Diffusion Models "
          "(arXiv 2302.03011, ICCV 2023)",
    net="net/space_time_unet",
    presets=PRESETS,
    sampling=SD_SAMPLING,  # [M]: SD-style DDIM 50 steps and CFG on the content; the paper's values are not verified
    summary="structure (depth) by channel concat, content (CLIP image embedding) by cross-attention; temporal convs "
            "and temporal attention added to an image latent U-Net (reconstruction: sizes not published)",
    conditioning=("context", "concat"),
    encoders={"context": "conditioning/text", "concat": "conditioning/structure"},
    autoencoder=IMAGE_VAE,
    reconstruction=True,
))
