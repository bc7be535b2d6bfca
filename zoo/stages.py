"""What a later cascade stage is conditioned on, for sampling and for training alike.

A stage (``Stage``: Imagen Video's SSR / TSR, Make-A-Video's interpolation and super-resolution) sees the previous
stage's video brought to its own size as ``concat`` (``stage_condition``), optionally noised to the stage schedule's
time ``noise_aug`` with that level given as ``added_cond`` (noise-conditioning augmentation, Ho et al. 2021
"Cascaded Diffusion Models"; ``augment``). Sampling feeds it the previous stage's sample; training feeds it the
training clip brought down to the previous stage's size (``stage_input``), so both paths build the conditioning with
the same two functions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from .recipe import Stage, get_recipe


__all__ = ["augment", "stage_condition", "stage_input", "stage_of", "stage_sizes"]


def stage_of(recipe) -> Stage | None:
    """The ``Stage`` that makes ``recipe`` (a recipe with ``stage_of`` set) part of its cascade; None otherwise."""
    if not recipe.stage_of:
        return None
    for stage in get_recipe(recipe.stage_of).stages:
        if stage.recipe == recipe.name:
            return stage
    raise ValueError(f"recipe {recipe.name!r} says stage_of={recipe.stage_of!r}, whose stages do not name it")


def stage_sizes(stages, frames: int, height: int, width: int) -> list[tuple[int, int, int]]:
    """(T, H, W) of every model's output in a cascade of ``stages`` (the first model's first) for a cascade output of
    (frames, height, width); ``ValueError`` where a stage cannot produce the size asked of it."""
    sizes = [(frames, height, width)]
    for stage in reversed(stages):
        sizes.insert(0, stage.input_size(*sizes[0]))
    return sizes


def stage_condition(stage: Stage, video: Tensor) -> Tensor:
    """The previous stage's ``video`` ``(B, C, T, H, W)`` as this stage's ``concat``: ``(B, C, T', H', W')``
    (``C + 1`` channels for ``"interpolation"``: the known frames, zeros between, then the known-frame mask)."""
    b, c, t, h, w = video.shape
    f = stage.factor
    if stage.kind == "spatial_sr":
        up = F.interpolate(rearrange(video, "b c t h w -> (b t) c h w"), scale_factor=f, mode="bilinear",
                           align_corners=False)
        return rearrange(up, "(b t) c h w -> b c t h w", b=b)
    if stage.kind == "temporal_sr":
        return video.repeat_interleave(f, dim=2)
    frames = (t - 1) * f + 1
    known = torch.zeros(b, c + 1, frames, h, w, dtype=video.dtype, device=video.device)
    known[:, :c, ::f] = video
    known[:, c, ::f] = 1.0
    return known


def stage_input(stage: Stage, video: Tensor) -> Tensor:
    """The previous stage's output that corresponds to this stage's output ``video`` ``(B, C, T, H, W)``: every
    ``factor``-th frame (temporal stages) or an area down-sampling by ``factor`` (spatial stages); ``ValueError`` if
    no input size gives ``video``'s (``Stage.input_size``)."""
    t, h, w = stage.input_size(*video.shape[2:])
    if stage.kind == "spatial_sr":
        down = F.interpolate(rearrange(video, "b c t h w -> (b t) c h w"), size=(h, w), mode="area")
        return rearrange(down, "(b t) c h w -> b c t h w", b=video.shape[0])
    return video[:, :, :: stage.factor][:, :, :t]


def augment(stage: Stage, concat: Tensor, schedule, generator: torch.Generator | None = None
            ) -> tuple[Tensor, Tensor | None]:
    """``(concat, added_cond)``: with ``stage.noise_aug`` set, ``concat`` noised to z = α x + σ ε at that time of
    ``schedule`` and the level ``(B, 1)`` for the model's ``added_cond``; else ``concat`` unchanged and None."""
    if stage.noise_aug is None:
        return concat, None
    b = concat.shape[0]
    level = torch.full((b,), stage.noise_aug, device=concat.device)
    alpha, sigma = schedule.alpha(level), schedule.sigma(level)
    noise = torch.randn(concat.shape, generator=generator, device=concat.device)
    noised = alpha.view(-1, 1, 1, 1, 1).to(concat) * concat + sigma.view(-1, 1, 1, 1, 1).to(concat) * noise
    return noised, level[:, None].to(concat.dtype)
