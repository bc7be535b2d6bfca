"""Residual block of the video U-Nets: GroupNorm–SiLU–conv twice, time embedding in between, optional temporal part."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from .. import registry
from ..checks import check_divisible, check_video
from ..examples import bad_channels, bad_ndim, video_inputs
from ..registry import BadInput, UnknownComponentError, register


def _emb(cfg, frames, batch, generator):
    return torch.randn(batch, cfg["emb_dim"], generator=generator)


def _bad_emb(cfg):
    return (torch.zeros(2, cfg["in_channels"], 2, 8, 8),), {"emb": torch.zeros(2, cfg["emb_dim"] + 1)}


def _output_shape(cfg, x, *args, **kwargs):
    b, _, t, h, w = x.shape
    return (b, cfg.get("out_channels") or cfg["in_channels"], t, h, w)


def frame_group_norm(norm: nn.GroupNorm, x: Tensor) -> Tensor:
    """GroupNorm with statistics per frame (an image model's norm): ``b c t h w -> (b t) c h w -> norm -> back``."""
    b, c, t, h, w = x.shape
    out = norm(x.transpose(1, 2).reshape(b * t, c, h, w))  # b c t h w -> (b t) c h w
    return out.view(b, t, c, h, w).transpose(1, 2)  # (b t) c h w -> b c t h w


@register(
    "block", "resnet", paper="Ho et al. 2022 (VDM); Blattmann et al. 2023 (Video LDM, SVD)",
    tiny=dict(in_channels=8, out_channels=16, emb_dim=12, num_groups=4),
    inputs=video_inputs("in_channels", emb=_emb), output_shape=_output_shape, properties=("frame_independent",),
    bad_inputs=[
        BadInput(match="B C T H W", inputs=bad_ndim("in_channels"), why="a 4-D image"),
        BadInput(match="channels", inputs=bad_channels("in_channels"), why="channels != in_channels"),
        BadInput(match="divisible by num_groups", init={"num_groups": 3}, why="channels % num_groups != 0"),
        BadInput(match="emb", inputs=_bad_emb, why="embedding of the wrong width"),
        BadInput(match="Did you mean", init={"conv": "conv/pseudo_3d"}, error=UnknownComponentError,
                 why="a conv key that is not registered"),
    ],
)
class ResnetBlock(nn.Module):
    """``skip(x) + conv₂(drop(SiLU(mod(GN(conv₁(SiLU(GN(x)))), emb))))``, with space-only ``1×3×3`` convs.

    Shapes: ``x`` ``(B, C_in, T, H, W)``, ``emb`` ``(B, emb_dim)`` (one per clip) or ``(B, T, emb_dim)`` (per frame)
    -> ``(B, C_out, T, H, W)``.

    The image res-block of DDPM/iDDPM/SD applied to every frame (VDM §3: every 2-D conv becomes a space-only 3-D
    conv, ``conv/space_only_3d``); GroupNorm statistics are per frame, so the block is frame-independent. The
    embedding enters through ``SiLU -> Linear(emb_dim, ·)``:

        scale_shift=True  (iDDPM, VDM):   h = GN(h) · (1 + scale) + shift,  [scale, shift] = Linear(SiLU(emb))
        scale_shift=False (DDPM, SD):     h = GN(h + Linear(SiLU(emb)))

    ``skip`` is a 1×1 space-only conv when C_in != C_out, else the identity.

    ``conv`` names the registry key of the two 3×3 convs. ``"conv/pseudo3d"`` is Make-A-Video's res-block (§3.2:
    a 1-D conv over frames after each 2-D conv, dirac-initialised): at init it equals the default block with the same
    2-D weights (``conv1.spatial.weight[:, :, None]`` is the default's ``conv1.weight``), so the pretrained image
    res-block is unchanged; the 1×1 skip stays space-only (a pointwise channel map needs no temporal kernel).

    ``temporal=True`` appends ``conv/temporal_resblock`` (Video LDM §3.1 / SVD ``VideoResBlock.time_stack``:
    GN–SiLU–Conv3d(3,1,1) ×2 with the embedding, last conv zero-initialised), so at init the block equals the
    ``temporal=False`` block with the same weights; its parameters live under ``temporal.``.

    Args:
        in_channels, out_channels: C_in, C_out (default C_in); both divisible by ``num_groups``.
        emb_dim: width of the time/conditioning embedding; ``None``: no embedding (``forward(x)``).
        num_groups, eps: GroupNorm groups and epsilon.
        dropout: before the second conv.
        scale_shift: FiLM-style scale and shift (True) or a plain added bias (False).
        temporal: add the temporal conv res-block; ``temporal_kernel_size`` its temporal kernel.
        conv: registry key of ``conv1`` and ``conv2`` (built with ``in_channels``/``out_channels``):
            ``"conv/space_only_3d"`` (VDM, default) or ``"conv/pseudo3d"`` (Make-A-Video).
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, emb_dim: int | None = None,
                 num_groups: int = 32, eps: float = 1e-5, dropout: float = 0.0, scale_shift: bool = True,
                 temporal: bool = False, temporal_kernel_size: int = 3, conv: str = "conv/space_only_3d",
                 device=None, dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        out_channels = in_channels if out_channels is None else out_channels
        for name, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
            check_divisible(name, channels, num_groups, "num_groups", where=where)
        factory = {"device": device, "dtype": dtype}
        self.in_channels, self.out_channels, self.emb_dim = in_channels, out_channels, emb_dim
        self.scale_shift, self.conv_key = scale_shift, conv
        self.norm1 = nn.GroupNorm(num_groups, in_channels, eps=eps, **factory)
        self.conv1 = registry.build(conv, in_channels=in_channels, out_channels=out_channels, **factory)
        self.emb_proj = None
        if emb_dim is not None:
            width = 2 * out_channels if scale_shift else out_channels
            self.emb_proj = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, width, **factory))
        self.norm2 = nn.GroupNorm(num_groups, out_channels, eps=eps, **factory)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = registry.build(conv, in_channels=out_channels, out_channels=out_channels, **factory)
        self.skip = (
            registry.build("conv/space_only_3d", in_channels=in_channels, out_channels=out_channels, kernel_size=1,
                           **factory)
            if in_channels != out_channels else nn.Identity()
        )
        self.temporal = (
            registry.build("conv/temporal_resblock", in_channels=out_channels, temb_dim=emb_dim,
                           kernel_size=temporal_kernel_size, num_groups=num_groups, **factory)
            if temporal else None
        )

    def _embedding(self, emb: Tensor | None, x: Tensor) -> Tensor | None:
        where = type(self).__name__
        if self.emb_proj is None:
            if emb is not None:
                raise ValueError(f"{where}: built with emb_dim=None, so emb must be None; got a tensor")
            return None
        b, _, t = x.shape[:3]
        if emb is None or emb.shape not in ((b, self.emb_dim), (b, t, self.emb_dim)):
            got = None if emb is None else tuple(emb.shape)
            raise ValueError(f"{where}: emb must have shape (B, emb_dim) = {(b, self.emb_dim)} or "
                             f"(B, T, emb_dim) = {(b, t, self.emb_dim)}, got {got}")
        out = self.emb_proj(emb)
        return rearrange(out, "b c -> b c 1 1 1") if out.ndim == 2 else rearrange(out, "b t c -> b c t 1 1")

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        e = self._embedding(emb, x)
        h = self.conv1(torch.nn.functional.silu(frame_group_norm(self.norm1, x)))
        if e is None:
            h = frame_group_norm(self.norm2, h)
        elif self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = frame_group_norm(self.norm2, h) * (1 + scale) + shift
        else:
            h = frame_group_norm(self.norm2, h + e)
        h = self.conv2(self.dropout(torch.nn.functional.silu(h)))
        out = self.skip(x) + h
        return out if self.temporal is None else self.temporal(out, emb)

    def extra_repr(self) -> str:
        return f"scale_shift={self.scale_shift}, temporal={self.temporal is not None}, conv={self.conv_key!r}"
