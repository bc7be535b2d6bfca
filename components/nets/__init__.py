"""Generic assemblers configured by component keys and sizes: ``net/space_time_unet``, ``net/space_time_dit``
(registration happens on import). Nothing here knows about papers; ``zoo/<paper>.py`` fills in the sizes."""

from . import (  # noqa: F401  (registration)
           autoencoder,
           cogvideox,
           cogvideox_vae,
           control,
           dit,
           hunyuan_video,
           hunyuan_video_vae,
           i3d,  # noqa: F401  (registration)
           ltx_video,
           ltx_video_vae,
           mochi,
           mochi_vae,
           noise_experts,
           unet,
           wan,
           wan_vae,
)
from .cogvideox import COGVIDEOX_SIZES, CogVideoXTransformer
from .cogvideox_vae import CogVideoXVAE
from .conditioning import ConditioningEmbedding
from .control import ControlBranch, ControlledUNet
from .dit import SpaceTimeDiT
from .hunyuan_video import HUNYUAN_VIDEO_SIZES, HunyuanVideoTransformer
from .hunyuan_video_vae import HunyuanVideoVAE
from .ltx_video import LTX_VIDEO_SIZES, LTXVideoTransformer
from .unet import SpaceTimeUNet
from .wan import WAN_SIZES, WanTransformer
from .wan_vae import WanCausalVAE


__all__ = ["COGVIDEOX_SIZES", "CogVideoXTransformer", "CogVideoXVAE", "ConditioningEmbedding", "ControlBranch", "ControlledUNet", "HUNYUAN_VIDEO_SIZES", "HunyuanVideoTransformer", "HunyuanVideoVAE", "LTX_VIDEO_SIZES", "LTXVideoTransformer", "SpaceTimeDiT", "SpaceTimeUNet", "WAN_SIZES",
           "WanCausalVAE", "WanTransformer"]
