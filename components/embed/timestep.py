"""Diffusion-timestep embedding: a fixed sinusoid of ``t`` followed by a two-layer SiLU MLP.

    e(t) = W_2 · SiLU(W_1 · sinusoid(t) + b_1) + b_2          sinusoid: ``sinusoidal_embedding`` (freq_dim wide)

Two flavours of the same thing, chosen with ``flavour=``:

* ``"dit"`` (Peebles & Xie 2023, DiT ``TimestepEmbedder``; also ADM and VDM): ``[cos | sin]``, no frequency shift,
  ``freq_dim`` 256, MLP ``256 -> dim -> dim``, weights N(0, 0.02), biases 0.
* ``"unet"`` (diffusers ``Timesteps`` + ``TimestepEmbedding``, the Stable Diffusion / SVD U-Nets): the sinusoid's
  ``flip_sin_to_cos`` and ``downscale_freq_shift`` are arguments (default SD's ``True``, ``0``; the original DDPM
  code is ``False``, ``1``), ``freq_dim`` is the U-Net's first width (e.g. 320), MLP ``freq_dim -> hidden -> dim``
  with PyTorch's default init.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..registry import BadInput, register
from .sinusoidal import sinusoidal_embedding


_FLAVOURS = ("dit", "unet")


def timestep_inputs(cfg: dict, frames: int | None = None, batch: int = 2, generator: torch.Generator | None = None):
    """Integer timesteps ``(batch,)`` in [0, 1000) (integers survive the low-precision casts of the suite)."""
    return (torch.randint(0, 1000, (batch,), generator=generator),), {}


@register(
    "embed", "timestep",
    paper="Peebles & Xie 2023 (DiT) TimestepEmbedder; Ho et al. 2020 (DDPM) / diffusers Timesteps",
    tiny=dict(dim=16, freq_dim=16), inputs=timestep_inputs, frames=(1,),
    output_shape=lambda cfg, t: (t.shape[0], cfg["dim"]),
    bad_inputs=[
        BadInput(match="timesteps must be 1-D", inputs=lambda cfg: ((torch.zeros(2, 3),), {}), why="not (B,)"),
        BadInput(match="flavour", init={"flavour": "adm"}, why="unknown flavour"),
        BadInput(match="flip_sin_to_cos", init={"flip_sin_to_cos": False}, why="DiT's sinusoid is fixed"),
        BadInput(match="dim must be a positive even", init={"freq_dim": 15}, why="odd sinusoid width"),
    ],
)
class TimestepEmbedding(nn.Module):
    """Timesteps ``(B,)`` (integer or fractional) -> embedding ``(B, dim)``.

    Args:
        dim: output width (the model width D of DiT, or the U-Net's ``time_embed_dim``).
        freq_dim: width of the fixed sinusoid (even; DiT 256).
        flavour: ``"dit"`` or ``"unet"`` (see the module docstring).
        hidden_dim: MLP hidden width (default ``dim``).
        flip_sin_to_cos, downscale_freq_shift: the U-Net flavour's sinusoid conventions (default ``True``, ``0``);
            DiT's are fixed, so passing them with ``flavour="dit"`` is an error.
        max_period: the longest sinusoid period (10000).

    ``sinusoid(t)`` gives the fixed part alone ``(B, freq_dim)`` in fp32.
    """

    def __init__(self, dim: int, freq_dim: int = 256, *, flavour: str = "dit", hidden_dim: int | None = None,
                 flip_sin_to_cos: bool | None = None, downscale_freq_shift: float | None = None,
                 max_period: float = 10000.0, device=None, dtype=None) -> None:
        from timm.layers import Mlp  # lazy: timm is slow to import (tests/test_startup.py)

        super().__init__()
        where = type(self).__name__
        if flavour not in _FLAVOURS:
            raise ValueError(f"{where}: flavour must be one of {_FLAVOURS}, got {flavour!r}")
        if flavour == "dit" and (flip_sin_to_cos is not None or downscale_freq_shift is not None):
            raise ValueError(
                f"{where}: flavour='dit' fixes the sinusoid ([cos | sin], no shift); flip_sin_to_cos and "
                f"downscale_freq_shift apply to flavour='unet' only, got flip_sin_to_cos={flip_sin_to_cos}, "
                f"downscale_freq_shift={downscale_freq_shift}"
            )
        if freq_dim <= 0 or freq_dim % 2:
            raise ValueError(f"{where}: freq_dim is the sinusoid width; dim must be a positive even number, "
                             f"got freq_dim={freq_dim}")
        self.dim, self.freq_dim, self.flavour, self.max_period = dim, freq_dim, flavour, max_period
        self.flip_sin_to_cos = True if flip_sin_to_cos is None else flip_sin_to_cos
        self.downscale_freq_shift = 0.0 if downscale_freq_shift is None else downscale_freq_shift
        self.mlp = Mlp(freq_dim, hidden_dim or dim, dim, act_layer=nn.SiLU, device=device, dtype=dtype)
        if flavour == "dit":
            for fc in (self.mlp.fc1, self.mlp.fc2):
                nn.init.normal_(fc.weight, std=0.02)
                nn.init.zeros_(fc.bias)

    def sinusoid(self, timesteps: Tensor) -> Tensor:
        """The fixed embedding ``(B,) -> (B, freq_dim)``, fp32."""
        if timesteps.ndim != 1:
            raise ValueError(f"{type(self).__name__}: timesteps must be 1-D (B,), got shape {tuple(timesteps.shape)}")
        return sinusoidal_embedding(timesteps, self.freq_dim, flip_sin_to_cos=self.flip_sin_to_cos,
                                    downscale_freq_shift=self.downscale_freq_shift, max_period=self.max_period)

    def forward(self, timesteps: Tensor) -> Tensor:
        return self.mlp(self.sinusoid(timesteps).to(self.mlp.fc1.weight.dtype))
