"""SVD's spatiotemporal res-block: the image res-block, a temporal conv res-block on its output, and an alpha merge."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import registry
from ..examples import bad_channels, bad_ndim, video_inputs
from ..registry import BadInput, register


def _emb(cfg, frames, batch, generator):
    return torch.randn(batch, cfg["emb_dim"], generator=generator)


def _output_shape(cfg, x, *args, **kwargs):
    b, _, t, h, w = x.shape
    return (b, cfg.get("out_channels") or cfg["in_channels"], t, h, w)


@register(
    "block", "spatiotemporal_resnet",
    paper="Blattmann et al. 2023 (Video LDM §3.1; SVD VideoResBlock, diffusers SpatioTemporalResBlock)",
    tiny=dict(in_channels=8, out_channels=16, emb_dim=12, num_groups=4), inputs=video_inputs("in_channels", emb=_emb),
    output_shape=_output_shape,
    bad_inputs=[
        BadInput(match="B C T H W", inputs=bad_ndim("in_channels"), why="a 4-D image"),
        BadInput(match="channels", inputs=bad_channels("in_channels"), why="channels != in_channels"),
        BadInput(match="divisible by num_groups", init={"num_groups": 3}, why="channels % num_groups != 0"),
        BadInput(match="merge_strategy", init={"merge_strategy": "average"}, why="unknown merge strategy"),
    ],
)
class SpatioTemporalResnetBlock(nn.Module):
    """``merge(s, temporal(s, emb))`` with ``s = spatial(x, emb)``: SVD's ``VideoResBlock``.

    Shapes: ``x`` ``(B, C_in, T, H, W)``, ``emb`` ``(B, emb_dim)`` or ``(B, T, emb_dim)`` (or None without
    ``emb_dim``) -> ``(B, C_out, T, H, W)``; ``forward(x, emb=None, *, image_only_indicator=None)``.

    Composition of registered blocks, each under its own name:

    * ``spatial``: ``block/resnet`` (the image model's res-block per frame; SD's plain added bias, ``scale_shift=False``);
    * ``temporal``: ``conv/temporal_resblock`` (GN–SiLU–Conv3d(3,1,1) ×2 with the embedding, statistics over the clip);
    * ``merge``: ``block/alpha_merge``, ``α·s + (1 − α)·temporal(s)`` with α = sigmoid(merge_factor), α = 1 on frames
      flagged by ``image_only_indicator`` (``learned_with_images``).

    Init: the temporal block's last conv is zero, so ``temporal(s) = s`` and the block equals its spatial res-block at
    init whatever α is. ``temporal=False`` leaves only the spatial res-block (the image model).

    Args:
        in_channels, out_channels, emb_dim, num_groups, eps, dropout, scale_shift: as ``block/resnet``.
        temporal: add the temporal res-block and the merge (``SpaceTimeUNet`` passes ``temporal="conv"`` here).
        temporal_eps: GroupNorm epsilon of the temporal block (default ``eps``; SVD's temporal VAE decoder uses 1e-5
            with a 1e-6 spatial eps).
        temporal_kernel_size: the temporal kernel k of ``(k, 1, 1)``.
        merge_factor, merge_strategy: ``block/alpha_merge`` (SVD U-Net: 0.5, ``learned_with_images``; SVD VAE
            decoder: ``learned``, whose α multiplies the temporal side in diffusers: converters negate the logit).
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, emb_dim: int | None = None,
                 num_groups: int = 32, eps: float = 1e-5, dropout: float = 0.0, scale_shift: bool = False,
                 temporal: bool = True, temporal_eps: float | None = None, temporal_kernel_size: int = 3,
                 merge_factor: float = 0.5, merge_strategy: str = "learned_with_images", device=None,
                 dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        out_channels = in_channels if out_channels is None else out_channels
        self.in_channels, self.out_channels = in_channels, out_channels
        self.spatial = registry.build("block/resnet", in_channels=in_channels, out_channels=out_channels,
                                      emb_dim=emb_dim, num_groups=num_groups, eps=eps, dropout=dropout,
                                      scale_shift=scale_shift, temporal=False, **factory)
        self.temporal = self.merge = None
        if temporal:
            self.temporal = registry.build("conv/temporal_resblock", in_channels=out_channels, temb_dim=emb_dim,
                                           kernel_size=temporal_kernel_size, num_groups=num_groups,
                                           eps=eps if temporal_eps is None else temporal_eps, dropout=dropout,
                                           **factory)
            self.merge = registry.build("block/alpha_merge", merge_factor=merge_factor,
                                        merge_strategy=merge_strategy, **factory)

    def forward(self, x: Tensor, emb: Tensor | None = None, *, image_only_indicator: Tensor | None = None) -> Tensor:
        s = self.spatial(x, emb)
        if self.temporal is None:
            return s
        return self.merge(s, self.temporal(s, emb), image_only_indicator=image_only_indicator)
