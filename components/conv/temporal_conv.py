"""A Conv3d whose kernel is ``(k, 1, 1)``, computed as a 2-D convolution over ``(T, H·W)``.

Temporal convolutions (Video LDM / SVD / ModelScope res-blocks, (2+1)-D factorizations) mix frames at each pixel
only. CPU backends run a ``(k, 1, 1)`` Conv3d far below their 2-D speed (measured 2–3× slower than the same
arithmetic as a 2-D conv on the CI machine, and ~20× in one micro-benchmark), so the forward folds the two spatial
axes into one and calls ``conv2d`` with the ``(k, 1)`` kernel:

    rearrange(x, "b c t h w -> b c t (h w)")  ->  conv2d(kernel (k, 1))  ->  "b c t (h w) -> b c t h w"

The parameters keep ``nn.Conv3d``'s layout (weight ``(C_out, C_in, k, 1, 1)``), so state dicts of peers load
unchanged. The result equals ``nn.Conv3d`` up to float rounding.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class TemporalConv3d(nn.Conv3d):
    """``nn.Conv3d(in_channels, out_channels, (k, 1, 1), padding=(k // 2, 0, 0))`` computed through ``conv2d``.

    Shapes: ``(B, C_in, T, H, W) -> (B, C_out, T', H, W)`` with ``T' = T + 2·pad − k + 1``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, *, padding: int | None = None,
                 bias: bool = True, device=None, dtype=None) -> None:
        pad = kernel_size // 2 if padding is None else padding
        super().__init__(in_channels, out_channels, (kernel_size, 1, 1), padding=(pad, 0, 0), bias=bias,
                         device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        flat = x.reshape(*x.shape[:3], h * w)  # b c t h w -> b c t (h w)
        out = F.conv2d(flat, self.weight.squeeze(-1), self.bias, padding=(self.padding[0], 0))
        return out.view(*out.shape[:3], h, w)  # b c t (h w) -> b c t h w
