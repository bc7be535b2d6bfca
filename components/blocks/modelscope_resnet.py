"""ModelScope-T2V's res unit: the image model's res-block, then the temporal conv stack (``temp_convs``).

Wang et al. 2023 (ModelScope text-to-video; diffusers ``UNet3DConditionModel``): every ``ResnetBlock2D`` of the
Stable Diffusion 2 U-Net is followed by a ``TemporalConvLayer`` that starts as the identity. Composed from
``block/resnet`` (space-only convs, timestep added as a bias, SD style) and ``block/temporal_conv_stack``; fills the
``res_block`` slot of ``net/space_time_unet``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import registry
from ..examples import bad_channels, bad_ndim, video_inputs
from ..registry import BadInput, register


def _emb(cfg, frames, batch, generator):
    return torch.randn(batch, cfg["emb_dim"], generator=generator)


@register(
    "block", "modelscope_resnet", paper="Wang et al. 2023 (ModelScope-T2V) ResnetBlock2D + TemporalConvLayer",
    tiny=dict(in_channels=8, out_channels=16, emb_dim=12, num_groups=4), inputs=video_inputs("in_channels", emb=_emb),
    output_shape=lambda cfg, x, *a, **k: (x.shape[0], cfg["out_channels"], *x.shape[2:]),
    bad_inputs=[
        BadInput(match="B C T H W", inputs=bad_ndim("in_channels"), why="a 4-D image"),
        BadInput(match="channels", inputs=bad_channels("in_channels"), why="channels != in_channels"),
        BadInput(match="divisible by num_groups", init={"num_groups": 3}, why="channels % num_groups != 0"),
    ],
)
class ModelScopeResnet(nn.Module):
    """``temporal(spatial(x, emb))``: ``block/resnet`` (per frame) then ``block/temporal_conv_stack`` (over frames).

    Shapes: ``x`` ``(B, C_in, T, H, W)``, ``emb`` ``(B, emb_dim)`` -> ``(B, C_out, T, H, W)``.
    Init: the stack's last conv is zero, so at init the unit equals the image res-block with the same weights.
    Parameter names: ``spatial.*`` (``block/resnet``), ``temporal.layers.{0..3}.{0,3}``.

    Args:
        in_channels, out_channels, emb_dim, num_groups, eps, dropout: the spatial res-block's (SD: eps 1e-5).
        scale_shift: FiLM conditioning in the res-block (SD / ModelScope: False, the embedding is added).
        temporal: append the temporal conv stack (False: the image unit alone).
        temporal_dropout: the stack's dropout (ModelScope 0.1).
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, emb_dim: int | None = None,
                 num_groups: int = 32, eps: float = 1e-5, dropout: float = 0.0, scale_shift: bool = False,
                 temporal: bool = True, temporal_dropout: float = 0.1, device=None, dtype=None) -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        factory = {"device": device, "dtype": dtype}
        self.spatial = registry.build("block/resnet", in_channels=in_channels, out_channels=out_channels,
                                      emb_dim=emb_dim, num_groups=num_groups, eps=eps, dropout=dropout,
                                      scale_shift=scale_shift, temporal=False, **factory)
        self.temporal = (
            registry.build("block/temporal_conv_stack", in_channels=out_channels, num_groups=num_groups,
                           dropout=temporal_dropout, **factory)
            if temporal else None
        )

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        h = self.spatial(x, emb)
        return h if self.temporal is None else self.temporal(h)
