"""Convolutions for video ``B C T H W``: space-only, (2+1)-D, pseudo-3-D, full 3-D, causal, temporal res-block and
spatial / temporal down- and up-sampling (registration happens on import)."""

from . import (  # noqa: F401  (registration)
    causal,
    factorized,
    full,
    pseudo3d,
    space_only,
    spatial_resample,
    temporal_resample,
    temporal_resblock,
)
from .causal import CausalConv3d
from .factorized import FactorizedConv2Plus1d, r2plus1d_mid_channels
from .feature_cache import FeatureCache
from .full import FullConv3d
from .pseudo3d import PseudoConv3d
from .space_only import SpaceOnlyConv3d, inflate_conv2d_state_dict
from .spatial_resample import SpatialDownsample, SpatialUpsample
from .temporal_resample import TemporalDownsample, TemporalUpsample
from .temporal_resblock import TemporalResBlock


__all__ = [
    "CausalConv3d",
    "FeatureCache",
    "FactorizedConv2Plus1d",
    "FullConv3d",
    "PseudoConv3d",
    "SpaceOnlyConv3d",
    "SpatialDownsample",
    "SpatialUpsample",
    "TemporalDownsample",
    "TemporalUpsample",
    "TemporalResBlock",
    "inflate_conv2d_state_dict",
    "r2plus1d_mid_channels",
]
