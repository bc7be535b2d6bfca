"""Video LDM — "Align your Latents" (Blattmann, Rombach, Ling, Dockhorn, Kim, Fidler, Kreis; arXiv 2304.08818).

Declarations only. A frozen Stable Diffusion U-Net (``zoo.stable_diffusion`` SD1 / SD2 layouts) with temporal layers
after every spatial layer, each blended with the spatial output by a learned alpha merge (docs/papers.md §9.1): the SD
res-block becomes ``block/spatiotemporal_resnet`` (+ a (3, 1, 1) conv res-block) and the SD transformer
``block/svd_spatiotemporal_transformer`` (+ temporal attention with sinusoidal frame embedding and cross-attention to
the text). No official code exists; SVD's ``sgm`` layers (same authors) are the public realisation, and their
temporal-layer counts match the paper's rounded 656M (SD 2.1) / 649M (SD 1.4) [S] exactly [C] (docs/papers.md §9.3).
The temporal layers start as the identity here (zero-initialised last projections), so at step 0 the model is the
image model on every frame; only they train (``Recipe.trainable``; the paper freezes the spatial layers).

Long-video prediction and temporal interpolation use the same network with a binary frame mask and the known frames'
latents concatenated to the input (``concat`` keyword: 4 latent channels, zero where unknown, + 1 mask channel);
context guidance is classifier-free guidance on ``concat`` (the unconditional branch zeroes it).

The video-fine-tuned decoder (encoder frozen, temporal layers in the decoder) is ``net/video_autoencoder`` with
``temporal_decoder=True``: ``TEMPORAL_DECODER`` below (the layout released with SVD, diffusers
``AutoencoderKLTemporalDecoder``).
"""

from __future__ import annotations

from ..recipe import Preset, Published, Recipe, register_recipe
from .autoencoders import TEMPORAL_VAE
from .stable_diffusion import SD1, SD2, SD_SAMPLING, SD_TINY


_TEMPORAL = dict(temporal="conv", res_block="block/spatiotemporal_resnet",
                 spatial_block="block/svd_spatiotemporal_transformer", spatial_block_kwargs={"zero_init": True})
# module names of the temporal layers (for Recipe.trainable and counting by name)
TEMPORAL_MODULES = ("res.temporal", "res.merge", "spatial.temporal_layers", "spatial.time_pos_embed", "spatial.merge")
MASK_CONCAT = 5  # 4 latent channels of the known frames (zero elsewhere) + 1 binary mask channel

SD21_TEMPORAL_PARAMS = 656_076_838
SD14_TEMPORAL_PARAMS = 649_687_078
VIDEO_LDM_SD21 = {**SD2, **_TEMPORAL}
VIDEO_LDM_SD14 = {**SD1, **_TEMPORAL}
_NOT_PUBLISHED_TOTAL = "the paper gives the temporal layers' count (656M SD 2.1, 649M SD 1.4) and the spatial " \
                       "backbone's (865M / 860M) separately, not this sum"

# Video LDM's decoder fine-tuned with temporal layers (SVD's released layout): 97,742,847 parameters [C]
TEMPORAL_DECODER = dict(in_channels=3, latent_channels=4, base_channels=128, channel_mults=(1, 2, 4, 4),
                        num_res_blocks=2, temporal_decoder=True, post_quant_conv=False)
TEMPORAL_DECODER_PARAMS = 97_742_847
IMAGE_AUTOENCODER = dict(TEMPORAL_DECODER, temporal_decoder=False, post_quant_conv=True)  # SD's AutoencoderKL
IMAGE_AUTOENCODER_PARAMS = 83_653_863

_CONTEXT_GUIDANCE = dict(guidance="guidance/cfg", guidance_kwargs={"scale": 2.0, "form": "scale"})

PRESETS = {
    "paper": Preset(
        VIDEO_LDM_SD21, 4, 8, 40, 64,
        Published(None, "[S]", f"T2V key-frame model on SD 2.1; {_NOT_PUBLISHED_TOTAL}"),
        "text-to-video key frames: 8 frames of 320×512 (40×64 latents), OpenCLIP ViT-H text (77 × 1024)"),
    "sd14": Preset(
        VIDEO_LDM_SD14, 4, 8, 40, 64, Published(None, "[S]", f"T2V on SD 1.4; {_NOT_PUBLISHED_TOTAL}"),
        "the SD 1.4 variant: CLIP ViT-L/14 text (77 × 768), 8 heads"),
    "prediction": Preset(
        dict(VIDEO_LDM_SD21, concat_channels=MASK_CONCAT), 4, 8, 40, 64,
        Published(None, "[S]", "not published separately"),
        "long-video prediction: S ∈ {0, 1, 2} context frames given as concat (latents + mask), context guidance",
        sampling=_CONTEXT_GUIDANCE),
    "interpolation": Preset(
        dict(VIDEO_LDM_SD21, concat_channels=MASK_CONCAT), 4, 16, 40, 64,
        Published(None, "[S]", "the paper's interpolation LDM has 1,509M parameters (all trained); ours is this "
                               "layout with the mask concat (an upper bound: the paper's exact layout is unknown)"),
        "temporal interpolation T → 4T: key frames every 4th frame given as concat (latents + mask)",
        sampling=_CONTEXT_GUIDANCE),
    "tiny": Preset({**SD_TINY, **_TEMPORAL}, 4, 3, 8, 8, Published(None, "[ours]", "CPU test size"),
                   "CPU test size", sampling=dict(steps=2)),
    "tiny_prediction": Preset({**SD_TINY, **_TEMPORAL, "concat_channels": MASK_CONCAT}, 4, 3, 8, 8,
                              Published(None, "[ours]", "CPU test size"), "CPU test size of the mask-conditioned "
                              "models", sampling=dict(steps=2, **_CONTEXT_GUIDANCE)),
}

RECIPE = register_recipe(Recipe(
    name="video_ldm",
    paper="Blattmann et al. 2023, Align your Latents: High-Resolution Video Synthesis with Latent Diffusion Models "
          "(arXiv 2304.08818, CVPR 2023); layers as in Stability-AI/generative-models (sgm)",
    net="net/space_time_unet",
    presets=PRESETS,
    sampling=SD_SAMPLING,
    summary="frozen SD U-Net + alpha-merged temporal layers (3-D conv res-blocks, temporal attention with text "
            "cross-attention) after every spatial layer; masks + known-frame latents as concat for prediction and "
            "interpolation; temporal decoder",
    conditioning=("context", "concat"),
    encoders={"context": "conditioning/text"},
    autoencoder=TEMPORAL_VAE,
    trainable=TEMPORAL_MODULES,
))
