"""Composite blocks: res-block, spatial / temporal / spatiotemporal transformers, Tune-A-Video's block, the DiT
adaLN-Zero block and the Video LDM / SVD alpha merge (registration happens on import)."""

from . import (  # noqa: F401  (registration)
    alpha_merge,
    dit_adaln_zero,
    modelscope_resnet,
    modelscope_temporal_transformer,
    resnet,
    spatial_transformer,
    spatiotemporal_resnet,
    spatiotemporal_transformer,
    svd_transformer,
    temporal_conv_stack,
    temporal_transformer,
    tune_a_video,
)
from .alpha_merge import AlphaMerge
from .dit_adaln_zero import DiTBlock
from .resnet import ResnetBlock
from .spatial_transformer import SpatialTransformer
from .spatiotemporal_transformer import SpatiotemporalTransformer
from .temporal_transformer import TemporalTransformer
from .transformer import TransformerLayer, VideoTransformer
from .tune_a_video import TuneAVideoTransformer


__all__ = [
    "AlphaMerge",
    "DiTBlock",
    "ResnetBlock",
    "SpatialTransformer",
    "SpatiotemporalTransformer",
    "TemporalTransformer",
    "TransformerLayer",
    "TuneAVideoTransformer",
    "VideoTransformer",
]
