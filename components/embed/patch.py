"""Spacetime patches: a video -> tokens (``PatchEmbed3d``) and the inverse layout for a DiT head (``unpatchify``).

Patch embedding (Dosovitskiy et al. 2021 ViT; DiT's ``x_embedder``; 3-D as the spacetime patches of Sora's report and
Latte / CogVideoX) is a Conv3d with ``kernel = stride = (p_t, p_h, p_w)``:

    tokens[b, (t h w), :] = W · vec(x[b, :, t·p_t : (t+1)·p_t, h·p_h : …, w·p_w : …]) + b

so N = (T/p_t)(H/p_h)(W/p_w) tokens in ``(t h w)`` row-major order. The DiT head maps each token to
``p_t·p_h·p_w·C`` values; ``unpatchify`` lays them back out as ``(B, C, T, H, W)`` with channels fastest inside a
patch, generalising DiT's ``unpatchify`` (``"n h w p q c -> n c (h p) (w q)"``) by a temporal patch axis:

    rearrange(tokens, "b (t h w) (pt ph pw c) -> b c (t pt) (h ph) (w pw)")
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from einops import rearrange
from torch import Tensor, nn

from ..checks import check_divisible, check_video
from ..conv.common import triple
from ..examples import bad_channels, bad_ndim, video_inputs
from ..registry import BadInput, register


def unpatchify(tokens: Tensor, grid: Sequence[int], patch_size: Sequence[int], out_channels: int) -> Tensor:
    """``(B, N, p_t·p_h·p_w·C)`` -> ``(B, C, T·p_t, H·p_h, W·p_w)`` for a token grid ``(T, H, W)``, N = T·H·W."""
    pt, ph, pw = triple(tuple(patch_size), "patch_size", where="unpatchify")
    if len(grid) != 3:
        raise ValueError(f"unpatchify: grid must be the token grid (T, H, W), got {grid!r}")
    t, h, w = grid
    width = pt * ph * pw * out_channels
    if tokens.ndim != 3 or tokens.shape[1] != t * h * w or tokens.shape[2] != width:
        raise ValueError(
            f"unpatchify: tokens must have shape (B, T·H·W, p_t·p_h·p_w·out_channels) = (B, {t * h * w}, {width}) "
            f"for grid {tuple(grid)}, patch_size {(pt, ph, pw)}, out_channels={out_channels}; "
            f"got {tuple(tokens.shape)}"
        )
    return rearrange(tokens, "b (t h w) (pt ph pw c) -> b c (t pt) (h ph) (w pw)",
                     t=t, h=h, w=w, pt=pt, ph=ph, pw=pw, c=out_channels)


def _tokens_shape(cfg: dict, x, **kwargs) -> tuple[int, int, int]:
    pt, ph, pw = triple(cfg.get("patch_size", (1, 2, 2)), "patch_size", where="patch3d")
    b, _, t, h, w = x.shape
    return (b, (t // pt) * (h // ph) * (w // pw), cfg["dim"])


@register(
    "embed", "patch3d", paper="Peebles & Xie 2023 (DiT) patch embed; Brooks et al. 2024 (Sora) spacetime patches",
    tiny=dict(in_channels=4, dim=16, patch_size=(1, 2, 2)), inputs=video_inputs("in_channels"),
    output_shape=_tokens_shape,
    bad_inputs=[
        BadInput(match="B C T H W", inputs=bad_ndim("in_channels")),
        BadInput(match="channels", inputs=bad_channels("in_channels")),
        BadInput(match="height=7 must be divisible by patch_size",
                 inputs=lambda cfg: ((torch.zeros(1, 4, 2, 7, 8),), {})),
        BadInput(match="patch_size", init={"patch_size": (1, 2)}),
    ],
)
class PatchEmbed3d(nn.Module):
    """Video ``(B, C, T, H, W)`` -> tokens ``(B, N, dim)``, N = (T/p_t)(H/p_h)(W/p_w), order ``(t h w)``.

    T, H, W must be divisible by ``p_t, p_h, p_w`` (``ValueError`` otherwise, never a crop). At T = 1 use
    ``p_t = 1`` (an image is a one-frame video). Position information is not added here: add
    ``embed/sincos_3d`` (or rotate with ``embed/rope_3d``) on ``grid_size(x.shape)``.

    Args:
        in_channels: video channels C.
        dim: token width D.
        patch_size: ``p`` or ``(p_t, p_h, p_w)``.
        bias: conv bias.

    Init: as DiT's ``x_embedder``: xavier-uniform on the weight flattened to ``(D, C·p_t·p_h·p_w)`` (i.e. like a
    Linear), bias 0.
    """

    def __init__(self, in_channels: int, dim: int, patch_size: int | Sequence[int] = (1, 2, 2), bias: bool = True,
                 *, device=None, dtype=None) -> None:
        super().__init__()
        self.patch_size = triple(patch_size, "patch_size", where=type(self).__name__)
        self.in_channels, self.dim = in_channels, dim
        self.proj = nn.Conv3d(in_channels, dim, self.patch_size, stride=self.patch_size, bias=bias,
                              device=device, dtype=dtype)
        nn.init.xavier_uniform_(self.proj.weight.view(dim, -1))
        if bias:
            nn.init.zeros_(self.proj.bias)

    def grid_size(self, shape: Sequence[int]) -> tuple[int, int, int]:
        """Token grid ``(T/p_t, H/p_h, W/p_w)`` of a video shape ``(B, C, T, H, W)``; ValueError if not divisible."""
        where = type(self).__name__
        for axis, name, p in zip(shape[2:], ("frames", "height", "width"), range(3)):
            check_divisible(name, axis, self.patch_size[p], f"patch_size[{p}]", where=where)
        return tuple(s // p for s, p in zip(shape[2:], self.patch_size))

    def forward(self, x: Tensor) -> Tensor:
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        self.grid_size(x.shape)
        return rearrange(self.proj(x), "b d t h w -> b (t h w) d")

    def unpatchify(self, tokens: Tensor, grid: Sequence[int], out_channels: int) -> Tensor:
        """A DiT head's ``(B, N, p_t·p_h·p_w·out_channels)`` output -> ``(B, out_channels, T, H, W)``."""
        return unpatchify(tokens, grid, self.patch_size, out_channels)
