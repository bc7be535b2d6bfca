"""video-diffusion-zoo building blocks, indexed by one registry.

    import components
    components.list_components("attention/*")
    components.build("attention/temporal", dim=64, num_heads=4)
"""

# Importing the sub-packages registers their entries.
from . import attention, blocks, conv, diffusion, embed, nets  # noqa: E402, I001
from . import conditioning  # noqa: E402, I001  (after nets: svd_image examples build net/video_autoencoder)
from . import caches  # noqa: E402, I001  (step caches: their examples build nets)
from .registry import (
    BadInput,
    ComponentEntry,
    UnknownComponentError,
    build,
    config_of,
    get_component,
    has_component,
    list_components,
    register,
)


__all__ = [
    "BadInput",
    "ComponentEntry",
    "UnknownComponentError",
    "attention",
    "blocks",
    "caches",
    "conditioning",
    "conv",
    "diffusion",
    "embed",
    "nets",
    "build",
    "config_of",
    "get_component",
    "has_component",
    "list_components",
    "register",
]
__version__ = "0.1.0"
