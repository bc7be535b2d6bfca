"""Causal 3-D convolution: padding only on the past side of time, so output frame i sees input frames <= i.

    y[i] = Σ_{τ=0}^{k_t−1} W_τ * x[i − τ]        (x[j] for j < 0 is padding)

Causal video encoders (MAGVIT-v2, W.A.L.T, CogVideoX's VAE, Wan 2.1 / 2.2's VAE) use this so the first frame is
encoded on its own, like an image, and a clip can be extended frame by frame. Space is padded symmetrically ("same").

Streaming: ``forward(x, cache)`` with a ``FeatureCache`` (``feature_cache.py``) reads the ``k_t − 1`` frames before
the chunk from the cache instead of the padding and stores the last ``k_t − 1`` frames of its padded input, so a clip
fed chunk by chunk through one cache gives the one-shot output. Wan's ``WanCausalConv3d`` (time padding
``2·padding_t = k_t − 1`` in front, zero "same" padding in space) is this conv with ``pad_mode="zeros"``
[V-code: diffusers autoencoder_kl_wan.py ``WanCausalConv3d``].

``causal=False`` centres the time padding instead, ``(k_t − 1)/2`` frames on each side (the first / last frame
repeated with ``pad_mode="replicate"``): LTX-Video's VAE decoder uses its causal conv that way [V-code: diffusers
autoencoder_kl_ltx.py ``LTXVideoCausalConv3d(is_causal=False)``]; it is one-shot only (no ``cache``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_video
from ..registry import BadInput, register
from .common import BAD_EVEN_KERNEL, BAD_VIDEO, VIDEO_INPUTS, conv_output_shape, same_padding, triple
from .feature_cache import FeatureCache


_PAD_MODES = ("zeros", "replicate")


@register(
    "conv", "causal_temporal", paper="Yu et al. 2023 (MAGVIT-v2) causal 3-D conv; Gupta et al. 2023 (W.A.L.T)",
    tiny=dict(in_channels=8, out_channels=16), inputs=VIDEO_INPUTS, output_shape=conv_output_shape,
    properties=("causal",),
    bad_inputs=[
        *BAD_VIDEO, BAD_EVEN_KERNEL,
        BadInput(match="pad_mode", init={"pad_mode": "reflect"}, why="reflect would read future frames"),
        BadInput(match="causal=False needs an odd", init={"kernel_size": (2, 3, 3), "causal": False},
                 why="an even time kernel cannot be centred"),
    ],
)
class CausalConv3d(nn.Module):
    """Conv3d with ``k_t − 1`` frames of padding before the clip and none after: ``(B, C_in, T, H, W) -> (B, C_out,
    T, H, W)``.

    Args:
        in_channels, out_channels: channels.
        kernel_size: ``k`` or ``(k_t, k_h, k_w)``; the spatial sizes must be odd ("same" padding), ``k_t`` any.
        pad_mode: ``"zeros"`` or ``"replicate"`` (repeat the first frame, as MAGVIT-v2 / CogVideoX do).
        space_pad_mode: ``"zeros"`` or ``"replicate"`` (repeat the border pixels, HunyuanVideo's VAE
            [V-code: diffusers autoencoder_kl_hunyuan_video.py ``HunyuanVideoCausalConv3d``]).
        stride: ``s`` or ``(s_t, s_h, s_w)`` (HunyuanVideo's down-sampling convs: 2); a time stride > 1 is one-shot
            only (no ``cache``).
        space_padding: ``"same"`` (odd spatial kernels, padded to keep H, W) or ``"none"`` (no spatial padding, any
            spatial kernel: Mochi's VAE down-samples with kernel = stride ``(s_t, 2, 2)`` [V-code: diffusers
            autoencoder_kl_mochi.py ``MochiDownBlock3D.conv_in``]).
        bias: additive bias.
        causal: True (padding before the clip only); False: ``(k_t − 1)/2`` frames before and after (``k_t`` odd;
            one-shot only), LTX-Video's decoder.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int] = 3, *,
                 pad_mode: str = "zeros", space_pad_mode: str = "zeros", stride: int | Sequence[int] = 1,
                 bias: bool = True, causal: bool = True, space_padding: str = "same", device=None,
                 dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        kt, kh, kw = triple(kernel_size, "kernel_size", where=where)
        if space_padding not in ("same", "none"):
            raise ValueError(f"{where}: space_padding must be 'same' or 'none', got {space_padding!r}")
        _, ph, pw = same_padding((1, kh, kw), where=where) if space_padding == "same" else (0, 0, 0)
        if pad_mode not in _PAD_MODES:
            raise ValueError(f"{where}: pad_mode must be one of {_PAD_MODES}, got {pad_mode!r}")
        if space_pad_mode not in _PAD_MODES:
            raise ValueError(f"{where}: space_pad_mode must be one of {_PAD_MODES}, got {space_pad_mode!r}")
        self.space_pad_mode, self.stride = space_pad_mode, triple(stride, "stride", where=where)
        self.in_channels, self.out_channels, self.pad_mode = in_channels, out_channels, pad_mode
        if not causal and kt % 2 == 0:
            raise ValueError(f"{where}: causal=False needs an odd time kernel (centred padding), got k_t={kt}")
        self.time_pad, self.space_pad, self.causal = kt - 1, (pw, pw, ph, ph), causal
        # padding is explicit (F.pad) rather than the conv's: the time padding copies the input anyway, and CPU's
        # Conv3d kernel measured ~10 % faster on a pre-padded input (a tiny Wan VAE decode, benchmarks vs_diffusers)
        self.conv = nn.Conv3d(in_channels, out_channels, (kt, kh, kw), stride=self.stride, bias=bias, device=device,
                              dtype=dtype)

    def forward(self, x: Tensor, cache: FeatureCache | None = None) -> Tensor:
        """``x`` ``(B, C_in, T, H, W)`` -> ``(B, C_out, T, H, W)``; with ``cache``, ``x`` is the next chunk of a clip
        (the frames before it come from the cache, which then keeps this chunk's last ``k_t − 1`` frames)."""
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        if not self.causal:
            return self._centred(x, cache)
        past = None if cache is None else cache.get(self)
        if cache is not None and self.stride[0] > 1:
            raise ValueError(f"{type(self).__name__}: a time stride {self.stride[0]} > 1 is one-shot only: cache must "
                             f"be None, got a FeatureCache")
        if self.space_pad_mode == "replicate":  # border pixels repeated in space, then the time padding
            x = F.pad(x, (*self.space_pad, 0, 0), mode="replicate")
            if past is not None:
                x = torch.cat([past, x], dim=2)
            elif self.time_pad:
                x = F.pad(x, (0, 0, 0, 0, self.time_pad, 0), mode="replicate" if self.pad_mode == "replicate" else
                          "constant")
        elif past is None and self.pad_mode == "zeros":  # start of the clip: zeros in space and before frame 0
            x = F.pad(x, (*self.space_pad, self.time_pad, 0))  # (w_l, w_r, h_top, h_bottom, t_front, t_back)
        elif past is None:  # replicate frame 0 (of the zero-padded frame)
            x = F.pad(F.pad(x, (*self.space_pad, 0, 0)), (0, 0, 0, 0, self.time_pad, 0), mode="replicate")
        else:  # the cache holds the previous frames, already padded in space
            x = torch.cat([past, F.pad(x, (*self.space_pad, 0, 0))], dim=2)
        if cache is not None and self.time_pad:
            # a copy, so the cache holds k_t − 1 frames and not the whole chunk behind a view
            cache.set(self, x[:, :, x.shape[2] - self.time_pad:].clone())
        return self.conv(x)

    def _centred(self, x: Tensor, cache: FeatureCache | None) -> Tensor:
        """``causal=False``: ``(k_t − 1)/2`` frames each side of the clip (replicated or zeros), space as set."""
        if cache is not None:
            raise ValueError(f"{type(self).__name__}: causal=False is one-shot only: cache must be None, got a "
                             f"FeatureCache")
        half = self.time_pad // 2
        x = F.pad(x, (*self.space_pad, 0, 0), mode="replicate" if self.space_pad_mode == "replicate" else "constant")
        if half:
            x = F.pad(x, (0, 0, 0, 0, half, half), mode="replicate" if self.pad_mode == "replicate" else "constant")
        return self.conv(x)
