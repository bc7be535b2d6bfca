"""Generic assemblers configured by component keys and sizes: ``net/space_time_unet``, ``net/space_time_dit``
(registration happens on import). Nothing here knows about papers; ``zoo/<paper>.py`` fills in the sizes."""

from . import autoencoder, control, dit, unet  # noqa: F401  (registration)
from .conditioning import ConditioningEmbedding
from .control import ControlBranch, ControlledUNet
from .dit import SpaceTimeDiT
from .unet import SpaceTimeUNet


__all__ = ["ConditioningEmbedding", "ControlBranch", "ControlledUNet", "SpaceTimeDiT", "SpaceTimeUNet"]
