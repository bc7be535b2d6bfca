"""Tune-A-Video's editing flow (Wu et al. 2023, §4.3): DDIM-invert the source video's latents, then sample from the
inverted noise with an edited condition.

Official recipe (docs/papers.md §7.2): 50 inversion steps (``use_inv_latent``), then 50 DDIM steps with CFG 12.5 and the
edited prompt; the released code inverts with the empty prompt. With the source condition as target and an exact
inversion (``fixed_point_steps``), the flow reproduces the source latents; the edit is what the changed condition
moves.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from ..registry import build
from ._common import check_sigmas


__all__ = ["edit_video"]


def edit_video(
    denoiser: Callable,
    latents: Tensor,
    sigmas: Tensor,
    *,
    source_cond: dict | None = None,
    target_cond: dict | None = None,
    sampler: Callable | str = "sampler/ddim",
    inversion: Callable | str = "sampler/ddim_inversion",
    return_noise: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Invert ``latents`` (``B C T H W``, clean) to noise over ``sigmas`` reversed under ``source_cond``, then
    sample from that noise over ``sigmas`` (decreasing, usually ending in 0) under ``target_cond``.

    ``denoiser(x, sigma, **cond) -> x0`` (a guided one, e.g. ``guidance/cfg``, takes ``uncond`` inside the dicts);
    ``sampler`` / ``inversion``: instances or keys (DDIM η = 0 and ``sampler/ddim_inversion`` by default; pass
    ``build("sampler/ddim_inversion", fixed_point_steps=3)`` for a tighter inversion). Returns the edited latents
    (and the inverted noise if ``return_noise``).
    """
    sigmas = check_sigmas(sigmas, "edit_video")
    if not isinstance(latents, Tensor) or latents.ndim < 2:
        raise ValueError(f"edit_video: latents must be a tensor (B, C, T, H, W), got "
                         f"{getattr(latents, 'shape', type(latents).__name__)}")
    sample = build(sampler) if isinstance(sampler, str) else sampler
    invert = build(inversion) if isinstance(inversion, str) else inversion
    if not getattr(invert, "increasing", False):
        raise ValueError(f"edit_video: inversion must run from data to noise (sampler/ddim_inversion), got "
                         f"{inversion!r}")
    noise = invert(denoiser, latents, sigmas.flip(0), extra_args=dict(source_cond or {}))
    edited = sample(denoiser, noise, sigmas, extra_args=dict(target_cond or {}))
    return (edited, noise) if return_noise else edited
