"""Stable Video Diffusion (Blattmann et al. 2023, arXiv 2311.15127; code ``Stability-AI/generative-models``).

Declarations only. SVD's ``VideoUNet`` is ``net/space_time_unet`` with SD 2.1's layout (320 × (1, 2, 4, 4), two
res-blocks per level, head size 64, attention at levels 0–2 and in the middle) and SVD's units in the slots:
``block/spatiotemporal_resnet`` (image res-block → temporal conv res-block → alpha merge) and
``block/svd_spatiotemporal_transformer`` (spatial and temporal transformer layers in one token space, sinusoidal frame
embedding, alpha merge). Conditioning (docs/papers.md §10.1, [V-code]):

* ``x`` has 8 channels: the 4 noisy latents, then the 4 latents of the noise-augmented conditioning image repeated over
  frames (SVD's channel concat stays in ``x``; the pipeline appends them, ``Preset.x_cond_channels``);
* ``context`` ``(B, 1, 1024)``: the CLIP ViT-H image embedding of the conditioning frame;
* ``added_cond`` ``(B, 3)``: ``(fps_id, motion_bucket_id, cond_aug)``, each a 256-wide sinusoid, MLP 768 → 1280
  (``embed/micro_cond``), added to the timestep embedding.

The network is EDM-preconditioned with SVD's v-scaling (``preconditioning/edm_v``: c_noise = ¼ ln σ is the ``t`` the
net sees, ``time_scale=1``) and sampled with Euler on the Karras σ grid (σ_max 700) with per-frame linear guidance.
"""

from __future__ import annotations

from ..recipe import Preset, Published, Recipe, Sampling, register_recipe
from .autoencoders import TEMPORAL_VAE


def svd_unet(base: int = 320, mults: tuple[int, ...] = (1, 2, 4, 4), blocks: int = 2, head_dim: int = 64,
             context_dim: int = 1024, micro_freq_dim: int = 256, groups: int = 32, latent_channels: int = 4) -> dict:
    """The SVD U-Net layout at given sizes (``zoo/convert/svd.py`` builds the same dict from a diffusers config)."""
    return dict(
        in_channels=2 * latent_channels, out_channels=latent_channels, base_channels=base, channel_mults=mults,
        num_res_blocks=blocks, attention_levels=tuple(range(len(mults) - 1)), mid_attention=True, temporal="conv",
        head_dim=head_dim, transformer_depth=1, transformer_ff_mult=4.0, emb_dim=4 * base, emb_mlp_layers=2,
        time_scale=1.0, added_cond_dim=3, added_cond_embed="embed/micro_cond",
        added_cond_embed_kwargs={"freq_dim": micro_freq_dim, "num_scalars": 3}, context_dim=context_dim,
        num_groups=groups, scale_shift=False, zero_init_output=False,
        res_block="block/spatiotemporal_resnet", spatial_block="block/svd_spatiotemporal_transformer",
        # diffusers' SpatioTemporalResBlock GroupNorm eps: 1e-6 in CrossAttnDownBlockSpatioTemporal and both up
        # blocks, 1e-5 in DownBlockSpatioTemporal and the mid block [V-code: diffusers unet_3d_blocks.py]
        res_block_kwargs_by_unit={**{f"down.{level}.*": {"eps": 1e-6} for level in range(len(mults) - 1)},
                                  "up.*": {"eps": 1e-6}},
    )


SVD_PARAMS = 1_524_623_082
# Temporal layers = every parameter under these names (diffusers: temporal_res_block, time_mixer,
# temporal_transformer_blocks, time_pos_embed; docs/papers.md §15).
TEMPORAL_PARAMETER_NAMES = (".res.temporal.", ".res.merge.", ".temporal_layers.", ".time_pos_embed.", ".spatial.merge.")
SVD_TEMPORAL_PARAMS = 656_076_838
SVD_COUNT = Published(SVD_PARAMS, "[C]", "diffusers 0.42.1 UNetSpatioTemporalConditionModel() on meta = the "
                                         "stable-video-diffusion-img2vid(-xt) unet config; temporal part 656,076,838 "
                                         "(docs/papers.md §10.3, §15)")
TINY = svd_unet(base=32, mults=(1, 2), blocks=1, head_dim=16, context_dim=16, micro_freq_dim=8, groups=8)

# sgm EulerEDMSampler + EDMDiscretization(σ_min 0.002, σ_max 700, ρ 7) + LinearPredictionGuider [V-code]
_SAMPLING = Sampling(
    schedule="schedule/edm", schedule_kwargs={"sigma_min": 0.002, "sigma_max": 700.0, "rho": 7.0},
    parameterization="preconditioning/edm_v", sampler="sampler/euler", steps=25,
    guidance="guidance/cfg_per_frame", guidance_kwargs={"min_scale": 1.0, "max_scale": 2.5},
    uncond_keep=("added_cond",))
_TINY_SAMPLING = dict(steps=2)
_LATENT = "576×1024 px = 4 × 72×128 SD-VAE latents (×0.18215); context (B, 1, 1024); added_cond (B, 3)"

RECIPE = register_recipe(Recipe(
    name="svd",
    paper="Blattmann et al. 2023, Stable Video Diffusion (arXiv 2311.15127); Stability-AI/generative-models "
          "configs/inference/svd.yaml, scripts/sampling/configs/svd.yaml",
    net="net/space_time_unet",
    presets={
        "paper": Preset(svd_unet(), 4, 14, 72, 128, SVD_COUNT, f"14 frames; {_LATENT}", x_cond_channels=4),
        "tiny": Preset(TINY, 4, 3, 8, 8, Published(None, "[ours]", "CPU test size"), "CPU test size",
                       sampling=_TINY_SAMPLING, x_cond_channels=4),
    },
    sampling=_SAMPLING,
    summary="image-to-video latent U-Net: SD 2.1 layout with alpha-merged temporal res-blocks and temporal "
            "transformers everywhere; CLIP image context, conditioning latents in x, fps/motion/aug micro-conditioning",
    conditioning=("context", "added_cond", "concat"),
    encoders={k: "conditioning/svd_image" for k in ("context", "added_cond", "concat")},
    autoencoder=TEMPORAL_VAE,
))

RECIPE_XT = register_recipe(Recipe(
    name="svd_xt",
    paper="Blattmann et al. 2023, Stable Video Diffusion (arXiv 2311.15127); scripts/sampling/configs/svd_xt.yaml",
    net="net/space_time_unet",
    presets={
        "paper": Preset(svd_unet(), 4, 25, 72, 128, SVD_COUNT, f"25 frames; {_LATENT}", x_cond_channels=4),
        "tiny": Preset(TINY, 4, 3, 8, 8, Published(None, "[ours]", "CPU test size"), "CPU test size",
                       sampling=_TINY_SAMPLING, x_cond_channels=4),
    },
    sampling=_SAMPLING.replace(steps=30, guidance_kwargs={"min_scale": 1.5, "max_scale": 3.0}),
    summary="SVD fine-tuned for 25 frames (same network as svd)",
    conditioning=("context", "added_cond", "concat"),
    encoders={k: "conditioning/svd_image" for k in ("context", "added_cond", "concat")},
    autoencoder=TEMPORAL_VAE,
))
