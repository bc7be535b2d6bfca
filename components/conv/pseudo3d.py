"""Pseudo-3-D convolution (Singer et al. 2022, Make-A-Video, §3.2, Eq. for "Pseudo-3D convolutional layers").

    Conv_P3D(h) = Conv_1D( Conv_2D(h) ∘ T ) ∘ T

a pretrained 2-D conv on every frame, then a new 1-D conv over frames at every pixel. The 1-D conv starts as the
identity (``dirac``, bias 0), so at initialisation the layer *is* the image model's conv, for any T.
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn

from ..checks import check_video
from ..registry import register
from .common import BAD_EVEN_KERNEL, BAD_VIDEO, VIDEO_INPUTS, conv_output_shape, same_padding


@register(
    "conv", "pseudo3d", paper="Singer et al. 2022 (Make-A-Video), §3.2 pseudo-3D convolutional layers",
    tiny=dict(in_channels=8, out_channels=16), inputs=VIDEO_INPUTS, output_shape=conv_output_shape,
    bad_inputs=[*BAD_VIDEO, BAD_EVEN_KERNEL],
)
class PseudoConv3d(nn.Module):
    """Per-frame ``nn.Conv2d`` (``spatial``) followed by a per-pixel ``nn.Conv1d`` over frames (``temporal``).

    Shapes: ``(B, C_in, T, H, W)`` -> ``rearrange("b c t h w -> (b t) c h w")`` -> Conv2d ->
    ``rearrange("(b t) c h w -> (b h w) c t")`` -> Conv1d -> ``(B, C_out, T, H, W)``.

    Init: ``temporal`` is the identity (``nn.init.dirac_``, zero bias), so the output equals ``spatial`` applied per
    frame; load a pretrained image conv with ``module.spatial.load_state_dict(conv2d.state_dict())``.
    T = 1 is a one-frame video: the temporal conv still runs, with zero padding around the single frame
    (the identity at init; only the centre tap afterwards).

    Args:
        in_channels, out_channels: channels.
        kernel_size: spatial kernel k of the 2-D conv (odd, "same" padding).
        temporal_kernel_size: kernel of the 1-D conv over frames (odd; Make-A-Video uses 3).
        bias: additive biases.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, temporal_kernel_size: int = 3,
                 bias: bool = True, *, device=None, dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        pad = same_padding((kernel_size,), where=where)[0]
        tpad = same_padding((temporal_kernel_size,), "temporal_kernel_size", where=where)[0]
        factory = {"device": device, "dtype": dtype}
        self.in_channels, self.out_channels = in_channels, out_channels
        self.spatial = nn.Conv2d(in_channels, out_channels, kernel_size, padding=pad, bias=bias, **factory)
        self.temporal = nn.Conv1d(out_channels, out_channels, temporal_kernel_size, padding=tpad, bias=bias,
                                  **factory)
        nn.init.dirac_(self.temporal.weight)
        if self.temporal.bias is not None:
            nn.init.zeros_(self.temporal.bias)

    def forward(self, x: Tensor) -> Tensor:
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        b, _, t, h, w = x.shape
        y = self.spatial(rearrange(x, "b c t h w -> (b t) c h w"))
        y = self.temporal(rearrange(y, "(b t) c h w -> (b h w) c t", b=b, t=t))
        return rearrange(y, "(b h w) c t -> b c t h w", b=b, h=h, w=w)

    def spatial_only(self, x: Tensor) -> Tensor:
        """The image model's path alone (``spatial`` per frame, no temporal mixing): ``(B, C_out, T, H, W)``."""
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        b = x.shape[0]
        y = self.spatial(rearrange(x, "b c t h w -> (b t) c h w"))
        return rearrange(y, "(b t) c h w -> b c t h w", b=b)
