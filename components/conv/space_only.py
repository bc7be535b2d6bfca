"""Space-only 3-D convolution: a ``1×k×k`` Conv3d, i.e. an image model's 2-D conv applied to every frame.

VDM (Ho et al. 2022, §3) turns every 2-D ``k×k`` conv of the image U-Net into a ``1×k×k`` 3-D conv ("space-only"),
so frames never mix and a pretrained 2-D conv loads exactly: ``W3d[o, i, 0, :, :] = W2d[o, i, :, :]``.
Tune-A-Video's ``InflatedConv3d`` is the same layer.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_video
from ..registry import register
from .common import BAD_EVEN_KERNEL, BAD_VIDEO, VIDEO_INPUTS, conv_output_shape, same_padding


def inflate_conv2d_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """An ``nn.Conv2d`` state dict as a ``1×k×k`` Conv3d's: weight ``(O, I, k, k) -> (O, I, 1, k, k)``."""
    out = dict(state_dict)
    weight = out["weight"]
    if weight.ndim != 4:
        raise ValueError(f"inflate_conv2d_state_dict: weight must be a 4-D Conv2d weight (O, I, kH, kW), "
                         f"got shape {tuple(weight.shape)}")
    out["weight"] = weight.unsqueeze(2)
    return out


@register(
    "conv", "space_only_3d", paper="Ho et al. 2022 (VDM), §3 factorized space-time U-Net",
    tiny=dict(in_channels=8, out_channels=16), inputs=VIDEO_INPUTS, output_shape=conv_output_shape,
    bad_inputs=[*BAD_VIDEO, BAD_EVEN_KERNEL], properties=("frame_independent",),
)
class SpaceOnlyConv3d(nn.Conv3d):
    """A 2-D ``k×k`` conv on every frame, as a Conv3d with kernel ``(1, k, k)`` and "same" spatial padding.

    Shapes: ``x`` ``(B, C_in, T, H, W)`` -> ``(B, C_out, T, H, W)`` (``stride`` > 1 divides H and W).
    Load a pretrained image conv with ``from_conv2d(conv)`` or ``load_conv2d_state_dict(conv.state_dict())``:
    the result equals that Conv2d applied per frame, bit for bit in fp32.

    Args:
        in_channels, out_channels: channels C_in, C_out.
        kernel_size: spatial kernel k (odd).
        stride: spatial stride.
        bias: learn an additive bias.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, bias: bool = True,
                 *, device=None, dtype=None) -> None:
        where = type(self).__name__
        pad = same_padding((kernel_size,), where=where)[0]
        super().__init__(in_channels, out_channels, (1, kernel_size, kernel_size), stride=(1, stride, stride),
                         padding=(0, pad, pad), bias=bias, device=device, dtype=dtype)

    @classmethod
    def from_conv2d(cls, conv: nn.Conv2d) -> SpaceOnlyConv3d:
        """The space-only conv equal to ``conv`` applied per frame (same device and dtype)."""
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"from_conv2d: conv must be an nn.Conv2d, got {type(conv).__name__}")
        (k, k2), (s, s2), (p, p2) = conv.kernel_size, conv.stride, conv.padding
        if k != k2 or s != s2 or p != p2 or p != k // 2 or conv.groups != 1 or conv.dilation != (1, 1):
            raise ValueError(
                "from_conv2d: conv must have a square odd kernel with 'same' padding (k // 2), equal strides, "
                f"groups=1, dilation=1; got kernel_size={conv.kernel_size}, stride={conv.stride}, "
                f"padding={conv.padding}, groups={conv.groups}, dilation={conv.dilation}"
            )
        new = cls(conv.in_channels, conv.out_channels, k, s, conv.bias is not None,
                  device=conv.weight.device, dtype=conv.weight.dtype)
        new.load_conv2d_state_dict(conv.state_dict())
        return new

    def load_conv2d_state_dict(self, state_dict: Mapping[str, Tensor]) -> None:
        """Load an ``nn.Conv2d`` state dict (``weight`` ``(O, I, k, k)``, optional ``bias``) strictly."""
        with torch.no_grad():
            self.load_state_dict(inflate_conv2d_state_dict(state_dict), strict=True)

    def forward(self, x: Tensor) -> Tensor:
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        if x.device.type != "cpu" or x.shape[0] > 1:
            return super().forward(x)
        # Batch 1 on CPU: PyTorch sends a Conv3d with batch 1 and a small C·T·H to its native im2col kernel
        # (slow_conv3d), 1.6-3.6x slower than oneDNN here; the same conv on the frames as a batch takes oneDNN.
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)  # b c t h w -> (b t) c h w
        out = F.conv2d(frames, self.weight.squeeze(2), self.bias, self.stride[1:], self.padding[1:])
        return out.view(b, t, *out.shape[1:]).transpose(1, 2).contiguous()  # (b t) c h w -> b c t h w
