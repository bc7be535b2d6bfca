"""``zoo.create_pipeline``: a resolved plan's model(s) wired to the diffusion components its sampling settings name.

    pipe = zoo.create_pipeline("vdm", "demo", dtype=torch.bfloat16)
    video = pipe(num_frames=8, num_inference_steps=50, generator=torch.Generator().manual_seed(0))
    frames = pipe(prompt=["a dog", "a cat"], guidance_scale=7.5, output_type="np")      # a text recipe

One class for every recipe: a plain recipe is a one-stage cascade. The plan (``zoo.plan.resolve``: recipe, preset,
sampling with the user's overrides, attention backend, later stages) is resolved once; the preset's ``Objective``
(``zoo.objective``, shared with training) turns each model into a VE denoiser, optionally wrapped by the plan's guidance,
sampled by the plan's sampler on the schedule's σ grid. A cascade's later stages are pipelines of their own plans,
each conditioned on the previous output (``zoo.stages``). Nothing here is model-specific and nothing is replaced
after construction: a different sampler is a different plan.

The sampler's arithmetic runs in fp32 (float64 for a float64 pipeline) whatever the pipeline's dtype; the network
runs in the pipeline's dtype (its inputs are cast at the network boundary, ``Objective.network``).
"""

from __future__ import annotations

import inspect
import warnings
from contextlib import ExitStack
from typing import Any

import torch
from torch import Tensor, nn

import components
from components.nets.latent_space import LatentSpace

from .objective import Objective
from .plan import Plan
from .recipe import COND_KEYWORDS, Recipe, Sampling, Stage, network_config
from .stages import augment, stage_condition, stage_sizes


__all__ = ["OUTPUT_TYPES", "Pipeline"]

OUTPUT_TYPES = ("latent", "pt", "np", "pil")
# old argument names kept for one release, with a DeprecationWarning: old -> diffusers' name
RENAMED = {"steps": "num_inference_steps", "batch_size": "num_videos_per_prompt", "noise": "latents"}


def _positive_int(value, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{argument} must be an integer >= 1, got {value!r}")
    return value


class Pipeline:
    """The model(s) of one resolved plan with their denoiser, sampler and guidance; call it to sample videos.

    plan: the ``zoo.plan.Plan``; model: the (first) model; stages: the pipelines of a cascade's later stages, in the
    plan's order (held as ``self.stages``: ``(Stage, Pipeline)`` pairs).
    """

    decode_chunk: int = 8  # frames decoded at a time (``decode``), so long videos fit in memory

    def __init__(self, plan: Plan, model: nn.Module, stages: list[Pipeline] | None = None) -> None:
        self.plan, self.model = plan, model
        self.objective = Objective.from_plan(plan, model)
        self.denoiser = self.objective.denoiser(model)
        self.sampler = self.objective.sampler()
        self.guidance = self.objective.guidance(self.denoiser)
        stages = list(stages or [])
        if len(stages) != len(plan.stages):
            raise ValueError(f"pipeline: plan {plan.name!r} has {len(plan.stages)} later stages, got "
                             f"{len(stages)} stage pipelines")
        self.stages: list[tuple[Stage, Pipeline]] = [(stage, pipe) for (stage, _), pipe in zip(plan.stages, stages)]
        self._autoencoder: Any = _UNBUILT
        self._latent_space: LatentSpace | None = None
        self._latent_norm: dict | None = None
        self._encoders: dict[str, nn.Module] | None = None
        self.last_run_stats: dict | None = None  # the last call's network evaluations (``__call__``'s ``cache``)

    @classmethod
    def from_plan(cls, plan: Plan, model: nn.Module | None = None, *, stages: list[Pipeline] | None = None,
                  device=None, dtype: torch.dtype | None = None, **model_overrides) -> Pipeline:
        """The pipeline of ``plan``: ``model`` (default: built from the preset with ``model_overrides``) and one
        pipeline per later stage (``stages``: built ones, in order; default built from their plans); the plan's
        attention backend set on every net; moved to ``device`` / ``dtype``."""
        from . import create_model

        if model is None:
            model = create_model(plan.name, plan.preset, **model_overrides)
        elif model_overrides:
            raise ValueError(f"pipeline: model overrides {sorted(model_overrides)} need model=None (a given model "
                             f"is used as built)")
        if stages is None:
            stages = [cls.from_plan(stage_plan) for _, stage_plan in plan.stages]
        if plan.attention_backend is not None:
            from components.attention import set_attention_backend

            set_attention_backend(model, plan.attention_backend)
        pipe = cls(plan, model, stages)
        if device is not None or dtype is not None:
            pipe.to(device, dtype)
        return pipe

    # ------------------------------------------------------------------------------------------ what it is
    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def preset(self) -> str:
        return self.plan.preset

    @property
    def recipe(self) -> Recipe:
        return self.plan.recipe

    @property
    def sampling(self) -> Sampling:
        return self.plan.sampling

    @property
    def sample_shape(self) -> tuple[int, int, int, int]:
        """(C, T, H, W) of the output in model space (the last stage's for a cascade)."""
        return self.plan.sample_shape

    @property
    def schedule(self):
        return self.objective.schedule

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def modules(self) -> dict[str, nn.Module]:
        """Every built part by name: ``model``, ``autoencoder`` (if any), each encoder by registry key and each later
        stage's parts as ``stage{i}.<name>``."""
        parts = {"model": self.model}
        if self.autoencoder is not None:
            parts["autoencoder"] = self.autoencoder
        parts.update(self.encoders())
        for i, (_, pipe) in enumerate(self.stages, start=1):
            parts.update({f"stage{i}.{k}": v for k, v in pipe.modules().items()})
        return parts

    def to(self, *args, device=None, dtype: torch.dtype | None = None) -> Pipeline:
        """Move every part (model, later stages, autoencoder, built encoders) to ``device`` and/or ``dtype``, as
        diffusers' ``pipe.to("cuda", torch.bfloat16)``; returns the pipeline. Parts built later follow the model."""
        for arg in args:
            if isinstance(arg, torch.dtype):
                dtype = arg
            elif arg is not None:
                device = arg
        if dtype is not None and not dtype.is_floating_point:
            raise ValueError(f"pipeline.to: dtype must be a floating-point dtype, got {dtype}")
        if device is not None:
            device = torch.device(device)
            if device.type == "cuda" and not torch.cuda.is_available():
                raise ValueError(f"pipeline.to: device {device} asked for, but CUDA is not available here")
        for module in [self.model, *(self._encoders or {}).values()] + (
                [self._autoencoder] if isinstance(self._autoencoder, nn.Module) else []):
            module.to(device=device, dtype=dtype)
        for _, pipe in self.stages:
            pipe.to(device=device, dtype=dtype)
        return self

    # ------------------------------------------------------------------------------------------ parts
    @property
    def autoencoder(self) -> nn.Module | None:
        """The recipe's autoencoder (``Recipe.autoencoder``: its net and keywords; the registry's tiny config under
        the ``tiny`` preset), built on first use on the model's device and dtype; None for a pixel-space recipe.
        Random weights unless assigned (``pipe.autoencoder = vae``, e.g. from ``zoo.convert``)."""
        if self._autoencoder is _UNBUILT:
            vae = None
            if self.recipe.autoencoder is not None:
                spec = self.recipe.autoencoder.for_preset(self.preset)
                tiny = components.get_component(spec.net).tiny if self.preset == "tiny" else {}
                vae = components.build(spec.net, **{**tiny, **spec.config, "latent_channels": self.plan.spec.channels})
                vae = vae.to(self.device, self.dtype).eval()
            self._autoencoder = vae
        return self._autoencoder

    @autoencoder.setter
    def autoencoder(self, vae: nn.Module | None) -> None:
        self._autoencoder = vae

    @property
    def latent_space(self) -> LatentSpace | None:
        """The autoencoder with the recipe's latent normalisation (``LatentSpace``: ``encode`` video -> model-space
        latents, ``decode``, the spatial and temporal factors); None for a pixel-space recipe. Normalisation stored
        with loaded weights (a diffusers folder's VAE config) replaces the recipe's (``use_parts``)."""
        vae = self.autoencoder
        if vae is None:
            return None
        norm = self._latent_norm or self.recipe.autoencoder.for_preset(self.preset).normalization()
        if self._latent_space is None or self._latent_space.autoencoder is not vae:
            self._latent_space = LatentSpace(vae, **norm, decode_chunk=self.decode_chunk)
        self._latent_space.decode_chunk = self.decode_chunk
        return self._latent_space

    @property
    def spatial_factor(self) -> int:
        """Pixels per latent pixel along H and W (1 for a pixel-space recipe)."""
        space = self.latent_space
        return 1 if space is None else space.spatial_factor

    @property
    def temporal_factor(self) -> int:
        """Video frames per latent frame after the first (1 for a pixel-space or frame-wise latent recipe)."""
        space = self.latent_space
        return 1 if space is None else space.temporal_factor

    @torch.no_grad()
    def decode(self, latents: Tensor) -> Tensor:
        """Model-space samples ``(B, C, T, h, w)`` to RGB ``(B, 3, T', h·f, w·f)`` in [-1, 1] through the latent space
        (``D(z / scaling_factor)`` SD-style, ``D(z·σ + μ)`` Wan-style): a frame-wise autoencoder at most
        ``decode_chunk`` frames at a time (a temporal decoder sees each chunk alone, as diffusers'
        ``decode_chunk_size``), a causal one the whole clip (``T' = 1 + f_t (T − 1)``); a pixel-space recipe's samples
        are returned unchanged. fp32 out."""
        space = self.latent_space
        if space is None:
            return latents.float() if latents.dtype != torch.float64 else latents
        return space.decode(latents)

    def encoders(self) -> dict[str, nn.Module]:
        """The recipe's conditioning encoders (``Recipe.encoders``), registry key -> module, built once on the model's
        device and dtype: the registry's tiny config under the ``tiny`` preset, sized to the net (``context_dim``,
        ``added_cond_dim``, the autoencoder's spatial ``factor``). Random weights unless loaded (``use_parts``)."""
        if self._encoders is None:
            built = {}
            cfg = network_config(self.plan.spec.config)
            for key, kwargs in _declared_encoders(self.recipe).values():
                if key in built:
                    continue
                entry = components.get_component(key)
                sized = {"context_dim": cfg.get("context_dim"), "added_cond_dim": cfg.get("added_cond_dim"),
                         "factor": self.spatial_factor}
                sized = {k: v for k, v in sized.items() if k in entry.obj.sized_by and v is not None}
                tiny = dict(entry.tiny) if self.preset == "tiny" else {}
                built[key] = components.build(key, **{**tiny, **sized, **kwargs}).to(self.device, self.dtype).eval()
            self._encoders = built
        return self._encoders

    def use_encoders(self, encoders: dict[str, nn.Module]) -> None:
        """Use these built encoders (registry key -> module, e.g. loaded by ``zoo.from_pretrained``) instead of
        building the recipe's; every key the recipe declares must be given."""
        declared = {key for key, _ in _declared_encoders(self.recipe).values()}
        if set(encoders) != declared:
            raise ValueError(f"use_encoders: {self.name!r} declares encoders {sorted(declared) or 'none'}, got "
                             f"{sorted(encoders)}")
        self._encoders = dict(encoders)

    def use_parts(self, parts: dict[str, nn.Module]) -> None:
        """Put pretrained parts into the pipeline (``zoo.convert.folder.load_pretrained_folder``'s dict, less its
        ``model``): ``autoencoder`` here, the rest to each encoder's ``load_parts`` (``text_encoder`` + ``tokenizer``
        into ``conditioning/text``, ``image_encoder`` into the CLIP tower of the image encoders)."""
        if parts.get("autoencoder") is not None:
            self.autoencoder = parts["autoencoder"].to(self.device).eval()
        if parts.get("latent_normalization") is not None:  # the folder's own (a diffusers VAE config's latents_mean/std)
            self._latent_norm = dict(parts["latent_normalization"])
        for module in self.encoders().values():
            module.load_parts(parts)

    # ------------------------------------------------------------------------------------------ conditioning
    def example_conditioning(self, batch: int = 1, *, num_frames: int | None = None, height: int | None = None,
                             width: int | None = None, generator: torch.Generator | None = None) -> dict:
        """Random conditioning of valid shapes for the (first) model (``Objective.example_conditioning``); sizes of the
        output in model space (latent pixels). A cascade's later stages get theirs from the previous stage's output."""
        num_frames, height, width = self.stage_sizes(*self._sizes(num_frames, height, width))[0]
        return self.objective.example_conditioning(self.model, batch, num_frames=num_frames, height=height,
                                                   width=width, generator=generator)

    @torch.no_grad()
    def encode(self, *, prompt=None, image=None, video=None, batch: int = 1, num_frames: int | None = None,
               height: int | None = None, width: int | None = None, resize: bool = False,
               generator: torch.Generator | None = None, skip: tuple[str, ...] = ()) -> dict:
        """User inputs to the (first) net's conditioning keywords through the recipe's encoders (``Recipe.encoders``);
        ``num_frames`` / ``height`` / ``width`` of the output in model space (latent pixels; default the preset's; a
        cascade's first model gets its own size of them).

        ``prompt``: a string or list of strings; ``image``: a PIL image, image path or ``(B, 3, H, W)`` tensor in
        [-1, 1]; ``video``: a video file path, a list of frames or ``(B, 3, T, H, W)``. Images and videos must have
        the pixel size the model samples (H·f, W·f for a latent recipe): else a ValueError naming both sizes, unless
        ``resize``. An input no encoder takes, or a missing one an encoder needs, is a ValueError naming both.
        ``skip``: keywords given as raw tensors (their encoders are not run and need no input). Each encoder runs once,
        however many keywords it feeds."""
        from components.conditioning.images import as_image, as_video, fit

        t, h, w = self.stage_sizes(*self._sizes(num_frames, height, width))[0]
        size = (h * self.spatial_factor, w * self.spatial_factor)
        given = {k: v for k, v in dict(prompt=prompt, image=image, video=video).items() if v is not None}
        declared = _declared_encoders(self.recipe)
        encoders = self.encoders()
        takes = {n for module in encoders.values() for n in module.inputs}
        for arg in given:
            if arg not in takes:
                wanted = ", ".join(sorted(takes)) or "no user inputs (sample it unconditionally)"
                raise ValueError(f"{self.name} takes no {arg}: its conditioning encoders take {wanted}")
        # an encoder with ``spatial_inputs = False`` (a CLIP embedding) takes images of any size
        spatial = {n for m in encoders.values() for n in m.inputs if m.spatial_inputs}
        if "image" in given:
            given["image"] = as_image(given["image"])
            if "image" in spatial:
                given["image"] = fit(given["image"], size, "image", resize=resize)
            if given["image"].shape[0] == 1 and batch > 1:
                given["image"] = given["image"].expand(batch, -1, -1, -1)
        if "video" in given:
            given["video"] = as_video(given["video"])
            if "video" in spatial:
                given["video"] = fit(given["video"], size, "video", resize=resize)
            if given["video"].shape[0] == 1 and batch > 1:
                given["video"] = given["video"].expand(batch, -1, -1, -1, -1)
        cond, outputs = {}, {}
        for keyword, (key, _) in declared.items():
            if keyword in skip:
                continue
            module = encoders[key]
            missing = [n for n in module.inputs if n not in given]
            if missing:
                raise ValueError(f"{self.name} needs {', '.join(missing)} for its {keyword!r} conditioning ({key}); "
                                 f"got {', '.join(sorted(given)) or 'nothing'}")
            if key not in outputs:  # an encoder feeding several keywords (SVD's image) runs once
                outputs[key] = module.encode(given, num_frames=t, batch=batch, autoencoder=self.autoencoder,
                                             latent_space=self.latent_space, generator=generator)
            cond[keyword] = outputs[key][keyword]
        return cond

    def null_condition(self, cond: dict, negative: dict | None = None) -> dict:
        """The unconditional branch for guidance (``Objective.null_condition``: null class, zeros, kept keywords),
        except that a keyword fed by an encoder this pipeline has built (an input was encoded, or weights were
        loaded with ``use_parts``) gets that encoder's ``unconditional`` output when it has one of the keyword's
        shape (the text encoder's empty prompt, as SD-style pipelines do); ``negative``: encoded negative prompts,
        which replace it."""
        uncond = self.objective.null_condition(cond, self.model)
        built = self._encoders or {}
        for keyword, (key, _) in _declared_encoders(self.recipe).items():
            if keyword not in uncond or keyword in self.sampling.uncond_keep:
                continue
            if negative is not None and keyword in negative:
                uncond[keyword] = negative[keyword].to(cond[keyword])
                continue
            if key in built:
                own = built[key].unconditional({keyword: cond[keyword]}, cond[keyword].shape[0]).get(keyword)
                if own is not None and own.shape == cond[keyword].shape:
                    uncond[keyword] = own.to(cond[keyword])
        return uncond

    # ------------------------------------------------------------------------------------------ sizes
    def _sizes(self, num_frames, height, width) -> tuple[int, int, int]:
        _, t, h, w = self.sample_shape
        return num_frames or t, height or h, width or w

    def stage_sizes(self, frames: int, height: int, width: int) -> list[tuple[int, int, int]]:
        """(T, H, W) in model space of every stage's output, first to last, for an output of (frames, height, width)
        (one entry for a single model)."""
        return stage_sizes([stage for stage, _ in self.stages], frames, height, width)

    def model_frames(self, frames: int | None, argument: str = "num_frames") -> int | None:
        """Decoded video frames as model-space frames: the same for a frame-wise autoencoder, ``1 + (F − 1)/f_t`` for
        a causal one (F must be ``1 + f_t·k``, else an error naming ``argument``)."""
        if frames is None or self.temporal_factor == 1:
            return frames
        return self.latent_space.latent_frames(frames, argument)

    def pixel_frames(self, frames: int) -> int:
        """Model-space frames as decoded video frames (the inverse of ``model_frames``)."""
        return frames if self.temporal_factor == 1 else self.latent_space.pixel_frames(frames)

    def _model_size(self, pixels: int | None, argument: str) -> int | None:
        """A decoded size in pixels as model-space pixels (÷ the autoencoder's factor); not divisible -> error."""
        if pixels is None:
            return None
        _positive_int(pixels, argument)
        f = self.spatial_factor
        if pixels % f:
            raise ValueError(f"{argument} must be a multiple of {f} (the autoencoder's spatial factor of "
                             f"{self.name}), got {pixels}")
        return pixels // f

    # ------------------------------------------------------------------------------------------ sampling
    @torch.no_grad()
    def __call__(self, prompt=None, *, num_frames: int | None = None, num_inference_steps: int | None = None,
                 height: int | None = None, width: int | None = None, guidance_scale: float | None = None,
                 negative_prompt=None, num_videos_per_prompt: int | None = None,
                 generator: torch.Generator | None = None, latents: Tensor | None = None,
                 output_type: str = "latent", seed: int = 0, guidance: bool | None = None, progress: bool = False,
                 image=None, video=None, resize: bool = False, decode: bool = False, return_stages: bool = False,
                 attention_backend: str | None = None, cache=None, **cond):
        """Sample videos from noise.

        Arguments as diffusers' pipelines name them: ``prompt`` (a string or a list: one video per prompt, times
        ``num_videos_per_prompt``), ``negative_prompt`` (the unconditional branch's text), ``num_frames`` (decoded
        frames: ``1 + 4k`` through Wan's causal autoencoder, which samples ``1 + k`` latent frames),
        ``height`` / ``width`` in decoded pixels (default the preset's; a multiple of the autoencoder's factor),
        ``num_inference_steps`` (default the plan's), ``guidance_scale`` (s in x_u + s (x_c − x_u); ≤ 1 samples
        without guidance, as diffusers; default the recipe's), ``generator`` (default seeded with ``seed``),
        ``latents`` (the unit-variance starting noise ``(B, C, T, h, w)`` in model space), ``output_type``:
        ``"latent"`` (default: model-space samples ``(B, C, T, h, w)``, this library's convention), ``"pt"``
        (decoded ``(B, T, 3, H, W)`` float in [0, 1]), ``"np"`` (``(B, T, H, W, 3)`` float32 in [0, 1]),
        ``"pil"`` (a list per video of PIL frames). ``decode=True``: decoded RGB ``(B, 3, T, H, W)`` in [-1, 1].

        ``image`` / ``video``: user inputs for the recipe's encoders; ``cond``: raw conditioning keywords
        (``context``, ``concat``, ``added_cond``, ``class_labels``, ...), which override encoded ones. Guidance (if
        the plan has one) is applied when conditioning is given, unless ``guidance=False``. A cascade runs every
        stage (``return_stages``: every stage's model-space output, first to last). ``attention_backend``: run every
        attention module of every stage on this backend for this call only (the plan's is the default).
        ``cache``: a step cache for this call (a ``cache/*`` key as ``"KEY[:knob=value,...]"``, a config dict or a
        built cache; components/caches, docs/caches.md), with its own state per network, reset for every call.
        ``pipe.last_run_stats`` then holds the call's network evaluations: ``calls``, ``full`` (computed in full),
        ``cached`` (shortened by the cache) and the ``cache`` key.
        """
        from components.caches import as_cache

        step_cache = as_cache(cache)
        networks = [pipe.denoiser.model for pipe in (self, *(p for _, p in self.stages))]
        with ExitStack() as scope:
            if attention_backend is not None:  # every stage's attention on this backend for this call only
                from components.attention import override_attention_backend

                for model in [self.model, *(pipe.model for _, pipe in self.stages)]:
                    scope.enter_context(override_attention_backend(model, attention_backend))
            if step_cache is not None:
                step_cache.reset()
                for pipe in (self, *(p for _, p in self.stages)):
                    step_cache.check(pipe.model)  # refused before sampling when the net lacks what it needs
            scope.callback(_detach, networks)
            for network in networks:
                network.cache, network.calls = step_cache, 0
            out = self._call(prompt, num_frames, num_inference_steps, height, width, guidance_scale,
                              negative_prompt, num_videos_per_prompt, generator, latents, output_type, seed, guidance,
                              progress, image, video, resize, decode, return_stages, cond)
            calls = sum(network.calls for network in networks)
            stats = step_cache.stats() if step_cache is not None else {"calls": calls, "full": calls, "cached": 0}
            self.last_run_stats = {**stats, "cache": getattr(step_cache, "key", None)}
            return out

    def _call(self, prompt, num_frames, num_inference_steps, height, width, guidance_scale, negative_prompt,
              num_videos_per_prompt, generator, latents, output_type, seed, guidance, progress, image, video, resize,
              decode, return_stages, cond):
        for old, new in RENAMED.items():
            if old in cond:
                warnings.warn(f"pipeline: {old}= is deprecated; use {new}=", DeprecationWarning, stacklevel=2)
                value = cond.pop(old)
                if old == "steps":
                    num_inference_steps = num_inference_steps if num_inference_steps is not None else value
                elif old == "batch_size":
                    num_videos_per_prompt = num_videos_per_prompt if num_videos_per_prompt is not None else value
                else:
                    latents = latents if latents is not None else value
        self._check_keywords(cond)
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
        n = _positive_int(num_videos_per_prompt if num_videos_per_prompt is not None else 1, "num_videos_per_prompt")
        steps = _positive_int(num_inference_steps, "num_inference_steps") if num_inference_steps is not None else None
        if num_frames is not None:
            _positive_int(num_frames, "num_frames")
        frames = self.model_frames(num_frames)
        h, w = self._model_size(height, "height"), self._model_size(width, "width")
        if isinstance(prompt, list | tuple):
            if not prompt:
                raise ValueError("prompt must be a string or a non-empty list of strings, got an empty list")
            prompts = [p for p in prompt for _ in range(n)]
            batch = len(prompts)
        else:
            prompts, batch = prompt, n
        if negative_prompt is not None:  # one string, or one per prompt, repeated as the prompts are
            if prompt is None:
                raise ValueError("negative_prompt needs a prompt (it replaces the empty prompt of guidance's "
                                 "unconditional branch)")
            if not isinstance(negative_prompt, str):
                if not isinstance(prompt, list | tuple) or len(negative_prompt) != len(prompt):
                    raise ValueError(f"negative_prompt must be a string or a list with one per prompt "
                                     f"({len(prompt) if isinstance(prompt, list | tuple) else 'one string'}), got "
                                     f"{len(negative_prompt)}")
                negative_prompt = [p for p in negative_prompt for _ in range(n)]
            elif isinstance(prompts, list):
                negative_prompt = [negative_prompt] * batch
        device = self.device
        generator = generator or torch.Generator(device=device).manual_seed(seed)
        t, h, w = self._sizes(frames, h, w)
        sizes = self.stage_sizes(t, h, w)
        if latents is not None and tuple(latents.shape) != (batch, self.plan.spec.channels, *sizes[0]):
            raise ValueError(f"latents must have shape (B, C, T, h, w) = {(batch, self.plan.spec.channels, *sizes[0])}"
                             f" (model space of the first model), got {tuple(latents.shape)}")
        self._check_sizes(sizes, num_frames, height, width)
        guided = self._guidance(guidance_scale)
        if prompts is not None or image is not None or video is not None:
            cond = {**self.encode(prompt=prompts, image=image, video=video, batch=batch, num_frames=t, height=h,
                                  width=w, resize=resize, generator=generator, skip=tuple(cond)), **cond}
        negative = None
        if negative_prompt is not None:  # encoded by the text encoders alone
            skip = tuple(k for k, (key, _) in _declared_encoders(self.recipe).items()
                         if "prompt" not in self.encoders()[key].inputs)
            negative = self.encode(prompt=negative_prompt, batch=batch, num_frames=t, height=h, width=w, skip=skip)
        common = dict(steps=steps, guidance=guided if guidance is not False else None, generator=generator,
                      progress=progress, negative=negative)
        takes = getattr(self.model, "supported_cond", COND_KEYWORDS)
        first = {k: v for k, v in cond.items() if k in takes or not self.stages}
        outs = [self._sample(batch, sizes[0], latents=latents, cond=first, **common)]
        for (stage, pipe), size in zip(self.stages, sizes[1:], strict=True):
            stage_cond = {k: v for k, v in cond.items() if k in getattr(pipe.model, "supported_cond", ())}
            concat, level = augment(stage, stage_condition(stage, outs[-1]), pipe.schedule, generator)
            if level is not None:
                stage_cond["added_cond"] = level
            c = pipe.plan.spec.channels
            st, sh, sw = size
            start = torch.randn(batch, c, 1 if stage.same_noise_per_frame else st, sh, sw, generator=generator,
                                device=device).expand(batch, c, st, sh, sw)
            stage_guided = pipe._guidance(guidance_scale) if guidance is not False else None
            outs.append(pipe._sample(batch, size, latents=start, cond={**stage_cond, "concat": concat},
                                     **{**common, "guidance": stage_guided}))
        if return_stages:
            return [o.to(self.dtype) for o in outs]
        out = outs[-1]
        last = self.stages[-1][1] if self.stages else self
        if decode:
            return last.decode(out)
        if output_type == "latent":
            return out.to(last.dtype)
        return _to_output(last.decode(out), output_type)

    def _check_sizes(self, sizes, num_frames, height, width) -> None:
        """Every model's (T, h, w) must be a multiple of what its network divides it by (``size_multiple`` of the
        registry nets: a U-Net's 2^(levels − 1), a DiT's patch): refused here, before sampling, naming the argument."""
        pipes = [self, *(pipe for _, pipe in self.stages)]
        for pipe, size in zip(pipes, sizes, strict=True):
            multiple = getattr(pipe.model, "size_multiple", (1, 1, 1))  # a net outside the registry declares none
            for argument, value, m, given, f in zip(("num_frames", "height", "width"), size, multiple,
                                                    (num_frames, height, width), (1, self.spatial_factor,
                                                                                   self.spatial_factor)):
                if value % m:
                    shown = "the preset's" if given is None else given
                    raise ValueError(f"{argument}: {pipe.name} samples {value} {'frames' if f == 1 else 'latent pixels'}"
                                     f" there, which its network needs to be a multiple of {m} (a {argument} that is "
                                     f"a multiple of {m * f}); got {argument}={shown}")

    def _check_keywords(self, cond: dict) -> None:
        """Keywords left in ``cond`` must be conditioning keywords some net of this pipeline takes."""
        takes = set(getattr(self.model, "supported_cond", ())) | set(self.recipe.conditioning)
        for _, pipe in self.stages:
            takes |= set(getattr(pipe.model, "supported_cond", ())) | set(pipe.recipe.conditioning)
        takes |= {"concat"} if self.plan.spec.x_cond_channels else set()
        unknown = [k for k in cond if k not in takes]
        if unknown:
            from components.registry import did_you_mean

            names = sorted(takes | set(inspect.signature(Pipeline.__call__).parameters) - {"self", "cond"})
            raise ValueError(f"pipeline {self.name!r}: unknown argument {unknown[0]!r}. "
                             f"{did_you_mean(unknown[0], names)} Its conditioning keywords: "
                             f"{', '.join(sorted(takes)) or 'none'}")

    def _guidance(self, guidance_scale: float | None):
        """This call's guidance wrapper: the plan's, or at diffusers' ``guidance_scale`` s (≤ 1: none)."""
        if guidance_scale is None or self.guidance is None:
            if guidance_scale is not None and guidance_scale > 1:
                raise ValueError(f"guidance_scale: {self.name!r} samples without guidance (its plan names none; "
                                 f"resolve it with guidance=KEY), got guidance_scale={guidance_scale}")
            return self.guidance
        if guidance_scale <= 1:
            return None
        return self.guidance.at_scale(float(guidance_scale))

    def _sample(self, batch: int, size: tuple[int, int, int], *, latents: Tensor | None, cond: dict,
                steps: int | None, guidance, generator: torch.Generator, progress: bool,
                negative: dict | None) -> Tensor:
        """One model's sampler run from noise at model-space ``size`` (T, h, w); the sampler's fp32 output."""
        device = self.device
        sigmas = self.objective.sigmas(steps, device)
        noise_dtype = torch.float64 if self.dtype == torch.float64 else torch.float32
        if latents is None:  # drawn in fp32 whatever the dtype, so every dtype starts from the same noise
            latents = torch.randn(batch, self.plan.spec.channels, *size, generator=generator, device=device)
        x = self.objective.start(latents.to(noise_dtype), sigmas)
        if guidance is not None and cond:
            denoiser, extra = guidance, {**cond, "uncond": self.null_condition(cond, negative)}
        else:
            denoiser, extra = self.denoiser, cond
        was_training = self.model.training
        self.model.eval()
        try:
            return self.sampler(denoiser, x, sigmas, extra_args=extra, generator=generator, progress=progress)
        finally:
            self.model.train(was_training)

    @torch.no_grad()
    def extend(self, video: Tensor | None = None, *, new_frames: int, context_frames: int, steps: int | None = None,
               guidance: str = "reconstruction", weight: float = 9.0, window: int | None = None, seed: int = 0,
               batch_size: int = 1, generator: torch.Generator | None = None, **cond) -> Tensor:
        """``video`` ``(B, C, T, H, W)`` (model space) extended by ``new_frames`` frames, ``window − context_frames``
        per sampler run (``components.diffusion.extend_video``: reconstruction or replacement guidance on the last
        ``context_frames`` frames), with this pipeline's denoiser, sampler and σ grid; ``window`` frames per run
        (default the preset's frame count). ``video=None`` samples the first window from noise first, through
        ``__call__`` (the one way from noise). ``cond`` goes to the model at every call."""
        from components.diffusion.extension import extend_video

        if self.stages:
            raise ValueError(f"extend: {self.name!r} is a cascade; extend one of its models' pipelines")
        device = self.device
        generator = generator or torch.Generator(device=device).manual_seed(seed)
        window = window or self.sample_shape[1]
        if video is None:
            video = self(num_frames=window, num_inference_steps=steps, num_videos_per_prompt=batch_size,
                         generator=generator, guidance=False, **cond)
        sigmas = self.objective.sigmas(steps, device)
        was_training = self.model.training
        self.model.eval()
        try:
            return extend_video(self.denoiser, video.to(device), new_frames=new_frames, context_frames=context_frames,
                                window=window, sampler=self.sampler, sigmas=sigmas, guidance=guidance,
                                weight=weight, generator=generator, extra_args=cond)
        finally:
            self.model.train(was_training)

    def save_pretrained(self, path) -> None:
        """Write this pipeline to a local folder ``zoo.from_pretrained`` reads (``zoo.pretrained``)."""
        from .pretrained import save_pretrained

        save_pretrained(self, path)


def _detach(networks) -> None:
    for network in networks:
        network.cache = None


class _Unbuilt:
    def __repr__(self) -> str:
        return "<not built yet>"


_UNBUILT = _Unbuilt()


def _to_output(rgb: Tensor, output_type: str):
    """Decoded ``(B, 3, T, H, W)`` in [-1, 1] as diffusers' ``output_type``: pt ``(B, T, 3, H, W)`` [0, 1], np
    ``(B, T, H, W, 3)`` [0, 1] float32, pil: a list per video of PIL RGB frames."""
    frames = ((rgb.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 1, 3, 4)  # b c t h w -> b t c h w
    if output_type == "pt":
        return frames
    array = frames.permute(0, 1, 3, 4, 2).cpu().numpy()  # b t c h w -> b t h w c
    if output_type == "np":
        return array
    from PIL import Image

    return [[Image.fromarray((f * 255).round().astype("uint8")) for f in clip] for clip in array]


def _declared_encoders(recipe: Recipe) -> dict[str, tuple[str, dict]]:
    """``Recipe.encoders`` normalised to keyword -> (registry key, constructor keywords)."""
    return {kw: (v, {}) if isinstance(v, str) else (v[0], dict(v[1])) for kw, v in recipe.encoders.items()}

