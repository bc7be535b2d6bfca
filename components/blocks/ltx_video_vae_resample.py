"""LTX-Video's VAE resampling by depth-to-space: the decoder's up-sampler (×2 in T, H, W) and the 0.9.5+ encoder's
space-to-depth down-sampler.

HaCohen et al. 2024 (LTX-Video §2.1) [V-code: diffusers autoencoder_kl_ltx.py ``LTXVideoUpsampler3d``;
Lightricks/LTX-Video ``DepthToSpaceUpsample``]::

    h = conv(x)                                       (B, C, T, H, W) -> (B, C·s/u, T, H, W),  s = s_t·s_h·s_w = 8
    y = d2s(h)[:, :, s_t − 1:]                        b (c st sh sw) t h w -> b c (t st) (h sh) (w sw), drop the
                                                      first s_t − 1 frames: T -> s_t·T − (s_t − 1) = 1 + 2(T − 1)
    y = y + tile_{s/u}(d2s(x))[:, :, s_t − 1:]        ``residual`` (0.9.1+): the input's own depth-to-space, its C/s
                                                      channels tiled s/u times

so the causal first latent frame decodes to one frame and every later one to s_t frames. ``upscale_factor`` u divides
the output width (0.9.1: u = 2, the width halves per level). The conv is ``conv/causal_temporal`` (``causal=False``
in LTX's decoder: first / last frame replicated on both sides).

The down-sampler (0.9.5+, ``LTXVideoDownsampler3d``; stride s = (s_t, s_h, s_w) ∈ {(1, 2, 2), (2, 1, 1), (2, 2, 2)})
is its mirror, with a causal conv::

    x' = [x[:, :, :s_t − 1] ; x]                the first frame repeated s_t − 1 times: 1 + 2k -> 2 + 2k frames
    y  = s2d(conv(x')) + mean_g(s2d(x'))        s2d: b c (t st) (h sh) (w sw) -> b (c st sh sw) t h w; conv C -> C_out/s;
                                                the skip's C·s channels averaged in groups of g = C·s / C_out
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..checks import check_video
from ..conv.causal import CausalConv3d
from ..registry import BadInput, register


def depth_to_space(x: Tensor, stride: Sequence[int]) -> Tensor:
    """``(B, C·s_t·s_h·s_w, T, H, W) -> (B, C, T·s_t, H·s_h, W·s_w)``, channels ordered ``(c st sh sw)``."""
    st, sh, sw = stride
    b, c, t, h, w = x.shape
    # b (c st sh sw) t h w -> b c (t st) (h sh) (w sw)
    x = x.view(b, c // (st * sh * sw), st, sh, sw, t, h, w).permute(0, 1, 5, 2, 6, 3, 7, 4)
    return x.reshape(b, c // (st * sh * sw), t * st, h * sh, w * sw)


def space_to_depth(x: Tensor, stride: Sequence[int]) -> Tensor:
    """``(B, C, T·s_t, H·s_h, W·s_w) -> (B, C·s_t·s_h·s_w, T, H, W)``, channels ``(c st sh sw)`` (``depth_to_space``'s
    inverse)."""
    st, sh, sw = stride
    b, c, t, h, w = x.shape
    # b c (t st) (h sh) (w sw) -> b (c st sh sw) t h w
    x = x.view(b, c, t // st, st, h // sh, sh, w // sw, sw).permute(0, 1, 3, 5, 7, 2, 4, 6)
    return x.reshape(b, c * st * sh * sw, t // st, h // sh, w // sw)


def _inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    return (torch.randn(batch, cfg["in_channels"], frames, 4, 4, generator=generator),), {}


def _out_shape(cfg: dict, x: Tensor, *args, **kwargs):
    u = cfg.get("upscale_factor", 1)
    return (x.shape[0], x.shape[1] // u, 2 * x.shape[2] - 1, 2 * x.shape[3], 2 * x.shape[4])


@register(
    "block", "ltx_video_vae_upsample", paper="HaCohen et al. 2024 (LTX-Video) video VAE depth-to-space up-sampler",
    tiny=dict(in_channels=8, residual=True, upscale_factor=2), inputs=_inputs, output_shape=_out_shape,
    bad_inputs=[
        BadInput(match="in_channels·8 must be divisible", init={"in_channels": 6, "upscale_factor": 16},
                 why="a width the depth-to-space cannot split"),
        BadInput(match="channels", inputs=lambda cfg: ((torch.zeros(1, 9, 1, 4, 4),), {}), why="wrong channels"),
    ],
)
class LTXVideoUpsample(nn.Module):
    """``(B, C, T, H, W) -> (B, C/u, 1 + 2(T − 1), 2H, 2W)`` (module docstring).

    Args:
        in_channels: C.
        upscale_factor: u (1 for 0.9.0, 2 for 0.9.1+); residual: add the input's depth-to-space (0.9.1+).
        causal: the conv's time padding (False in LTX's decoder).
    """

    stride = (2, 2, 2)

    def __init__(self, in_channels: int, *, upscale_factor: int = 1, residual: bool = False, causal: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        s = 8
        if (in_channels * s) % upscale_factor or residual and (in_channels % s or s % upscale_factor):
            raise ValueError(f"{type(self).__name__}: in_channels·8 must be divisible by upscale_factor (and with "
                             f"residual in_channels by 8, 8 by upscale_factor), got in_channels={in_channels}, "
                             f"upscale_factor={upscale_factor}")
        self.in_channels, self.upscale_factor, self.residual = in_channels, upscale_factor, residual
        self.conv = CausalConv3d(in_channels, in_channels * s // upscale_factor, 3, pad_mode="replicate",
                                 causal=causal, device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        drop = self.stride[0] - 1
        y = depth_to_space(self.conv(x), self.stride)[:, :, drop:]
        if self.residual:
            skip = depth_to_space(x, self.stride).repeat(1, 8 // self.upscale_factor, 1, 1, 1)
            y = y + skip[:, :, drop:]
        return y


_STRIDES = {"spatial": (1, 2, 2), "temporal": (2, 1, 1), "spatiotemporal": (2, 2, 2)}


def _down_inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    frames = frames + (frames + 1) % 2 if _STRIDES[cfg.get("kind", "spatiotemporal")][0] == 2 else frames  # 1 + 2k
    return (torch.randn(batch, cfg["in_channels"], frames, 4, 4, generator=generator),), {}


def _down_shape(cfg: dict, x: Tensor, *args, **kwargs):
    st, sh, sw = _STRIDES[cfg.get("kind", "spatiotemporal")]
    return (x.shape[0], cfg["out_channels"], (x.shape[2] + st - 1) // st, x.shape[3] // sh, x.shape[4] // sw)


@register(
    "block", "ltx_video_vae_downsample", paper="HaCohen et al. 2024 (LTX-Video 0.9.5) space-to-depth down-sampler",
    # causal in the compressed sense (output frame i sees input frames ≤ s_t·i), not the suite's frame-for-frame one
    tiny=dict(in_channels=8, out_channels=16), inputs=_down_inputs, output_shape=_down_shape, frames=(1, 3, 5),
    bad_inputs=[
        BadInput(match="kind must be one of", init={"kind": "conv"}),
        BadInput(match="out_channels must divide", init={"out_channels": 12}, why="a width the groups cannot make"),
        BadInput(match="frames must be 1 \\+ 2·k", inputs=lambda cfg: ((torch.zeros(1, 8, 2, 4, 4),), {}),
                 why="an even frame count under a temporal stride"),
    ],
)
class LTXVideoDownsample(nn.Module):
    """``(B, C, T, H, W) -> (B, C_out, (T + s_t − 1)/s_t, H/s_h, W/s_w)`` (module docstring).

    Args:
        in_channels, out_channels: C, C_out (C_out must divide C·s and be divisible by s).
        kind: ``"spatial"`` (1, 2, 2), ``"temporal"`` (2, 1, 1) or ``"spatiotemporal"`` (2, 2, 2).
        causal: the conv's time padding (True in LTX's encoder).
    """

    def __init__(self, in_channels: int, out_channels: int, *, kind: str = "spatiotemporal", causal: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        if kind not in _STRIDES:
            raise ValueError(f"{where}: kind must be one of {tuple(_STRIDES)}, got {kind!r}")
        self.stride = _STRIDES[kind]
        s = self.stride[0] * self.stride[1] * self.stride[2]
        if (in_channels * s) % out_channels or out_channels % s:
            raise ValueError(f"{where}: out_channels must divide in_channels·{s} and be divisible by {s} (the "
                             f"stride's volume), got in_channels={in_channels}, out_channels={out_channels}")
        self.in_channels, self.out_channels, self.group = in_channels, out_channels, in_channels * s // out_channels
        self.conv = CausalConv3d(in_channels, out_channels // s, 3, pad_mode="replicate", causal=causal,
                                 device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        where, st = type(self).__name__, self.stride[0]
        check_video(x, channels=self.in_channels, where=where)
        if st > 1 and x.shape[2] % st != 1:
            raise ValueError(f"{where}: x frames must be 1 + {st}·k (the causal first frame, then groups of {st}), "
                             f"got {x.shape[2]}")
        x = torch.cat([x[:, :, :st - 1], x], dim=2)
        skip = space_to_depth(x, self.stride)
        skip = skip.view(skip.shape[0], self.out_channels, self.group, *skip.shape[2:]).mean(dim=2)
        return space_to_depth(self.conv(x), self.stride) + skip
