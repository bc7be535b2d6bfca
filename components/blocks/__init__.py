"""Composite blocks: res-block, spatial / temporal / spatiotemporal transformers, Tune-A-Video's block, the DiT
adaLN-Zero block, the Video LDM / SVD alpha merge and Wan's causal VAE blocks (registration happens on import)."""

from . import (  # noqa: F401  (registration)
    alpha_merge,
    cogvideox,
    cogvideox_vae_resnet,
    dit_adaln_zero,
    hunyuan_video_dual,
    hunyuan_video_single,
    hunyuan_video_token_refiner,
    hunyuan_video_vae_attention,
    ltx_video_vae_resample,
    ltx_video_vae_resnet,
    mochi,
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
    wan,
    wan_vae_attention,
    wan_vae_resample,
    wan_vae_resnet,
    wan_vae_shortcut,
)
from .alpha_merge import AlphaMerge
from .cogvideox import CogVideoXBlock, ExpertAdaLayerNorm
from .cogvideox_vae_resnet import CogVideoXVAEResBlock
from .dit_adaln_zero import DiTBlock
from .hunyuan_video_dual import HunyuanVideoDualBlock
from .hunyuan_video_single import HunyuanVideoSingleBlock
from .hunyuan_video_token_refiner import HunyuanVideoTokenRefiner
from .hunyuan_video_vae_attention import HunyuanVideoVAEAttention
from .resnet import ResnetBlock
from .spatial_transformer import SpatialTransformer
from .spatiotemporal_transformer import SpatiotemporalTransformer
from .temporal_transformer import TemporalTransformer
from .transformer import TransformerLayer, VideoTransformer
from .tune_a_video import TuneAVideoTransformer
from .wan import WanBlock
from .wan_vae_attention import WanFrameAttention
from .wan_vae_resample import WanCausalDownsample, WanCausalUpsample
from .wan_vae_resnet import WanCausalResBlock
from .wan_vae_shortcut import AvgDown3d, DupUp3d


__all__ = [
    "AlphaMerge",
    "AvgDown3d",
    "CogVideoXBlock",
    "CogVideoXVAEResBlock",
    "DupUp3d",
    "ExpertAdaLayerNorm",
    "DiTBlock",
    "HunyuanVideoDualBlock",
    "HunyuanVideoSingleBlock",
    "HunyuanVideoTokenRefiner",
    "HunyuanVideoVAEAttention",
    "ResnetBlock",
    "SpatialTransformer",
    "SpatiotemporalTransformer",
    "TemporalTransformer",
    "TransformerLayer",
    "TuneAVideoTransformer",
    "VideoTransformer",
    "WanBlock",
    "WanCausalDownsample",
    "WanCausalResBlock",
    "WanCausalUpsample",
    "WanFrameAttention",
]
