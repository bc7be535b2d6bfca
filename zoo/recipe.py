"""The recipe format: a paper's model as data (presets of a registered net, published numbers, sampling defaults).

A recipe names its network by registry key (``"net/space_time_unet"``) and fills in sizes per preset; it never
defines a layer. ``register_recipe`` adds it to the zoo's own name table (``zoo.list_models``); lookups of unknown
names fail with "Did you mean …".

Provenance tags on published numbers follow ``docs/papers.md``: ``[V-paper]`` read in the paper, ``[V-code]`` read in the
official code, ``[C]`` computed by instantiating the reference implementation, ``[S]`` a secondary source,
``[M]`` from memory / not re-verified.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from components.diffusion.schedules import SPACINGS
from components.nets.conditioning import COND_KEYWORDS
from components.registry import did_you_mean, natural_key


__all__ = ["Autoencoder", "Preset", "Published", "Recipe", "Sampling", "Stage", "UnknownModelError", "get_recipe",
           "list_models", "register_recipe"]

PROVENANCE = ("[V-paper]", "[V-code]", "[C]", "[S]", "[M]", "[ours]")


class UnknownModelError(KeyError):
    """A model name that is not a registered recipe. The message names the closest ones."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Published:
    """A published (or computed-reference) parameter count with where it comes from."""

    params: int | None
    source: str
    note: str = ""

    def __post_init__(self):
        if not any(self.source.startswith(tag) for tag in PROVENANCE):
            raise ValueError(f"Published.source must start with a provenance tag {PROVENANCE}, got {self.source!r}")


@dataclass(frozen=True)
class Sampling:
    """Diffusion settings, all by registry key of ``components/diffusion``."""

    schedule: str
    parameterization: str
    sampler: str
    steps: int
    schedule_kwargs: Mapping[str, Any] = field(default_factory=dict)
    sampler_kwargs: Mapping[str, Any] = field(default_factory=dict)
    guidance: str | None = None
    guidance_kwargs: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"scale": 1.5}
    time_input: str = "continuous"  # "continuous": t in [0, 1]; "discrete": integer step index
    # the sampling time grid (``schedule.timesteps(steps, spacing)``): "linspace" (evenly spaced t from 1 to 0) or,
    # for a discrete schedule, diffusers' integer "leading" / "trailing" timesteps (CogVideoX's DDIM: trailing); for
    # the flow schedule "trailing" is 1, 1 − 1/n, ..., 1/n before the shift (HunyuanVideo's and LTX's pipelines)
    spacing: str = "linspace"
    uncond_keep: tuple[str, ...] = ()  # conditioning the guidance's unconditional branch keeps (SVD: added_cond)
    # the training-time distribution of t (``timesteps/*``: uniform, logit_normal, mode, cosine_map) and its knobs
    train_timesteps: str = "timesteps/uniform"
    train_timesteps_kwargs: Mapping[str, Any] = field(default_factory=dict)
    # the training loss's weighting (``weighting/*``: snr, min_snr, edm, ...); None: the unweighted MSE of the
    # network's target (L_simple for ε, EDM's λ(σ)-weighted loss for a preconditioned network)
    loss_weighting: str | None = None
    loss_weighting_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.time_input not in ("continuous", "discrete"):
            raise ValueError(f"Sampling.time_input must be 'continuous' or 'discrete', got {self.time_input!r}")
        if self.spacing not in SPACINGS:
            raise ValueError(f"Sampling.spacing must be one of {SPACINGS}, got {self.spacing!r}")

    def replace(self, **changes) -> Sampling:
        from dataclasses import replace

        return replace(self, **changes)


@dataclass(frozen=True)
class Preset:
    """One size of a recipe: the net's constructor keywords and the sample shape in model space (C, T, H, W)."""

    config: Mapping[str, Any]
    channels: int
    frames: int
    height: int
    width: int
    published: Published | None = None
    note: str = ""
    sampling: Mapping[str, Any] = field(default_factory=dict)  # overrides of the recipe's Sampling fields
    # channels of the model input x after the ``channels`` sampled ones that carry conditioning latents (SVD: the 4
    # latents of the conditioning image); the pipeline appends them from its ``concat`` keyword
    x_cond_channels: int = 0

    @property
    def sample_shape(self) -> tuple[int, int, int, int]:
        return (self.channels, self.frames, self.height, self.width)


STAGE_KINDS = ("spatial_sr", "temporal_sr", "interpolation")


@dataclass(frozen=True)
class Stage:
    """A later model of a cascade (Imagen Video, Make-A-Video): the registered recipe ``recipe`` (built at the
    cascade's preset name) and how the previous stage's video becomes its ``concat`` conditioning.

    kind: ``"spatial_sr"`` (H, W × ``factor``, bilinear; SSR), ``"temporal_sr"`` (T × ``factor``, frames repeated;
        TSR), ``"interpolation"`` (Make-A-Video ↑F: the frames ``factor`` apart, zeros between, plus a 1-channel
        mask of the known frames; T -> (T − 1)·factor + 1).
    noise_aug: noise-conditioning augmentation: the conditioning video is noised to continuous time ``noise_aug``
        of the stage's schedule and the model gets that time as ``added_cond`` ``(B, 1)``; None: no augmentation.
    same_noise_per_frame: start every frame from the same noise (Make-A-Video's per-frame SR_h).
    """

    recipe: str
    kind: str
    factor: int = 2
    noise_aug: float | None = None
    same_noise_per_frame: bool = False
    note: str = ""

    def __post_init__(self):
        if self.kind not in STAGE_KINDS:
            raise ValueError(f"Stage.kind must be one of {STAGE_KINDS}, got {self.kind!r}")
        if self.factor < 1 or (self.noise_aug is not None and not 0.0 <= self.noise_aug < 1.0):
            raise ValueError(f"Stage: factor must be >= 1 and noise_aug in [0, 1), got {self.factor}, {self.noise_aug}")

    def output_size(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """(T, H, W) this stage makes from the previous stage's (T, H, W)."""
        f = self.factor
        if self.kind == "spatial_sr":
            return frames, height * f, width * f
        return (frames * f if self.kind == "temporal_sr" else (frames - 1) * f + 1), height, width

    def input_size(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """The previous stage's (T, H, W) for this stage's output (T, H, W); ``ValueError`` if none gives it."""
        f = self.factor
        size = ((frames, height // f, width // f) if self.kind == "spatial_sr" else
                (frames // f if self.kind == "temporal_sr" else (frames - 1) // f + 1, height, width))
        if self.output_size(*size) != (frames, height, width) or min(size) < 1:
            raise ValueError(f"cascade stage {self.recipe!r} ({self.kind} × {f}) cannot output (T, H, W) = "
                             f"{(frames, height, width)}")
        return size


def network_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The keywords of the network that meets the data: ``config`` itself, or for a net wrapping networks built from
    one entry (``net/noise_experts``: ``{"net": key, "config": {...}}``) the wrapped networks' (their ``context_dim``,
    ``added_cond_dim``, ... size the conditioning)."""
    inner = config.get("config")
    return network_config(inner) if isinstance(config.get("net"), str) and isinstance(inner, Mapping) else config


@dataclass(frozen=True)
class Autoencoder:
    """A latent recipe's autoencoder: the registry net, its constructor keywords, and the recipe's latent
    normalisation (``components.nets.latent_space.LatentSpace``: ``scaling_factor``, or per-channel
    ``latents_mean`` / ``latents_std``).

    ``tiny``: the spec of the ``tiny`` preset (its own sizes and normalisation), default this one with the registry's
    tiny config underneath. A plain mapping given as ``Recipe.autoencoder`` is ``net/video_autoencoder``'s keywords
    (SD-style, ``scaling_factor`` among them)."""

    net: str = "net/video_autoencoder"
    config: Mapping[str, Any] = field(default_factory=dict)
    scaling_factor: float | None = None
    latents_mean: tuple[float, ...] | None = None
    latents_std: tuple[float, ...] | None = None
    tiny: Autoencoder | None = None

    def __post_init__(self):
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))

    def for_preset(self, preset: str) -> Autoencoder:
        """The spec a preset builds: ``tiny`` for the tiny preset when declared, else this one."""
        return self.tiny if preset == "tiny" and self.tiny is not None else self

    def normalization(self) -> dict:
        """``LatentSpace`` keywords of the latent normalisation."""
        return dict(scaling_factor=self.scaling_factor, latents_mean=self.latents_mean, latents_std=self.latents_std)


@dataclass(frozen=True)
class Recipe:
    """A paper's model: ``net`` (registry key), ``presets`` by name, sampling defaults and provenance."""

    name: str
    paper: str
    net: str
    presets: Mapping[str, Preset]
    sampling: Sampling
    summary: str = ""
    conditioning: tuple[str, ...] = ()
    reconstruction: bool = False  # True: the architecture is not published; the recipe is our reconstruction
    # module-name suffixes the paper fine-tunes (matched with ``name.endswith``); None: every parameter trains.
    # ``create_model`` freezes the rest (``mark_trainable``), so ``count_parameters(trainable_only=True)`` is the paper's.
    trainable: tuple[str, ...] | None = None
    # a cascade: this recipe is its first model, ``stages`` the later ones; the presets' sample shape is then the
    # cascade's output and ``zoo.create_pipeline`` runs every stage (``zoo.cascade``)
    stages: tuple[Stage, ...] = ()
    # the cascade this recipe is a later stage of: it needs the previous stage's output (``concat``), so
    # ``list_models`` shows it only with ``stages=True``
    stage_of: str | None = None
    # a latent recipe's autoencoder (``Autoencoder``: net, keywords, latent normalisation; a mapping is
    # ``net/video_autoencoder``'s keywords, its registry ``tiny`` config underlying the ``tiny`` preset's); the
    # pipeline decodes samples through it (``Pipeline.decode``). None: pixels.
    autoencoder: Autoencoder | Mapping[str, Any] | None = None
    # which conditioning encoder feeds which conditioning keyword: keyword -> registry key ("conditioning/text") or
    # (key, constructor keywords); the pipeline builds each encoder once and calls it on user inputs
    # (``Pipeline.encode``: prompt / image / video)
    encoders: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not re.match(r"^[a-z][a-z0-9_]*$", self.name):
            raise ValueError(f"Recipe.name must be lowercase snake_case, got {self.name!r}")
        if "tiny" not in self.presets:
            raise ValueError(f"recipe {self.name!r} must declare a 'tiny' preset (CPU tests build every recipe)")
        unknown = [c for c in self.conditioning if c not in COND_KEYWORDS]
        if unknown:
            raise ValueError(f"recipe {self.name!r}: conditioning {unknown} not among the shared keywords "
                             f"{COND_KEYWORDS}")
        object.__setattr__(self, "presets", MappingProxyType(dict(self.presets)))
        if self.autoencoder is not None and not isinstance(self.autoencoder, Autoencoder):
            declared = dict(self.autoencoder)
            object.__setattr__(self, "autoencoder", Autoencoder(
                config=declared, scaling_factor=declared.get("scaling_factor", 0.18215)))

    def preset(self, name: str) -> Preset:
        try:
            return self.presets[name]
        except KeyError:
            raise KeyError(f"recipe {self.name!r} has no preset {name!r}. {did_you_mean(name, self.presets, cutoff=0.4)} "
                           f"Presets: {', '.join(self.presets)}") from None

    def mark_trainable(self, model):
        """Freeze ``model`` except the modules named by ``trainable`` (no-op when it is None); returns ``model``."""
        if self.trainable is not None:
            model.requires_grad_(False)
            for name, child in model.named_modules():
                if name.endswith(tuple(self.trainable)):
                    child.requires_grad_(True)
        return model

    def sampling_for(self, preset: str) -> Sampling:
        """The sampling defaults with the preset's overrides applied."""
        return self.sampling.replace(**dict(self.preset(preset).sampling))


_RECIPES: dict[str, Recipe] = {}


def register_recipe(recipe: Recipe) -> Recipe:
    if recipe.name in _RECIPES:
        raise ValueError(f"register_recipe: duplicate model name {recipe.name!r}")
    _RECIPES[recipe.name] = recipe
    return recipe


def list_models(pattern: str = "*", *, stages: bool = False) -> list[str]:
    """Registered model names matching the fnmatch ``pattern``, naturally sorted; the later stages of cascades
    (``Recipe.stage_of``) only with ``stages=True``."""
    return sorted((n for n, r in _RECIPES.items() if fnmatch.fnmatchcase(n, pattern) and (stages or not r.stage_of)),
                  key=natural_key)


def get_recipe(name: str) -> Recipe:
    """The recipe of ``name``; ``UnknownModelError`` (a ``KeyError``) with suggestions when it does not exist."""
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    try:
        return _RECIPES[name]
    except KeyError:
        raise UnknownModelError(f"Unknown model {name!r}. {did_you_mean(name, _RECIPES)} "
                                "List models with zoo.list_models().") from None
