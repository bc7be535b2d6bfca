"""Generic assemblers configured by component keys and sizes: ``net/space_time_unet``, ``net/space_time_dit``
(registration happens on import). Nothing here knows about papers; ``zoo/<paper>.py`` fills in the sizes."""

from . import (  # noqa: F401  (registration)
           autoencoder,
           control,
           dit,
           noise_experts,
           unet,
           wan,
           wan_vae,
)
from .conditioning import ConditioningEmbedding
from .control import ControlBranch, ControlledUNet
from .dit import SpaceTimeDiT
from .unet import SpaceTimeUNet
from .wan import WAN_SIZES, WanTransformer
from .wan_vae import WanCausalVAE


__all__ = ["ConditioningEmbedding", "ControlBranch", "ControlledUNet", "SpaceTimeDiT", "SpaceTimeUNet", "WAN_SIZES",
           "WanCausalVAE", "WanTransformer"]
