"""Resolve once: a recipe preset and the user's overrides become one frozen ``Plan`` that the runtime consumes.

    plan = zoo.resolve("vdm", "tiny", sampler="dpmpp_2m", steps=20, attention_backend="math")
    plan.sampling.sampler        # 'sampler/dpmpp_2m' (the recipe's own knobs dropped when the sampler changes)
    pipe = zoo.create_pipeline(plan)                     # or create_pipeline("vdm", "tiny", sampler=...)

Every name is looked up here and only here: the recipe, its preset, the sampler / guidance / attention-backend keys
(unknown ones fail with "Did you mean"), and, for a cascade, the plan of each later stage with the same overrides.
``Objective``, ``Pipeline`` and ``Trainer`` take a plan and never look a recipe up by name again, and nothing
replaces a part of a pipeline after construction. ``Plan.to_config()`` is what ``save_pretrained`` writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import components
from components.registry import did_you_mean

from .recipe import Preset, Recipe, Sampling, Stage, get_recipe
from .stages import stage_of


__all__ = ["Plan", "resolve"]


@dataclass(frozen=True)
class Plan:
    """A recipe preset with the user's overrides applied, resolved once (see the module docstring).

    recipe / preset: the recipe and the preset's name; sampling: the recipe's ``Sampling`` with the preset's and the
    user's overrides; attention_backend: the backend every attention module of the nets uses (None: the default
    ``auto``); stages: a cascade's later stages, each with its own plan (empty for a single model)."""

    recipe: Recipe
    preset: str
    sampling: Sampling
    attention_backend: str | None = None
    stages: tuple[tuple[Stage, Plan], ...] = ()
    overrides: Mapping[str, Any] | None = None  # the user's overrides as given (``to_config``), set by ``resolve``
    stage: Stage | None = None  # the cascade stage this recipe is (``Recipe.stage_of``), resolved here

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def spec(self) -> Preset:
        """The recipe's ``Preset`` of this plan."""
        return self.recipe.preset(self.preset)

    @property
    def sample_shape(self) -> tuple[int, int, int, int]:
        """(C, T, H, W) of a sample in model space (the cascade's output for a cascade)."""
        return self.spec.sample_shape

    def to_config(self) -> dict:
        """JSON-able ``{"recipe", "preset", "overrides"}`` that ``resolve(**...)`` turns back into this plan."""
        return {"recipe": self.name, "preset": self.preset, "overrides": _jsonable(dict(self.overrides or {}))}

    @classmethod
    def from_config(cls, config: Mapping) -> Plan:
        """The plan of a ``to_config()`` dict (recipe names and registry keys only, never import paths)."""
        return resolve(config["recipe"], config.get("preset", "tiny"), **dict(config.get("overrides") or {}))


def _jsonable(value):
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def _key(value: str, kind: str, argument: str) -> str:
    """``value`` as a registry key of ``kind`` (a short name gets the prefix); unknown -> one-line ValueError with
    did-you-mean naming the argument."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{argument} must be a {kind} registry key or its short name, got {value!r}")
    key = value if "/" in value else f"{kind}/{value}"
    if not key.startswith(f"{kind}/") or not components.has_component(key):
        names = [k.split("/", 1)[1] for k in components.list_components(f"{kind}/*")]
        short = value.split("/", 1)[-1]
        raise ValueError(f"{argument}: unknown {kind} {value!r}. {did_you_mean(short, names)} "
                         f"Known: {', '.join(names)}")
    return key


def resolve(name: str | Recipe, preset: str = "tiny", *, sampler: str | None = None,
            sampler_kwargs: Mapping | None = None, steps: int | None = None, guidance: str | bool | None = None,
            guidance_kwargs: Mapping | None = None, attention_backend: str | None = None) -> Plan:
    """The frozen ``Plan`` of recipe ``name`` at ``preset`` with the user's overrides.

    sampler: a ``sampler/*`` key or short name (the recipe's sampler knobs are dropped when it differs from the
    recipe's); sampler_kwargs: knobs added on top; steps: the default number of steps (≥ 1); guidance: a
    ``guidance/*`` key, or False for none; guidance_kwargs: knobs of the guidance; attention_backend: a registered
    attention backend (``components.attention.available_backends``) for every attention module of the nets.
    Cascade stages get the same overrides."""
    recipe = name if isinstance(name, Recipe) else get_recipe(name)
    recipe.preset(preset)  # KeyError with did-you-mean
    overrides = {k: v for k, v in dict(sampler=sampler, sampler_kwargs=sampler_kwargs, steps=steps,
                                       guidance=guidance, guidance_kwargs=guidance_kwargs,
                                       attention_backend=attention_backend).items() if v is not None}
    s = recipe.sampling_for(preset)
    changes: dict[str, Any] = {}
    if sampler is not None:
        key = _key(sampler, "sampler", "sampler")
        if key != s.sampler:
            changes.update(sampler=key, sampler_kwargs={})
    if sampler_kwargs:
        changes["sampler_kwargs"] = {**dict(changes.get("sampler_kwargs", s.sampler_kwargs)), **dict(sampler_kwargs)}
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
        changes["steps"] = steps
    if guidance is False:
        changes.update(guidance=None, guidance_kwargs={})
    elif guidance is not None:
        key = _key(guidance, "guidance", "guidance")
        if key != s.guidance:
            changes.update(guidance=key, guidance_kwargs={})
    if guidance_kwargs:
        if not changes.get("guidance", s.guidance):
            raise ValueError(f"guidance_kwargs: this plan of {recipe.name!r} samples without guidance; name one with "
                             f"guidance=KEY, got guidance_kwargs={dict(guidance_kwargs)}")
        changes["guidance_kwargs"] = {**dict(changes.get("guidance_kwargs", s.guidance_kwargs)),
                                      **dict(guidance_kwargs)}
    if attention_backend is not None:
        from components.attention.backends import check_backend_name

        check_backend_name(attention_backend, argument="attention_backend", where="resolve")
    sampling = s.replace(**changes) if changes else s
    stages = tuple((stage, resolve(get_recipe(stage.recipe), preset, **overrides)) for stage in recipe.stages)
    return Plan(recipe, preset, sampling, attention_backend, stages, overrides, stage_of(recipe))
