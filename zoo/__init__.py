"""video-diffusion-zoo recipes: every paper's model as a declared preset of a registered network.

    import zoo
    zoo.list_models("vdm*")                          # ['vdm']
    zoo.get_recipe("vdm")                            # presets, paper, published params, sampling defaults
    zoo.create_model("vdm", preset="tiny")           # nn.Module
    zoo.count_parameters("dit_xl_2", preset="paper") # 675,129,632, built on the meta device
    zoo.resolve("vdm", "demo", sampler="euler")      # the frozen plan: preset + sampling with overrides
    zoo.create_pipeline("vdm", preset="demo")        # model + denoiser adapter + sampler (+ guidance)

Recipes live one per paper in ``zoo/recipes/<paper>.py`` and hold declarations only; layers come from ``components``;
the runtime (plan, pipeline, objective, trainer, CLI) is the rest of ``zoo/``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

import components

# Recipe modules (zoo/recipes/, one per paper) register themselves on import.
from . import recipes  # noqa: F401
from .convert import from_diffusers
from .plan import Plan, resolve
from .recipe import (
    Preset,
    Published,
    Recipe,
    Sampling,
    UnknownModelError,
    get_recipe,
    list_models,
    register_recipe,
)


__all__ = [
    "Plan",
    "from_diffusers",
    "from_pretrained",
    "resolve",
    "Preset",
    "Published",
    "Recipe",
    "Sampling",
    "UnknownModelError",
    "count_parameters",
    "create_model",
    "create_pipeline",
    "describe_model",
    "get_recipe",
    "list_models",
    "preset_config",
    "register_recipe",
]


def preset_config(name: str, preset: str = "tiny", **overrides: Any) -> dict:
    """The declarative config ``{"type": <net key>, ...}`` that ``components.build`` turns into the model."""
    recipe = get_recipe(name)
    return {"type": recipe.net, **dict(recipe.preset(preset).config), **overrides}


def create_model(
    name: str,
    preset: str = "tiny",
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build ``name`` at ``preset`` size; ``overrides`` replace constructor keywords of the preset.

    Unknown override names raise ``TypeError`` with suggestions (the registry's strict ``build``).
    ``device="meta"`` builds without allocating memory.
    """
    config = preset_config(name, preset, **overrides)
    key = config.pop("type")
    if device is not None and torch.device(device).type == "meta":
        with torch.device("meta"):
            model = components.build(key, **config)
    else:
        model = components.build(key, **config)
        if device is not None:
            model = model.to(device)
    if dtype is not None:
        model = model.to(dtype)
    return get_recipe(name).mark_trainable(model)


def count_parameters(name: str, preset: str = "paper", *, trainable_only: bool = False, **overrides: Any) -> int:
    """Number of parameters of ``name`` at ``preset`` size, counted on the meta device (no memory is allocated).

    Counts every ``nn.Parameter`` the way the reference code does (``sum(p.numel() for p in m.parameters())``,
    frozen ones included) unless ``trainable_only``.
    """
    model = create_model(name, preset, device="meta", **overrides)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def create_pipeline(name: str | Plan, preset: str = "tiny", *, model: nn.Module | None = None,
                    device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                    sampler: str | None = None, sampler_kwargs: dict | None = None, steps: int | None = None,
                    guidance: str | bool | None = None, guidance_kwargs: dict | None = None,
                    attention_backend: str | None = None, **overrides: Any):
    """The ``Pipeline`` (``zoo.pipeline``) of recipe ``name`` at ``preset``, or of a resolved ``Plan``.

    ``sampler`` / ``sampler_kwargs`` / ``steps`` / ``guidance`` / ``guidance_kwargs`` / ``attention_backend``
    override the recipe's sampling settings (``zoo.resolve``); ``model``: a built model to use (default: built from
    the preset with ``overrides``, its constructor keywords); ``device`` / ``dtype``: where and in which precision
    every part runs (``pipe.to``). One class for every recipe: a cascade's later stages are built too."""
    from .pipeline import Pipeline

    if isinstance(name, Plan):
        given = dict(sampler=sampler, sampler_kwargs=sampler_kwargs, steps=steps, guidance=guidance,
                     guidance_kwargs=guidance_kwargs, attention_backend=attention_backend)
        if any(v is not None for v in given.values()):
            raise ValueError("create_pipeline: a Plan is already resolved; pass overrides to zoo.resolve instead")
        plan = name
    else:
        plan = resolve(name, preset, sampler=sampler, sampler_kwargs=sampler_kwargs, steps=steps, guidance=guidance,
                       guidance_kwargs=guidance_kwargs, attention_backend=attention_backend)
    return Pipeline.from_plan(plan, model, device=device, dtype=dtype, **overrides)


def from_pretrained(path, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
    """The pipeline saved by ``pipe.save_pretrained(path)`` (``zoo.pretrained``): a local folder, safetensors only."""
    from .pretrained import from_pretrained as load

    return load(path, device=device, dtype=dtype)


def _component_counts(recipe) -> list[str]:
    """Parameters per top-level module of the ``paper`` preset (else the first), built on the meta device."""
    preset = "paper" if "paper" in recipe.presets else next(iter(recipe.presets))
    model = create_model(recipe.name, preset, device="meta")
    lines = [f"  components ({preset}):"]
    for child_name, child in model.named_children():
        total = sum(p.numel() for p in child.parameters())
        trainable = sum(p.numel() for p in child.parameters() if p.requires_grad)
        if total:
            note = f"  (trainable {trainable:,})" if trainable != total else ""
            lines.append(f"    {child_name:<16} {total:>15,}{note}")
    return lines


def describe_model(name: str) -> str:
    """A readable summary of a recipe: paper, net, presets with sample shape and parameter counts (ours vs
    published), sampling defaults."""
    recipe = get_recipe(name)
    lines = [f"{recipe.name}: {recipe.summary}", f"  paper:        {recipe.paper}", f"  net:          {recipe.net}",
             f"  conditioning: {', '.join(recipe.conditioning) or 'none'}"]
    if recipe.reconstruction:
        lines.append("  NOTE: a reconstruction - the paper does not publish this architecture")
    lines.append("  presets:")
    for preset_name, preset in recipe.presets.items():
        ours = count_parameters(name, preset_name)
        pub = preset.published
        published = "-" if pub is None or pub.params is None else f"{pub.params:,} {pub.source}"
        shape = "x".join(str(s) for s in preset.sample_shape)
        lines.append(f"    {preset_name:<12} C,T,H,W={shape:<14} params {ours:>15,}  published {published}")
    lines += _component_counts(recipe)
    s = recipe.sampling
    lines.append(f"  sampling:     {s.schedule} {dict(s.schedule_kwargs)}, {s.parameterization}, {s.sampler} "
                 f"{dict(s.sampler_kwargs)}, {s.steps} steps, guidance {s.guidance or 'none'} "
                 f"{dict(s.guidance_kwargs) if s.guidance else ''}".rstrip())
    return "\n".join(lines)
