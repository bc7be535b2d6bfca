"""ModelScope-T2V's ``TemporalConvLayer``: four (3, 1, 1) convs over frames, the last zero-initialised, residual.

Wang et al. 2023 (ModelScope text-to-video; diffusers ``UNet3DConditionModel.temp_convs``) put this stack after every
spatial res-block. It is ``conv/temporal_resblock`` with ModelScope's settings (four norm–act–conv layers, no time
embedding, GroupNorm eps 1e-5, dropout 0.1 before convs 2–4), so this file only fixes those defaults.
"""

from __future__ import annotations

from ..conv.temporal_resblock import TemporalResBlock
from ..examples import bad_channels, bad_ndim, video_inputs
from ..registry import BadInput, register


@register(
    "block", "temporal_conv_stack", paper="Wang et al. 2023 (ModelScope-T2V) TemporalConvLayer",
    tiny=dict(in_channels=16, num_groups=4), inputs=video_inputs("in_channels"),
    properties=("identity_at_init",),
    bad_inputs=[
        BadInput(match="B C T H W", inputs=bad_ndim("in_channels"), why="a 4-D image"),
        BadInput(match="channels", inputs=bad_channels("in_channels"), why="channels != in_channels"),
        BadInput(match="divisible by num_groups", init={"num_groups": 3}, why="channels % num_groups != 0"),
    ],
)
class TemporalConvStack(TemporalResBlock):
    """``x + F(x)``, ``F`` = 4 × [GroupNorm (whole clip) -> SiLU -> (Dropout) -> Conv3d (3, 1, 1)].

    Shapes: ``(B, C, T, H, W) -> (B, C, T, H, W)``; frames mix at each pixel only. GroupNorm statistics span the
    clip ``(C/G, T, H, W)`` as in ModelScope. Init: the fourth conv is zero, so the stack is the identity at init.
    Parameter names: ``layers.{0..3}.0`` (GroupNorm) and ``layers.{0..3}.3`` (conv).

    Args:
        in_channels: C; num_groups, eps: the GroupNorms (ModelScope: 32, 1e-5); dropout: before convs 2–4 (0.1);
        num_layers, kernel_size: 4 and 3 in ModelScope.
    """

    def __init__(self, in_channels: int, *, num_layers: int = 4, kernel_size: int = 3, num_groups: int = 32,
                 eps: float = 1e-5, dropout: float = 0.1, device=None, dtype=None) -> None:
        super().__init__(in_channels, temb_dim=None, num_layers=num_layers, kernel_size=kernel_size,
                         num_groups=num_groups, eps=eps, dropout=dropout, device=device, dtype=dtype)
