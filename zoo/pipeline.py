"""``zoo.create_pipeline``: a recipe's model wired to the diffusion components its sampling defaults name.

    pipe = zoo.create_pipeline("vdm", preset="demo")
    video = pipe(num_frames=8, steps=50, seed=0)          # (B, C, T, H, W)

The recipe preset's ``Objective`` (``zoo.objective``, shared with training) turns the model into a VE denoiser
(``denoiser/vp`` with the recipe's schedule, parameterization and time convention, or ``denoiser/edm`` for an EDM
preconditioning, SVD), optionally wrapped by the recipe's guidance, sampled by the recipe's sampler on the schedule's σ
grid. Nothing here is model-specific: every piece is a registry key in ``Recipe.sampling``. Cascades are
``zoo.cascade.CascadePipeline``; ``zoo.create_pipeline`` chooses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

import components

from .objective import Objective
from .recipe import Recipe, Sampling


@dataclass
class Pipeline:
    """Model + denoiser + sampler (+ guidance) of one recipe preset; call it to sample ``(B, C, T, H, W)`` videos."""

    model: nn.Module
    schedule: Any
    denoiser: Any
    sampler: Any
    guidance: Any
    sampling: Sampling
    sample_shape: tuple[int, int, int, int]
    name: str = ""
    preset: str = ""
    recipe: Recipe | None = None
    decode_chunk: int = 8  # frames decoded at a time (``decode``), so long videos fit in memory
    objective: Objective | None = None  # the diffusion interface every piece above comes from (``zoo.objective``)

    @classmethod
    def from_recipe(cls, recipe: Recipe, preset: str, model: nn.Module) -> Pipeline:
        """The pipeline of one (non-cascade) recipe preset: every diffusion piece from its ``Objective``."""
        if recipe.stages:
            raise ValueError(f"{recipe.name!r} is a cascade: build it with zoo.create_pipeline (zoo.cascade)")
        objective = Objective.from_recipe(recipe, preset, model)
        denoiser = objective.denoiser(model)
        return cls(model, objective.schedule, denoiser, objective.sampler(), objective.guidance(denoiser),
                   objective.sampling, recipe.preset(preset).sample_shape, recipe.name, preset, recipe,
                   objective=objective)

    @property
    def autoencoder(self) -> nn.Module | None:
        """The recipe's ``net/video_autoencoder`` (``Recipe.autoencoder``; the registry's tiny config under the
        ``tiny`` preset), built on first use on the model's device; None for a pixel-space recipe. Random weights
        unless assigned (``pipe.autoencoder = vae``, e.g. from ``zoo.convert``)."""
        if "_autoencoder" not in self.__dict__:
            declared = None if self.recipe is None else self.recipe.autoencoder
            vae = None
            if declared is not None:
                tiny = components.get_component("net/video_autoencoder").tiny if self.preset == "tiny" else {}
                param = next(self.model.parameters())
                vae = components.build("net/video_autoencoder", **{**tiny, **dict(declared),
                                       "latent_channels": self.sample_shape[0]}).to(param.device).eval()
            self.__dict__["_autoencoder"] = vae
        return self.__dict__["_autoencoder"]

    @autoencoder.setter
    def autoencoder(self, vae: nn.Module | None) -> None:
        self.__dict__["_autoencoder"] = vae

    @torch.no_grad()
    def decode(self, latents: Tensor) -> Tensor:
        """Model-space samples ``(B, C, T, h, w)`` to RGB ``(B, 3, T, h·f, w·f)``: ``D(z / scaling_factor)``, at most
        ``decode_chunk`` frames at a time (a temporal decoder sees each chunk alone, as diffusers'
        ``decode_chunk_size``); a pixel-space recipe's samples are returned unchanged."""
        vae = self.autoencoder
        if vae is None:
            return latents
        param = next(vae.parameters())
        z = latents.to(param.device, param.dtype) / vae.scaling_factor
        return torch.cat([vae.decode(chunk) for chunk in z.split(self.decode_chunk, dim=2)], dim=2)

    def example_conditioning(self, batch: int = 1, *, num_frames: int | None = None, height: int | None = None,
                             width: int | None = None, generator: torch.Generator | None = None) -> dict:
        """Random conditioning of valid shapes for this preset's model (``Objective.example_conditioning``)."""
        if self.objective is None:
            return {}
        return self.objective.example_conditioning(self.model, batch, num_frames=num_frames, height=height,
                                                   width=width, generator=generator)

    def encoders(self) -> dict[str, nn.Module]:
        """The recipe's conditioning encoders (``Recipe.encoders``), registry key -> module, built once on the model's
        device: the registry's tiny config under the ``tiny`` preset, sized to the net (``context_dim``, the
        autoencoder's spatial ``factor``). Random weights unless replaced (``pipe.encoders()[key] = ...``)."""
        if "_encoders" not in self.__dict__:
            import inspect

            built = {}
            cfg = self.recipe.preset(self.preset).config if self.recipe is not None else {}
            for key, kwargs in _declared_encoders(self.recipe).values():
                if key in built:
                    continue
                entry = components.get_component(key)
                takes = inspect.signature(entry.obj).parameters
                sized = {"context_dim": cfg.get("context_dim"), "added_cond_dim": cfg.get("added_cond_dim"),
                         "factor": self.spatial_factor}
                sized = {k: v for k, v in sized.items() if k in takes and v is not None}
                tiny = dict(entry.tiny) if self.preset == "tiny" else {}
                device = next(self.model.parameters()).device
                built[key] = components.build(key, **{**tiny, **sized, **kwargs}).to(device).eval()
            self.__dict__["_encoders"] = built
        return self.__dict__["_encoders"]

    def use_parts(self, parts: dict[str, nn.Module]) -> None:
        """Put pretrained parts into the pipeline (``zoo.convert.folder.load_pretrained_folder``'s dict, less its
        ``model``): ``autoencoder``; ``text_encoder`` + ``tokenizer`` into ``conditioning/text``; ``image_encoder``
        into the CLIP tower of the image encoders."""
        device = next(self.model.parameters()).device
        if parts.get("autoencoder") is not None:
            self.autoencoder = parts["autoencoder"].to(device).eval()
        for module in self.encoders().values():
            if hasattr(module, "tokenizer") and parts.get("text_encoder") is not None:
                module.model, module.tokenizer = parts["text_encoder"].to(device).eval(), parts.get("tokenizer")
            if hasattr(module, "clip") and parts.get("image_encoder") is not None:
                module.clip = parts["image_encoder"].to(device).eval()

    @property
    def spatial_factor(self) -> int:
        """Pixels per latent pixel along H and W (1 for a pixel-space recipe)."""
        vae = self.autoencoder
        return 1 if vae is None else 2 ** (len(components.config_of(vae).get("channel_mults", (1, 2, 4, 4))) - 1)

    @torch.no_grad()
    def encode(self, *, prompt=None, image=None, video=None, batch: int = 1, num_frames: int | None = None,
               height: int | None = None, width: int | None = None, resize: bool = False,
               generator: torch.Generator | None = None, skip: tuple[str, ...] = ()) -> dict:
        """User inputs to the net's conditioning keywords through the recipe's encoders (``Recipe.encoders``).

        ``prompt``: a string or list of strings; ``image``: a PIL image, image path or ``(B, 3, H, W)`` tensor in
        [-1, 1]; ``video``: a video file path, a list of frames or ``(B, 3, T, H, W)``. Images and videos must have
        the pixel size the model samples (H·f, W·f for a latent recipe): else a ValueError naming both sizes, unless
        ``resize``. An input no encoder takes, or a missing one an encoder needs, is a ValueError naming both.
        ``skip``: keywords given as raw tensors (their encoders are not run and need no input). Each encoder runs once,
        however many keywords it feeds."""
        from components.conditioning.images import as_image, as_video, fit

        _, t, h, w = self.sample_shape
        t, h, w = num_frames or t, height or h, width or w
        size = (h * self.spatial_factor, w * self.spatial_factor)
        given = {k: v for k, v in dict(prompt=prompt, image=image, video=video).items() if v is not None}
        declared = _declared_encoders(self.recipe)
        encoders = self.encoders()
        takes = {n for module in encoders.values() for n in _user_inputs(module)}
        name = self.name or "this recipe"
        for arg in given:
            if arg not in takes:
                wanted = ", ".join(sorted(takes)) or "no user inputs (sample it unconditionally)"
                raise ValueError(f"{name} takes no {arg}: its conditioning encoders take {wanted}")
        # an encoder with ``spatial_inputs = False`` (a CLIP embedding) takes images of any size
        spatial = {n for key, m in encoders.items() for n in _user_inputs(m) if getattr(m, "spatial_inputs", True)}
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
            need = _user_inputs(module)
            missing = [n for n in need if n not in given]
            if missing:
                raise ValueError(f"{name} needs {', '.join(missing)} for its {keyword!r} conditioning ({key}); "
                                 f"got {', '.join(sorted(given)) or 'nothing'}")
            if key not in outputs:  # an encoder feeding several keywords (SVD's image) runs once
                extra = dict(num_frames=t, batch=batch, autoencoder=self.autoencoder, generator=generator)
                params = __import__("inspect").signature(module.forward).parameters
                outputs[key] = module(*(given[n] for n in need), **{k: v for k, v in extra.items() if k in params})
            cond[keyword] = outputs[key][keyword]
        return cond

    def null_condition(self, cond: dict) -> dict:
        """The unconditional branch for guidance (``Objective.null_condition``: null class, zeros, kept keywords),
        except that a keyword fed by a text encoder this pipeline has built (a prompt was encoded, or weights were
        loaded with ``use_parts``) gets that encoder's empty-prompt encoding, as SD-style pipelines do, when its
        shape matches."""
        uncond = self.objective.null_condition(cond, self.model)
        built = self.__dict__.get("_encoders", {})
        for keyword, (key, _) in _declared_encoders(self.recipe).items():
            encoder = built.get(key)
            if keyword in uncond and keyword not in self.sampling.uncond_keep and hasattr(encoder, "null"):
                empty = encoder.null(cond[keyword].shape[0])[keyword]
                if empty.shape == cond[keyword].shape:
                    uncond[keyword] = empty.to(cond[keyword])
        return uncond

    @torch.no_grad()
    def __call__(self, num_frames: int | None = None, steps: int | None = None, seed: int = 0, batch_size: int = 1,
                 *, height: int | None = None, width: int | None = None, guidance: bool | None = None,
                 generator: torch.Generator | None = None, progress: bool = False, noise: Tensor | None = None,
                 decode: bool = False, prompt=None, image=None, video=None, resize: bool = False, **cond) -> Tensor:
        """Sample ``(batch_size, C, num_frames, H, W)`` from pure noise; ``cond`` goes to the model each step.
        ``noise``: the unit-variance starting noise (default drawn from ``generator``). ``decode``: return RGB
        through the recipe's autoencoder (``decode``) instead of model-space samples. ``prompt`` / ``image`` /
        ``video``: user inputs, encoded by the recipe's encoders (``encode``); raw conditioning keywords override them.

        Guidance (if the recipe declares one) is applied when conditioning is given, unless ``guidance=False``.
        """
        c, t, h, w = self.sample_shape
        t, h, w = num_frames or t, height or h, width or w
        steps = steps or self.sampling.steps
        if batch_size < 1 or steps < 1 or t < 1:
            raise ValueError(f"pipeline: batch_size, steps and num_frames must be >= 1, got {batch_size}, {steps}, "
                             f"{t}")
        device = next(self.model.parameters()).device
        dtype = next(self.model.parameters()).dtype
        generator = generator or torch.Generator(device=device).manual_seed(seed)
        sigmas = self.objective.sigmas(steps, device)
        if noise is None:
            noise = torch.randn(batch_size, c, t, h, w, generator=generator, device=device)
        x = self.objective.start(noise, sigmas)
        if prompt is not None or image is not None or video is not None:
            cond = {**self.encode(prompt=prompt, image=image, video=video, batch=batch_size, num_frames=t, height=h,
                                  width=w, resize=resize, generator=generator, skip=tuple(cond)), **cond}
        use_guidance = self.guidance is not None and bool(cond) and guidance is not False
        if use_guidance:
            denoiser, extra = self.guidance, {**cond, "uncond": self.null_condition(cond)}
        else:
            denoiser, extra = self.denoiser, cond
        was_training = self.model.training
        self.model.eval()
        try:
            out = self.sampler(denoiser, x, sigmas, extra_args=extra, generator=generator, progress=progress)
        finally:
            self.model.train(was_training)
        return self.decode(out) if decode else out.to(dtype)

    @torch.no_grad()
    def extend(self, video: Tensor | None = None, *, new_frames: int, context_frames: int, steps: int | None = None,
               guidance: str = "reconstruction", weight: float = 9.0, window: int | None = None, seed: int = 0,
               batch_size: int = 1, generator: torch.Generator | None = None, **cond) -> Tensor:
        """``video`` ``(B, C, T, H, W)`` (model space) extended by ``new_frames`` frames, ``window − context_frames``
        per sampler run (``components.diffusion.extend_video``: reconstruction or replacement guidance on the last
        ``context_frames`` frames), with this pipeline's denoiser, sampler and σ grid; ``window`` frames per run (default
        the preset's frame count). ``video=None`` samples the first window from noise first, through ``__call__`` (the one way from
        noise). ``cond`` goes to the model at every call."""
        from components.diffusion.extension import extend_video

        device = next(self.model.parameters()).device
        generator = generator or torch.Generator(device=device).manual_seed(seed)
        window = window or self.sample_shape[1]
        if video is None:
            video = self(num_frames=window, steps=steps, batch_size=batch_size, generator=generator, guidance=False,
                         **cond)
        sigmas = self.objective.sigmas(steps, device)
        was_training = self.model.training
        self.model.eval()
        try:
            return extend_video(self.denoiser, video.to(device), new_frames=new_frames, context_frames=context_frames,
                                window=window, sampler=self.sampler, sigmas=sigmas, guidance=guidance,
                                weight=weight, generator=generator, extra_args=cond)
        finally:
            self.model.train(was_training)

def _declared_encoders(recipe: Recipe | None) -> dict[str, tuple[str, dict]]:
    """``Recipe.encoders`` normalised to keyword -> (registry key, constructor keywords)."""
    if recipe is None:
        return {}
    return {kw: (v, {}) if isinstance(v, str) else (v[0], dict(v[1])) for kw, v in recipe.encoders.items()}


def _user_inputs(module: nn.Module) -> tuple[str, ...]:
    """The user inputs an encoder's ``forward`` takes (its positional parameters among prompt / image / video)."""
    import inspect

    return tuple(n for n in inspect.signature(module.forward).parameters if n in ("prompt", "image", "video"))
