"""Temporal convolution residual block: GroupNorm–SiLU–Conv3d(3,1,1) layers whose last conv starts at zero.

Video LDM (Blattmann et al. 2023, §3.1: "residual blocks of 3-D convolutions" as temporal mixing layers), SVD's
``VideoResBlock.time_stack`` (ResBlock with ``video_kernel_size=[3, 1, 1]``) and ModelScope-T2V's ``TemporalConvLayer``
(four such layers) all add this block after a pretrained spatial res-block. Its last conv is zero-initialised, so

    out = skip(x) + F(x),   F(x) = 0 at init   ->   out = x at init (in_channels == out_channels)

and the image model is unchanged at step 0. Kernels are ``(k, 1, 1)``: the block mixes frames at each pixel only.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from ..checks import check_divisible, check_video
from ..examples import video_inputs
from ..registry import BadInput, register
from .common import BAD_VIDEO, conv_output_shape, same_padding
from .temporal_conv import TemporalConv3d


def _temb(cfg, frames, batch, generator):
    return torch.randn(batch, cfg["temb_dim"], generator=generator)


def _bad_temb(cfg):
    return (torch.zeros(2, cfg["in_channels"], 2, 8, 8),), {"temb": torch.zeros(2, cfg["temb_dim"] + 1)}


@register(
    "conv", "temporal_resblock",
    paper="Blattmann et al. 2023 (Video LDM) §3.1; Blattmann et al. 2023 (SVD) VideoResBlock; Wang et al. 2023 "
          "(ModelScope-T2V)",
    tiny=dict(in_channels=16, temb_dim=8, num_groups=4), inputs=video_inputs("in_channels", temb=_temb),
    output_shape=conv_output_shape, properties=("identity_at_init",),
    bad_inputs=[
        *BAD_VIDEO,
        BadInput(match="divisible by num_groups", init={"num_groups": 3}, why="channels % num_groups != 0"),
        BadInput(match="temb", inputs=_bad_temb, why="time embedding of the wrong width"),
        BadInput(match="num_layers", init={"num_layers": 1}, why="a block needs at least two convs"),
    ],
)
class TemporalResBlock(nn.Module):
    """``x + F(x)`` with ``F`` = ``num_layers`` × [GroupNorm -> SiLU -> (Dropout) -> Conv3d (k, 1, 1)].

    Shapes: ``x`` ``(B, C_in, T, H, W)`` -> ``(B, C_out, T, H, W)``; ``temb`` ``(B, temb_dim)`` (one embedding per
    clip) or ``(B, T, temb_dim)`` (per frame, as SVD's ``exchange_temb_dims``), added after the first conv through
    ``SiLU -> Linear(temb_dim, C_out)``. GroupNorm statistics span the whole clip ``(C/G, T, H, W)`` as in SVD.

    Init: the last conv's weight and bias are zero, so the block is the identity at init when
    ``in_channels == out_channels`` (otherwise it equals the 1×1×1 ``skip`` projection).

    Args:
        in_channels: C_in.
        out_channels: C_out (default C_in).
        temb_dim: width of the time embedding; ``None``: no embedding input.
        num_layers: convs in the residual branch (2: Video LDM / SVD; 4: ModelScope).
        kernel_size: temporal kernel k (odd).
        num_groups: GroupNorm groups; every normalised width must be divisible by it.
        eps: GroupNorm epsilon (1e-6 as SVD / diffusers ``TemporalResnetBlock``).
        dropout: dropout before every conv but the first.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, temb_dim: int | None = None,
                 num_layers: int = 2, kernel_size: int = 3, num_groups: int = 32, eps: float = 1e-6,
                 dropout: float = 0.0, device=None, dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        out_channels = in_channels if out_channels is None else out_channels
        if num_layers < 2:
            raise ValueError(f"{where}: num_layers must be >= 2 (norm-act-conv layers), got {num_layers}")
        for name, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
            check_divisible(name, channels, num_groups, "num_groups", where=where)
        pad = same_padding((kernel_size,), where=where)[0]
        factory = {"device": device, "dtype": dtype}
        self.in_channels, self.out_channels, self.temb_dim = in_channels, out_channels, temb_dim
        self.layers = nn.ModuleList()
        for i in range(num_layers):
            c_in = in_channels if i == 0 else out_channels
            self.layers.append(nn.Sequential(
                nn.GroupNorm(num_groups, c_in, eps=eps, **factory),
                nn.SiLU(),
                nn.Dropout(dropout) if i > 0 else nn.Identity(),
                TemporalConv3d(c_in, out_channels, kernel_size, padding=pad, **factory),
            ))
        self.temb_proj = (
            nn.Sequential(nn.SiLU(), nn.Linear(temb_dim, out_channels, **factory)) if temb_dim is not None else None
        )
        self.skip = (
            nn.Conv3d(in_channels, out_channels, 1, **factory) if in_channels != out_channels else nn.Identity()
        )
        last = self.layers[-1][-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def _time_embedding(self, temb: Tensor | None, x: Tensor) -> Tensor | None:
        where = type(self).__name__
        if self.temb_proj is None:
            if temb is not None:
                raise ValueError(f"{where}: built with temb_dim=None, so temb must be None; got a tensor")
            return None
        if temb is None:
            raise ValueError(f"{where}: temb of shape (B, {self.temb_dim}) or (B, T, {self.temb_dim}) is required")
        b, _, t = x.shape[:3]
        if temb.shape not in ((b, self.temb_dim), (b, t, self.temb_dim)):
            raise ValueError(f"{where}: temb must have shape (B, temb_dim) = {(b, self.temb_dim)} or "
                             f"(B, T, temb_dim) = {(b, t, self.temb_dim)}, got {tuple(temb.shape)}")
        emb = self.temb_proj(temb)
        if emb.ndim == 2:
            return rearrange(emb, "b c -> b c 1 1 1")
        return rearrange(emb, "b t c -> b c t 1 1")

    def forward(self, x: Tensor, temb: Tensor | None = None) -> Tensor:
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        emb = self._time_embedding(temb, x)
        h = self.layers[0](x)
        if emb is not None:
            h = h + emb
        for layer in self.layers[1:]:
            h = layer(h)
        return self.skip(x) + h
