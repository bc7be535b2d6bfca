"""Micro-conditioning on scalars (Blattmann et al. 2023, SVD: ``fps_id``, ``motion_bucket_id``, ``cond_aug``).

SVD embeds each scalar with the timestep sinusoid (256 wide, ``[cos | sin]``, no frequency shift) and concatenates
them into the 768-wide ``added_time_ids`` vector (``adm_in_channels``), which an MLP maps to the time-embedding width
and adds to the timestep embedding (sgm ``ConcatTimestepEmbedderND`` + ``label_emb``; diffusers ``add_time_proj`` +
``add_embedding``):

    v = [ sinusoid(s_1) | sinusoid(s_2) | … | sinusoid(s_S) ]            (B, S·freq_dim)
    e = W_2 · SiLU(W_1 v + b_1) + b_2                                     (B, dim), only when ``dim`` is given
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from ..registry import BadInput, register
from .sinusoidal import sinusoidal_embedding


def _scalar_inputs(cfg: dict, frames: int | None = None, batch: int = 2, generator=None):
    """SVD-like scalars per clip: fps_id in [1, 30], motion bucket in [0, 255], noise augmentation in [0, 0.1)."""
    fps = torch.randint(1, 31, (batch,), generator=generator).float()
    motion = torch.randint(0, 256, (batch,), generator=generator).float()
    aug = 0.1 * torch.rand(batch, generator=generator)
    return (torch.stack([fps, motion, aug], dim=1)[:, : cfg.get("num_scalars", 3)],), {}


def _output_shape(cfg: dict, values: Tensor) -> tuple[int, int]:
    return (values.shape[0], cfg.get("dim") or cfg.get("num_scalars", 3) * cfg.get("freq_dim", 256))


@register(
    "embed", "micro_cond", paper="Blattmann et al. 2023 (SVD) added_time_ids (fps, motion bucket, noise augmentation)",
    tiny=dict(freq_dim=16, dim=16), inputs=_scalar_inputs, frames=(1,), output_shape=_output_shape,
    bad_inputs=[
        BadInput(match="values must have shape", inputs=lambda cfg: ((torch.zeros(2, 2),), {})),
        BadInput(match="freq_dim", init={"freq_dim": 15}),
    ],
)
class MicroConditioning(nn.Module):
    """Scalars ``(B, num_scalars)`` -> ``(B, num_scalars·freq_dim)`` (SVD's ``added_time_ids`` embedding), or
    ``(B, dim)`` after the MLP when ``dim`` is given.

    Column order is the order of the scalars; SVD's is ``(fps_id, motion_bucket_id, cond_aug)`` (the diffusers
    pipeline passes ``fps − 1`` as ``fps_id``).

    Args:
        freq_dim: sinusoid width per scalar (even; SVD 256).
        num_scalars: number of scalars S (SVD 3).
        dim: output width of the MLP ``S·freq_dim -> dim -> dim`` (SVD: the time-embedding width 1280);
            ``None``: return the concatenated sinusoids (no parameters).
        max_period: longest sinusoid period (10000).
    """

    def __init__(self, freq_dim: int = 256, num_scalars: int = 3, dim: int | None = None, *,
                 max_period: float = 10000.0, device=None, dtype=None) -> None:
        from timm.layers import Mlp  # lazy: timm is slow to import (tests/test_startup.py)

        super().__init__()
        where = type(self).__name__
        if freq_dim <= 0 or freq_dim % 2:
            raise ValueError(f"{where}: freq_dim must be a positive even number, got {freq_dim}")
        if num_scalars <= 0:
            raise ValueError(f"{where}: num_scalars must be positive, got {num_scalars}")
        self.freq_dim, self.num_scalars, self.dim, self.max_period = freq_dim, num_scalars, dim, max_period
        self.mlp = (Mlp(num_scalars * freq_dim, dim, dim, act_layer=nn.SiLU, device=device, dtype=dtype)
                    if dim is not None else None)

    def sinusoids(self, values: Tensor) -> Tensor:
        """``(B, S) -> (B, S·freq_dim)`` fp32: each scalar's ``[cos | sin]`` embedding, concatenated."""
        if values.ndim != 2 or values.shape[1] != self.num_scalars:
            raise ValueError(f"{type(self).__name__}: values must have shape (B, num_scalars={self.num_scalars}), "
                             f"got {tuple(values.shape)}")
        emb = sinusoidal_embedding(values, self.freq_dim, flip_sin_to_cos=True, max_period=self.max_period)
        return rearrange(emb, "b s f -> b (s f)")

    def forward(self, values: Tensor) -> Tensor:
        emb = self.sinusoids(values)
        return emb if self.mlp is None else self.mlp(emb.to(self.mlp.fc1.weight.dtype))
