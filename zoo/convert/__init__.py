"""diffusers <-> zoo conversion: rename tables, not forked model code (see ``common.py``).

``zoo.from_diffusers(model)`` returns the equivalent zoo model; each converter module registers itself for one
diffusers class.
"""

from . import (
    cogvideox_transformer,  # noqa: F401, E402  (registers the CogVideoXTransformer3DModel converter)
    controlnet,  # noqa: F401, E402  (registers the ControlNetModel converter)
    hunyuan_video_transformer,  # noqa: F401, E402  (registers the HunyuanVideoTransformer3DModel converter)
    ltx_video_transformer,  # noqa: F401, E402  (registers the LTXVideoTransformer3DModel converter)
    mochi_transformer,  # noqa: F401, E402  (registers the MochiTransformer3DModel converter)
    svd,  # noqa: F401, E402  (registers the UNetSpatioTemporalConditionModel converter)
    unet2d,  # noqa: F401, E402  (registers the UNet2DConditionModel converter)
    unet3d,  # noqa: F401, E402  (registers the UNet3DConditionModel converter)
    vae_cogvideox,  # noqa: F401, E402  (registers the AutoencoderKLCogVideoX converter)
    vae_hunyuan_video,  # noqa: F401, E402  (registers the AutoencoderKLHunyuanVideo converter)
    vae_image,  # noqa: F401, E402  (registers the AutoencoderKL converter)
    vae_ltx_video,  # noqa: F401, E402  (registers the AutoencoderKLLTXVideo converter)
    vae_mochi,  # noqa: F401, E402  (registers the AutoencoderKLMochi converter)
    vae_temporal,  # noqa: F401, E402  (registers the AutoencoderKLTemporalDecoder converter)
    vae_wan,  # noqa: F401, E402  (registers the AutoencoderKLWan converter)
    wan_transformer,  # noqa: F401, E402  (registers the WanTransformer3DModel converter)
)
from .common import CONVERTERS, RenameTable, from_diffusers, register_converter, rename_state_dict


__all__ = ["CONVERTERS", "RenameTable", "from_diffusers", "register_converter", "rename_state_dict"]
