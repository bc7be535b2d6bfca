"""diffusers ``AutoencoderKL`` (Stable Diffusion's KL-f8 VAE) <-> ``net/video_autoencoder`` (``temporal_decoder=False``).

The image VAE of every SD-derived recipe (``zoo.recipes.autoencoders.IMAGE_VAE``: ModelScope, Tune-A-Video, Text2Video-Zero,
ControlVideo, Gen-1, ...), applied per frame. Conventions bridged (the encoder side is ``vae_temporal.py``'s):

* layout: diffusers takes images ``(B·T, C, H, W)``; ours ``B C T H W`` with ``1×k×k`` space-only convs (a unit axis
  inserted / dropped by the shared shape rule); ``latent_dist.mean`` = our ``encode(x)``; latents unscaled on both
  sides (``scaling_factor`` is stored for the pipeline);
* the decoder has ``layers_per_block + 1`` plain res-blocks per level (``block/resnet``, no time embedding), the
  up-sampler of level L is the ``layers_per_block + 1``-th entry of ``decoder.up.L``; mid blocks (res, attention,
  res) -> ``mid.{0, 1, 2}``; ``post_quant_conv`` (SD's 1×1 conv before the decoder) is kept;
* refused: ``use_quant_conv`` / ``use_post_quant_conv`` False, ``mid_block_add_attention`` False, a ``shift_factor``
  or ``latents_mean`` (SD3 / Flux-style latent normalisation), other block types or activations.
"""

from __future__ import annotations

from torch import Tensor, nn

from .checks import config_getter, level_problems, refuse_unsupported
from .common import RenameTable, convert_weights, register_converter, rename_state_dict
from .vae_temporal import _IMAGE_RESNET, autoencoder_pairs


__all__ = ["VAE_IMAGE_DIFFUSERS_CLASS", "vae_image_config", "vae_image_rename_table", "vae_image_to_diffusers_state_dict"]

VAE_IMAGE_DIFFUSERS_CLASS = "AutoencoderKL"


def vae_image_rename_table(layers_per_block: int) -> RenameTable:
    """The rename table for ``layers_per_block`` res-blocks per encoder level (both directions): the temporal
    decoder's layout with image res-blocks in the decoder and a ``post_quant_conv``."""
    return RenameTable.from_pairs(autoencoder_pairs(
        layers_per_block, _IMAGE_RESNET, [("quant_conv", "quant_conv"), ("post_quant_conv", "post_quant_conv")]))


def vae_image_config(config) -> dict:
    """``net/video_autoencoder`` keywords of a diffusers ``AutoencoderKL`` config (refuses what it cannot express)."""
    get = config_getter(config)
    widths = list(get("block_out_channels"))
    problems = level_problems(widths)
    if any(kind != "DownEncoderBlock2D" for kind in get("down_block_types")):
        problems.append(f"down_block_types must all be DownEncoderBlock2D, got {get('down_block_types')}")
    if any(kind != "UpDecoderBlock2D" for kind in get("up_block_types")):
        problems.append(f"up_block_types must all be UpDecoderBlock2D, got {get('up_block_types')}")
    for field, wanted in (("act_fn", "silu"), ("use_quant_conv", True), ("use_post_quant_conv", True),
                          ("mid_block_add_attention", True), ("shift_factor", None), ("latents_mean", None)):
        if get(field, wanted) != wanted:
            problems.append(f"{field} must be {wanted!r}, got {get(field)!r}")
    refuse_unsupported(VAE_IMAGE_DIFFUSERS_CLASS, problems)
    return dict(in_channels=get("in_channels"), out_channels=get("out_channels"),
                latent_channels=get("latent_channels"), base_channels=widths[0],
                channel_mults=tuple(w // widths[0] for w in widths), num_res_blocks=get("layers_per_block"),
                num_groups=get("norm_num_groups", 32), eps=1e-6, temporal_decoder=False, post_quant_conv=True,
                scaling_factor=get("scaling_factor"))


@register_converter(VAE_IMAGE_DIFFUSERS_CLASS)
def from_diffusers_vae_image(model: nn.Module) -> nn.Module:
    """The ``net/video_autoencoder`` equal to ``model`` on every frame (weights converted; same device and dtype;
    eval mode)."""
    return convert_weights(model, "net/video_autoencoder", vae_image_config(model.config),
                           vae_image_rename_table(model.config.layers_per_block))


def vae_image_to_diffusers_state_dict(model: nn.Module, target: nn.Module | dict[str, Tensor],
                                      layers_per_block: int) -> dict[str, Tensor]:
    """The reverse direction: our state dict renamed for a diffusers ``AutoencoderKL`` ``target``."""
    return rename_state_dict(model.state_dict(), vae_image_rename_table(layers_per_block), target,
                             direction="to_diffusers")
