"""Cascaded sampling (Imagen Video, Make-A-Video): the first model samples a small video, every later stage samples
a larger one conditioned on the previous output, channel-concatenated (``concat``).

    pipe = zoo.create_pipeline("imagen_video", preset="tiny")     # a cascade recipe declares ``stages``
    video = pipe(steps=2, seed=0, context=text)                  # the last stage's (B, C, T, H, W)

A stage's conditioning is the previous video brought to the stage's size (``Stage.kind``): bilinear spatial resize
(SSR), frame repetition (TSR) or Make-A-Video's masked frames + mask channel (interpolation); optionally noised
(noise-conditioning augmentation, Imagen Video / Ho et al. 2021 "Cascaded Diffusion Models") with the level given to
the model as ``added_cond``. Each stage is an ordinary ``Pipeline`` of its registered recipe.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from .pipeline import Pipeline
from .recipe import Recipe, Stage, get_recipe
from .stages import augment, stage_condition, stage_sizes


@dataclass
class CascadePipeline:
    """The first stage's ``Pipeline`` and every later stage's; call it to sample the last stage's video."""

    base: Pipeline
    stages: list[tuple[Stage, Pipeline]]
    sample_shape: tuple[int, int, int, int]
    name: str = ""
    preset: str = ""

    @classmethod
    def from_recipe(cls, recipe: Recipe, preset: str, model: nn.Module) -> CascadePipeline:
        from . import create_model

        base = Pipeline.from_recipe(replace(recipe, stages=()), preset, model)
        stages = [(stage, Pipeline.from_recipe(get_recipe(stage.recipe), preset, create_model(stage.recipe, preset)))
                  for stage in recipe.stages]
        return cls(base, stages, recipe.preset(preset).sample_shape, recipe.name, preset)

    @property
    def model(self) -> nn.Module:
        """The first stage's model."""
        return self.base.model

    def example_conditioning(self, batch: int = 1, **kwargs) -> dict:
        """Random valid conditioning for the first stage (``Pipeline.example_conditioning``); the later stages get
        theirs from the previous stage's output."""
        return self.base.example_conditioning(batch, **kwargs)

    def encode(self, **inputs) -> dict:
        """User inputs (``prompt``, ``image``) to the first stage's conditioning (``Pipeline.encode``); every later stage that
        takes a keyword gets the same tensor."""
        return self.base.encode(**inputs)

    def stage_sizes(self, frames: int, height: int, width: int) -> list[tuple[int, int, int]]:
        """(T, H, W) of every stage's output, first to last, for a cascade output of (frames, height, width)."""
        return stage_sizes([stage for stage, _ in self.stages], frames, height, width)

    @torch.no_grad()
    def __call__(self, num_frames: int | None = None, steps: int | None = None, seed: int = 0, batch_size: int = 1,
                 *, height: int | None = None, width: int | None = None, guidance: bool | None = None,
                 generator: torch.Generator | None = None, return_stages: bool = False, progress: bool = False,
                 decode: bool = False, prompt=None, image=None, resize: bool = False,
                 **cond) -> Tensor | list[Tensor]:
        """Sample the cascade: ``(batch_size, C, num_frames, H, W)`` of the last stage (default sizes: the preset's
        sample shape); ``cond`` (text ``context``, ``added_cond``) goes to every stage that takes it; ``steps``
        overrides every stage's step count. ``return_stages``: every stage's output, first to last. The cascades are
        pixel-space, so ``decode`` changes nothing (accepted for the ``Pipeline`` call signature)."""
        _, t, h, w = self.sample_shape
        sizes = self.stage_sizes(num_frames or t, height or h, width or w)
        device = next(self.base.model.parameters()).device
        generator = generator or torch.Generator(device=device).manual_seed(seed)
        if prompt is not None or image is not None:  # user inputs, at the first stage's size
            cond = {**self.base.encode(prompt=prompt, image=image, batch=batch_size, num_frames=sizes[0][0],
                                       height=sizes[0][1], width=sizes[0][2], resize=resize), **cond}
        common = dict(steps=steps, batch_size=batch_size, guidance=guidance, generator=generator, progress=progress)
        first = {k: v for k, v in cond.items() if k in _takes(self.base.model)}
        videos = [self.base(num_frames=sizes[0][0], height=sizes[0][1], width=sizes[0][2], **common, **first)]
        for (stage, pipe), (t, h, w) in zip(self.stages, sizes[1:], strict=True):
            takes = _takes(pipe.model)
            stage_cond = {k: v for k, v in cond.items() if k in takes}
            concat, level = augment(stage, stage_condition(stage, videos[-1]), pipe.schedule, generator)
            if level is not None:
                stage_cond["added_cond"] = level
            c = self.sample_shape[0]
            start = torch.randn(batch_size, c, 1 if stage.same_noise_per_frame else t, h, w, generator=generator,
                                device=device).expand(batch_size, c, t, h, w)
            if hasattr(pipe.guidance, "reset"):
                pipe.guidance.reset()
            videos.append(pipe(num_frames=t, height=h, width=w, noise=start, concat=concat, **common, **stage_cond))
        return videos if return_stages else videos[-1]


def _takes(model: nn.Module) -> tuple[str, ...]:
    return tuple(getattr(model, "supported_cond", ()))
