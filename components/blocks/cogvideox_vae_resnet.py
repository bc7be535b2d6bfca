"""CogVideoX's causal VAE res-block, with the decoder's spatially conditioned norm (Zheng et al. 2022, MoVQ).

[V-code: diffusers autoencoder_kl_cogvideox.py ``CogVideoXResnetBlock3D``, ``CogVideoXSpatialNorm3D``] Yang et al.
2024 (CogVideoX §2.1, "3D causal VAE")::

    h = conv₂(SiLU(N₂(conv₁(SiLU(N₁(x))))))  +  shortcut(x)        conv: conv/causal_temporal, 3×3×3,
                                                                   first frame replicated in front (pad_mode="replicate")
    N(f) = GroupNorm(f)                                            encoder
    N(f; z) = GroupNorm(f) · conv_y(ẑ) + conv_b(ẑ)                 decoder (spatial norm); ẑ = z resized (nearest)
                                                                   to f's (T, H, W), the first frame on its own when
                                                                   T is odd > 1 (the causal first latent frame)

GroupNorm statistics are those of the chunk the block sees: CogVideoX's VAE runs a clip in frame batches (8 frames
in, 2 latent frames out, ``net/cogvideox_vae``), the causal convolutions carrying the frames before each chunk in a
``FeatureCache``. Chunk-wide GroupNorm statistics make the block causal only across chunks, not within one. The
shortcut is a 1×1×1 conv when the width changes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_video
from ..conv.causal import CausalConv3d
from ..conv.feature_cache import FeatureCache
from ..registry import BadInput, register


def resize_latents(z: Tensor, size: tuple[int, int, int]) -> Tensor:
    """``z`` ``(B, C, t, h, w)`` resized (nearest) to ``size`` ``(T, H, W)``; with T odd > 1 the first frame alone to
    ``(1, H, W)`` and the rest to ``(T − 1, H, W)`` (the causal first frame maps to the first latent frame)."""
    t = size[0]
    if t > 1 and t % 2 == 1:
        first = F.interpolate(z[:, :, :1], size=(1, *size[1:]))
        rest = F.interpolate(z[:, :, 1:], size=(t - 1, *size[1:]))
        return torch.cat([first, rest], dim=2)
    return F.interpolate(z, size=size)


class SpatialNorm3d(nn.Module):
    """``N(f; z) = GroupNorm(f)·conv_y(ẑ) + conv_b(ẑ)``: ``f`` ``(B, C, T, H, W)``, ``z`` ``(B, z_channels, t, h, w)``
    -> ``(B, C, T, H, W)`` (GroupNorm eps 1e-6, affine; 1×1×1 convs)."""

    def __init__(self, channels: int, z_channels: int, groups: int = 32, *, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.norm_layer = nn.GroupNorm(groups, channels, eps=1e-6, **factory)
        self.conv_y = CausalConv3d(z_channels, channels, 1, **factory)
        self.conv_b = CausalConv3d(z_channels, channels, 1, **factory)

    def forward(self, f: Tensor, z: Tensor) -> Tensor:
        z = resize_latents(z, tuple(f.shape[2:]))
        return self.norm_layer(f) * self.conv_y(z) + self.conv_b(z)


def _inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    x = torch.randn(batch, cfg["in_channels"], frames, 4, 4, generator=generator)
    kwargs = {}
    if cfg.get("z_channels"):
        kwargs["z"] = torch.randn(batch, cfg["z_channels"], max(1, (frames + 1) // 2), 2, 2, generator=generator)
    return (x,), kwargs


@register(
    "block", "cogvideox_vae_resnet", paper="Yang et al. 2024 (CogVideoX 3D causal VAE); Zheng et al. 2022 (MoVQ "
                                           "spatial norm)",
    tiny=dict(in_channels=8, out_channels=16, groups=4, z_channels=4), inputs=_inputs,
    output_shape=lambda cfg, x, *a, **k: (x.shape[0], cfg["out_channels"], *x.shape[2:]),
    bad_inputs=[
        BadInput(match="channels", inputs=lambda cfg: ((torch.zeros(1, 9, 1, 4, 4),), {"z": torch.zeros(1, 4, 1, 2, 2)}),
                 why="wrong channels"),
        BadInput(match="z .*required", inputs=lambda cfg: ((torch.zeros(1, 8, 1, 4, 4),), {}),
                 why="a decoder block without its latents"),
    ],
)
class CogVideoXVAEResBlock(nn.Module):
    """``x`` ``(B, in_channels, T, H, W)`` [, ``z`` latents with ``z_channels``] -> ``(B, out_channels, T, H, W)``.

    Args:
        in_channels, out_channels: widths (out defaults to in).
        groups: GroupNorm groups (32); eps: its epsilon (1e-6).
        z_channels: the decoder's spatial norm on latents of this width (None: GroupNorm, the encoder's).
        dropout: between the convolutions (0).
        space_pad_mode: the convolutions' spatial padding, ``"zeros"`` (CogVideoX) or ``"replicate"`` (HunyuanVideo's
            VAE, otherwise this block [V-code: diffusers autoencoder_kl_hunyuan_video.py
            ``HunyuanVideoResnetBlockCausal3D``]).
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, groups: int = 32, eps: float = 1e-6,
                 z_channels: int | None = None, dropout: float = 0.0, space_pad_mode: str = "zeros", device=None,
                 dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        out_channels = out_channels or in_channels
        self.in_channels, self.out_channels, self.z_channels = in_channels, out_channels, z_channels
        if z_channels is None:
            self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps, **factory)
            self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps, **factory)
        else:
            self.norm1 = SpatialNorm3d(in_channels, z_channels, groups, **factory)
            self.norm2 = SpatialNorm3d(out_channels, z_channels, groups, **factory)
        pad = dict(pad_mode="replicate", space_pad_mode=space_pad_mode)
        self.conv1 = CausalConv3d(in_channels, out_channels, 3, **pad, **factory)
        self.conv2 = CausalConv3d(out_channels, out_channels, 3, **pad, **factory)
        self.dropout = nn.Dropout(dropout)
        self.conv_shortcut = (nn.Conv3d(in_channels, out_channels, 1, **factory) if in_channels != out_channels
                              else None)

    def _norm(self, norm: nn.Module, x: Tensor, z: Tensor | None) -> Tensor:
        return norm(x) if z is None else norm(x, z)

    def forward(self, x: Tensor, z: Tensor | None = None, cache: FeatureCache | None = None) -> Tensor:
        """``cache``: ``x`` is the next chunk of a clip (``conv/causal_temporal``'s streaming)."""
        where = type(self).__name__
        check_video(x, channels=self.in_channels, where=where)
        if (z is None) != (self.z_channels is None):
            raise ValueError(f"{where}: z (B, z_channels={self.z_channels}, t, h, w) is required with z_channels and "
                             f"refused without it, got {None if z is None else tuple(z.shape)}")
        h = self.conv1(F.silu(self._norm(self.norm1, x, z)), cache)
        h = self.conv2(self.dropout(F.silu(self._norm(self.norm2, h, z))), cache)
        return h + (x if self.conv_shortcut is None else self.conv_shortcut(x))
