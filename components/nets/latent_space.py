"""The latent space of a latent recipe: an autoencoder and the map between its raw latents and the model's.

Every latent video model normalises the autoencoder's raw latents before diffusion and undoes it before decoding;
the rule is the recipe's, not the autoencoder's (a converted diffusers VAE carries raw latents on both sides):

    Stable Diffusion, SVD, Video LDM:   z_model = s · z                  (s = 0.18215, one scale)
    Wan 2.1 / 2.2:                       z_model = (z − μ_c) / σ_c        (per-channel mean and std of the latents)

[V-code: diffusers pipeline_wan.py ``latents = latents / latents_std + latents_mean`` before ``vae.decode``, with
``latents_std = 1 / config.latents_std``; SD pipelines ``latents / vae.config.scaling_factor``.]

``LatentSpace`` also knows the autoencoder's compression: ``spatial_factor`` f (pixels per latent pixel) and
``temporal_factor`` f_t. A frame-wise autoencoder (f_t = 1) decodes any frames alone, so long videos decode in chunks
of ``decode_chunk`` frames; a causal video autoencoder (Wan's: f_t = 4, ``1 + 4k`` frames -> ``1 + k`` latent frames)
streams through its own feature cache and decodes the whole clip.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class LatentSpace:
    """``encode(video) -> model-space latents`` and ``decode(latents) -> video`` through ``autoencoder``.

    Args:
        autoencoder: a module with ``encode(x)`` (the posterior mean of raw latents) and ``decode(z)``; its
            ``spatial_factor`` and ``temporal_factor`` attributes give the compression (1 when absent).
        scaling_factor: ``z_model = scaling_factor · z`` (SD-style), or
        latents_mean, latents_std: ``z_model = (z − mean) / std`` per latent channel (Wan); not both.
        decode_chunk: frames a frame-wise autoencoder decodes at a time.
    """

    def __init__(self, autoencoder: nn.Module, *, scaling_factor: float | None = None,
                 latents_mean: Sequence[float] | None = None, latents_std: Sequence[float] | None = None,
                 decode_chunk: int = 8) -> None:
        if scaling_factor is not None and (latents_mean is not None or latents_std is not None):
            raise ValueError("LatentSpace: give scaling_factor or latents_mean/latents_std, not both")
        if (latents_mean is None) != (latents_std is None):
            raise ValueError("LatentSpace: latents_mean and latents_std go together")
        channels = getattr(autoencoder, "latent_channels", None)
        if latents_mean is not None and channels is not None and not len(latents_mean) == len(latents_std) == channels:
            raise ValueError(f"LatentSpace: latents_mean and latents_std need one value per latent channel "
                             f"({channels}), got {len(latents_mean)} and {len(latents_std)}")
        self.autoencoder = autoencoder
        self.scaling_factor = scaling_factor
        self.latents_mean = None if latents_mean is None else tuple(float(m) for m in latents_mean)
        self.latents_std = None if latents_std is None else tuple(float(s) for s in latents_std)
        self.decode_chunk = decode_chunk

    @property
    def spatial_factor(self) -> int:
        return int(getattr(self.autoencoder, "spatial_factor", 1))

    @property
    def temporal_factor(self) -> int:
        return int(getattr(self.autoencoder, "temporal_factor", 1))

    def latent_frames(self, frames: int, argument: str = "num_frames") -> int:
        """Latent frames of a ``frames``-frame video: ``frames`` (f_t = 1) or ``1 + (frames − 1) / f_t``; ValueError
        naming ``argument`` when ``frames`` is not ``1 + f_t·k``."""
        f = self.temporal_factor
        if not isinstance(frames, int) or frames < 1 or (frames - 1) % f:
            raise ValueError(f"{argument} must be 1 + {f}·k frames (the autoencoder compresses time {f}× causally: "
                             f"the first frame alone, then {f} at a time), got {frames}")
        return frames if f == 1 else 1 + (frames - 1) // f

    def pixel_frames(self, latent_frames: int) -> int:
        """Video frames of ``latent_frames`` latent frames (the inverse of ``latent_frames``)."""
        return latent_frames if self.temporal_factor == 1 else 1 + (latent_frames - 1) * self.temporal_factor

    def _stats(self, z: Tensor) -> tuple[Tensor, Tensor]:
        shape = (1, -1) + (1,) * (z.ndim - 2)
        mean = torch.tensor(self.latents_mean, device=z.device, dtype=z.dtype).view(shape)
        std = torch.tensor(self.latents_std, device=z.device, dtype=z.dtype).view(shape)
        return mean, std

    def to_model(self, z: Tensor) -> Tensor:
        """Raw latents -> the diffusion model's latents."""
        if self.latents_mean is not None:
            mean, std = self._stats(z)
            return (z - mean) / std
        return z * self.scaling_factor if self.scaling_factor is not None else z

    def to_raw(self, z: Tensor) -> Tensor:
        """The diffusion model's latents -> raw latents (the inverse of ``to_model``)."""
        if self.latents_mean is not None:
            mean, std = self._stats(z)
            return z * std + mean
        return z / self.scaling_factor if self.scaling_factor is not None else z

    def encode(self, video: Tensor) -> Tensor:
        """``(B, C, T, H, W)`` in [−1, 1] -> model-space latents ``(B, z, T', H/f, W/f)`` (the posterior mean)."""
        param = next(self.autoencoder.parameters())
        return self.to_model(self.autoencoder.encode(video.to(param.device, param.dtype)))

    def decode(self, latents: Tensor) -> Tensor:
        """Model-space latents -> video ``(B, C, T, H, W)`` in [−1, 1], fp32 (float64 stays)."""
        param = next(self.autoencoder.parameters())
        z = self.to_raw(latents.to(param.device, param.dtype))
        if self.temporal_factor == 1:
            video = torch.cat([self.autoencoder.decode(chunk) for chunk in z.split(self.decode_chunk, dim=2)], dim=2)
        else:
            video = self.autoencoder.decode(z)
        return video if video.dtype == torch.float64 else video.float()
