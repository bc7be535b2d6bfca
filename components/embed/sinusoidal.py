"""The one sinusoidal embedding every fixed table here is made of (Vaswani et al. 2017, §3.5).

For a position (or timestep, or scalar) ``p`` and ``half = dim / 2`` frequencies

    ω_i = max_period ** (−i / (half − downscale_freq_shift)),   i = 0 … half − 1
    emb(p) = [sin(p·ω) | cos(p·ω)]      (flip_sin_to_cos=False: MAE / DiT position tables)
    emb(p) = [cos(p·ω) | sin(p·ω)]      (flip_sin_to_cos=True: DiT / ADM / SD timesteps, SVD micro-conditioning)

``downscale_freq_shift`` is diffusers' knob (1 in the original DDPM code, 0 elsewhere). Timestep embeddings compute in
fp32 (as DiT and diffusers do, so they match bit for bit); position tables compute in fp64 (as MAE's numpy code does)
and are cast afterwards.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def sinusoidal_embedding(
    positions: Tensor,
    dim: int,
    *,
    flip_sin_to_cos: bool = False,
    downscale_freq_shift: float = 0.0,
    max_period: float = 10000.0,
    compute_dtype: torch.dtype = torch.float32,
) -> Tensor:
    """``positions`` of any shape ``(*S)`` -> ``(*S, dim)`` in ``compute_dtype``. ``dim`` must be even."""
    if dim <= 0 or dim % 2:
        raise ValueError(f"sinusoidal_embedding: dim must be a positive even number, got {dim}")
    half = dim // 2
    if half - downscale_freq_shift <= 0:
        raise ValueError(
            f"sinusoidal_embedding: dim / 2 - downscale_freq_shift must be positive, got dim={dim}, "
            f"downscale_freq_shift={downscale_freq_shift}"
        )
    exponent = -math.log(max_period) * torch.arange(half, dtype=compute_dtype, device=positions.device)
    freqs = torch.exp(exponent / (half - downscale_freq_shift))
    args = positions.to(compute_dtype)[..., None] * freqs
    first, second = (torch.cos(args), torch.sin(args)) if flip_sin_to_cos else (torch.sin(args), torch.cos(args))
    return torch.cat([first, second], dim=-1)
