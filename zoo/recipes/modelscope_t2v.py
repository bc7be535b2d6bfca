"""ModelScope text-to-video (Wang et al. 2023, arXiv 2308.06571; diffusers ``UNet3DConditionModel``).

Declarations only: the UNet3D is ``net/space_time_unet`` with the Stable Diffusion 2 layout (320 × (1, 2, 4, 4), two
res-blocks per level, cross-attention to 1024-wide OpenCLIP text at levels 0–2 and the middle, head size 64) and
ModelScope's temporal additions in the unit slots: ``block/modelscope_resnet`` (res-block + four-conv temporal stack,
``temp_convs``), ``block/modelscope_temporal_transformer`` (``temp_attentions``, two temporal self-attentions per
layer) and the same block as the stem after ``conv_in`` (``transformer_in``, 8 heads × 64). The paper preset has
exactly the parameters of diffusers' default ``UNet3DConditionModel()`` = the published checkpoint's config
(1,411,233,860; docs/papers.md §15, [C]); ``zoo.from_diffusers`` converts its weights.
"""

from __future__ import annotations

from ..recipe import Preset, Published, Recipe, Sampling, register_recipe
from .autoencoders import IMAGE_VAE


def _unet3d(base: int, mults: tuple[int, ...], blocks: int, head_dim: int, context_dim: int, groups: int,
            stem_heads: int = 8, in_channels: int = 4) -> dict:
    """The UNet3DConditionModel layout for given sizes (the converter builds the same dict from a diffusers config)."""
    levels = len(mults)
    return dict(
        in_channels=in_channels, base_channels=base, channel_mults=mults, num_res_blocks=blocks,
        attention_levels=tuple(range(levels - 1)), temporal="both", temporal_position="none", head_dim=head_dim,
        transformer_depth=1, transformer_ff_mult=4.0, mid_attention=True, emb_dim=4 * base, emb_mlp_layers=2,
        time_scale=1.0, context_dim=context_dim, num_groups=groups, scale_shift=False, zero_init_output=False,
        res_block="block/modelscope_resnet", temporal_block="block/modelscope_temporal_transformer",
        stem_block="block/modelscope_temporal_transformer",
        stem_block_kwargs={"num_heads": stem_heads, "head_dim": head_dim, "num_groups": groups},
    )


PRESETS = {
    "paper": Preset(
        _unet3d(320, (1, 2, 4, 4), 2, 64, 1024, 32), 4, 16, 32, 32,
        Published(1_411_233_860, "[C]", "diffusers 0.42.1 UNet3DConditionModel() on meta = the "
                                        "ali-vilab/text-to-video-ms-1.7b unet config (docs/papers.md §15)"),
        "16 frames of 256×256 (32×32 SD-VAE latents ×0.18215); OpenCLIP ViT-H text tokens (77 × 1024) as context"),
    "tiny": Preset(
        _unet3d(16, (1, 2), 1, 8, 16, 4, stem_heads=2), 4, 3, 8, 8,
        Published(None, "[ours]", "CPU test size"), "CPU test size", sampling=dict(steps=2)),
}

RECIPE = register_recipe(Recipe(
    name="modelscope_t2v",
    paper="Wang et al. 2023, ModelScope Text-to-Video Technical Report (arXiv 2308.06571); diffusers "
          "UNet3DConditionModel / TextToVideoSDPipeline (ali-vilab/text-to-video-ms-1.7b)",
    net="net/space_time_unet",
    presets=PRESETS,
    sampling=Sampling(
        schedule="schedule/scaled_linear",
        schedule_kwargs={"beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 1000},
        parameterization="parameterization/eps", sampler="sampler/ddim", sampler_kwargs={"eta": 0.0}, steps=50,
        guidance="guidance/cfg", guidance_kwargs={"scale": 9.0, "form": "scale"}, time_input="discrete"),
    summary="SD-2 U-Net inflated with four-conv temporal stacks and double-self-attention temporal transformers "
            "after every spatial unit and after conv_in (the diffusers UNet3D layout); latent space, text "
            "cross-attention",
    conditioning=("context",),
    encoders={"context": "conditioning/text"},
    autoencoder=IMAGE_VAE,
))
