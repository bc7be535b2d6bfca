"""Generic assemblers configured by component keys and sizes: ``net/space_time_unet``, ``net/space_time_dit``
(registration happens on import). Nothing here knows about papers; ``zoo/<paper>.py`` fills in the sizes."""

from . import dit, unet  # noqa: F401  (registration)
from .conditioning import ConditioningEmbedding
from .dit import SpaceTimeDiT
from .unet import SpaceTimeUNet


__all__ = ["ConditioningEmbedding", "SpaceTimeDiT", "SpaceTimeUNet"]
