"""Masked frame conditioning for prediction and interpolation models (Video LDM §3.2 / App.; Make-A-Video's masked
frame interpolation), with Video LDM's context guidance, as a denoiser wrapper.

Such a model is trained with ``concat`` channels: the known frames, zeroed where unknown, and a binary mask
channel, c_S = [x_known · m_S, m_S] (``B, C + 1, T, H, W``; S context frames for prediction, the key frames for
interpolation). The wrapper builds c_S from ``known`` and ``mask`` and calls the model; with ``scale`` s ≠ 1 it also
calls it with an empty context (all-zero mask and frames, S = 0) in the same batch and applies context guidance
    f′ = f(z) + s · (f(z; c_S) − f(z))       (s ≥ 1 in Video LDM),
on the x0 predictions (equivalent to ε or v guidance at the same level, as for CFG).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..registry import BadInput, register
from ._common import upcast
from ._video import check_mask, check_video_sample, toy_video_denoiser
from .step import Step, call_denoiser


__all__ = ["MaskedConditioning", "mask_channels", "masked_conditioning"]


def mask_channels(known: Tensor, mask: Tensor) -> Tensor:
    """c_S = [known · mask, mask] on the channel axis: ``(B, C, T, H, W)`` and a mask broadcastable to
    ``(B, 1, T, H, W)`` -> ``(B, C + 1, T, H, W)``."""
    where = "mask_channels"
    check_video_sample(known, where, "known")
    b, _, t, h, w = known.shape
    check_mask(mask, known[:, :1], where=where)
    m = mask.to(device=known.device, dtype=known.dtype).expand(b, 1, t, h, w)
    return torch.cat([known * m, m], dim=1)


class MaskedConditioning:
    """Denoiser wrapper feeding c_S through ``keyword`` (default ``concat``); see ``masked_conditioning``."""

    key = "wrapper/masked_conditioning"
    takes_step = True  # forwarded to the wrapped denoiser (components.diffusion.step)

    def __init__(self, denoiser, known, mask, scale: float, keyword: str) -> None:
        if not keyword.isidentifier():
            raise ValueError(f"{self.key}: keyword must be the model's conditioning keyword (e.g. 'concat'), got "
                             f"{keyword!r}")
        self.denoiser, self.known, self.mask = denoiser, known, mask
        self.scale, self.keyword = float(scale), keyword

    def __call__(self, x: Tensor, sigma, *, known: Tensor | None = None, mask: Tensor | None = None,
                 denoiser: Callable | None = None, step: Step | None = None, **cond) -> Tensor:
        net = denoiser if denoiser is not None else self.denoiser
        known = known if known is not None else self.known
        mask = mask if mask is not None else self.mask
        if net is None or known is None or mask is None:
            raise ValueError(f"{self.key}: needs a denoiser, known and mask (at build or per call)")
        check_video_sample(x, self.key)
        x, sigma = upcast(x, sigma)
        if not isinstance(known, Tensor) or known.shape[1:] != x.shape[1:] or known.shape[0] not in (1, x.shape[0]):
            raise ValueError(f"{self.key}: known must have the shape of the sample {tuple(x.shape)} (batch 1 "
                             f"broadcasts), got {tuple(getattr(known, 'shape', ()))}")
        if mask.ndim == 5 and mask.shape[1] != 1:
            raise ValueError(f"{self.key}: mask must have one channel (B or 1, 1, T, H or 1, W or 1), got "
                             f"{tuple(mask.shape)}")
        context = mask_channels(known.to(x).expand_as(x), mask)
        if self.keyword in cond:
            raise ValueError(f"{self.key}: {self.keyword!r} is built by the wrapper; do not pass it as well")
        if self.scale == 1.0:
            return call_denoiser(net, x, sigma, step, **{self.keyword: context}, **cond).to(x.dtype)
        sigma2 = torch.cat([sigma.expand(x.shape[0])] * 2) if sigma.ndim <= 1 else torch.cat([sigma, sigma])
        doubled = {k: torch.cat([v, v]) if isinstance(v, Tensor) and v.ndim >= 1 else v for k, v in cond.items()}
        both = call_denoiser(net, torch.cat([x, x]), sigma2, step,
                             **{self.keyword: torch.cat([context, torch.zeros_like(context)])}, **doubled).to(x.dtype)
        with_context, without = both.chunk(2)
        return torch.lerp(without, with_context, self.scale)


def _inputs(cfg, batch=2, generator=None):
    x = torch.randn(batch, 3, 4, 2, 2, generator=generator) * 2
    sigma = torch.rand(batch, generator=generator) + 0.2
    known = torch.randn(batch, 3, 4, 2, 2, generator=generator)
    mask = torch.tensor([True, False, False, True]).reshape(1, 1, 4, 1, 1)
    return (x, sigma), {"known": known, "mask": mask}


@register("wrapper", "masked_conditioning",
          paper="Blattmann et al. 2023 (Video LDM), prediction / interpolation models; Singer et al. 2022 (Make-A-Video)",
          tiny={"denoiser": toy_video_denoiser, "scale": 2.0}, inputs=_inputs,
          bad_inputs=[BadInput(match="mask of shape", inputs=lambda cfg: (_inputs(cfg)[0], {
                          **_inputs(cfg)[1], "mask": torch.ones(1, 1, 3, 1, 1, dtype=torch.bool)})),
                      BadInput(match="keyword must be", init={"keyword": "not a name"})])
def masked_conditioning(denoiser: Callable | None = None, known: Tensor | None = None, mask: Tensor | None = None,
                        *, scale: float = 1.0, keyword: str = "concat") -> MaskedConditioning:
    """Condition a masked-frame model on known frames: ``D(x, sigma, **{keyword: [known·mask, mask]}, **cond)``,
    with Video LDM's context guidance f′ = f(z) + s (f(z; c_S) − f(z)) for ``scale`` s ≠ 1 (one batched call).

    ``x`` and ``known`` ``(B, C, T, H, W)``, ``mask`` boolean broadcastable to ``(B, 1, T, H, W)`` (frames:
    ``(1, 1, T, 1, 1)``); the model must take ``C + 1`` concat channels (``net/space_time_unet(concat_channels=C+1)``).
    """
    g = MaskedConditioning(denoiser, known, mask, scale, keyword)
    g._component_config = {"type": "wrapper/masked_conditioning", "scale": g.scale, "keyword": keyword}
    return g
