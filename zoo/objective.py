"""One object for a recipe preset's diffusion interface, shared by training and sampling: ``Objective``.

    objective = Objective.from_recipe(recipe, "tiny", model)
    loss = objective.loss(model, x0, t, noise, cond)         # training (zoo.train.Trainer)
    denoiser = objective.denoiser(model)                     # sampling (zoo.pipeline.Pipeline)

It is built once from ``Recipe.sampling_for(preset)`` and the preset, and owns everything both paths must agree on:

- the **network adapter**: a learned-Σ head (``out_channels = 2C``: the first C channels are the ε / v / x0 output,
  DiT's ``[:, :C]``), conditioning latents appended to x (``Preset.x_cond_channels``, SVD's 4 + 4);
- the **time convention**: what the network is conditioned on at a noise level — t ∈ [0, 1] (continuous), the
  training-step index i ∈ [0, N − 1] of a DDPM table (discrete; training draws integer i, DDPM's t ∼ U{0..N−1}), or
  EDM's c_noise(σ) for a preconditioned network;
- the **schedule**, the one **parameterization** (ε / v / x0 / flow on z = α x + σ ε) or **preconditioning**
  (``Preconditioning``: EDM, SVD's v-with-EDM-c_noise, on x = x0 + σ n) and the **loss weighting**
  (``Sampling.loss_weighting``: a ``weighting/*`` key, None = unweighted MSE of the network's target);
- the **null condition** of classifier-free guidance and the matching **conditioning dropout** in training.

The loss: L = E_t E_ε [w(λ_t) ‖F_θ(z_t, time(t)) − target‖²], plus for a learned Σ DiT's L_vlb on the variance
channels (``components.diffusion.learned_variance``: L_hybrid = L_simple + L_vlb). For a preconditioned network
``target`` = (x0 − c_skip x)/c_out, whose unweighted MSE is exactly EDM's λ(σ)-weighted denoising loss
λ(σ)‖D(x; σ) − x0‖² with λ = 1/c_out² (Karras et al. 2022, eq. 8 and Table 1).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import components
from components.diffusion.learned_variance import learned_variance_vlb
from components.diffusion.preconditioning import Preconditioning
from components.diffusion.rectified_flow import RectifiedFlowSchedule

from .plan import Plan
from .recipe import Recipe, Sampling, Stage, network_config
from .stages import augment, stage_condition, stage_input, stage_of


__all__ = ["Objective"]


def _strip(key: str, kind: str) -> str:
    return key.split("/", 1)[1] if key.startswith(f"{kind}/") else key


class _Network:
    """The recipe's network as the diffusion math sees it: ``(z, time, **cond) -> output``.

    ``concat``: the ``x_cond_channels`` conditioning latents appended to z (``(B, x_cond, T, H, W)``, required when
    the preset has them); ``mean_only``: a learned-Σ network's first ``channels`` output channels.

    The sampler's step context arrives here (``takes_step``; the denoiser adapter forwards it): with a step cache set
    for a pipeline call (``cache``, components/caches) each evaluation is ``cache(model, z, time, step=, **cond)``.
    ``calls`` counts the evaluations asked for (the pipeline's ``last_run_stats``)."""

    takes_step = True

    def __init__(self, model, channels: int, x_cond_channels: int, learned_sigma: bool, mean_only: bool) -> None:
        self.model, self.channels, self.x_cond = model, channels, x_cond_channels
        self.split = learned_sigma and mean_only
        self.cache, self.calls = None, 0

    def __call__(self, z: Tensor, time: Tensor, step=None, **cond) -> Tensor:
        # the network runs in its own dtype (a bf16 / fp16 pipeline); the diffusion math around it stays fp32
        dtype = next(self.model.parameters()).dtype
        z = z.to(dtype)
        cond = {k: v.to(dtype) if isinstance(v, Tensor) and v.is_floating_point() else v for k, v in cond.items()}
        if self.x_cond:
            concat = cond.pop("concat", None)
            expected = (z.shape[0], self.x_cond, *z.shape[2:])
            if concat is None or tuple(concat.shape) != expected:
                got = None if concat is None else tuple(concat.shape)
                raise ValueError(f"pipeline: this model's x ends with {self.x_cond} conditioning channels; pass them "
                                 f"as concat of shape (B, {self.x_cond}, T, H, W) = {expected}, got {got}")
            z = torch.cat([z, concat.to(z.dtype)], dim=1)
        self.calls += 1
        if self.cache is not None:
            out = self.cache(self.model, z, time, step=step, **cond)
        else:
            out = self.model(z, time, **cond)
        return out[:, : self.channels] if self.split else out


class Objective:
    """A recipe preset's diffusion interface (see the module docstring); ``from_recipe`` builds it."""

    def __init__(self, recipe: Recipe, preset: str, *, learned_sigma: bool = False,
                 sampling: Sampling | None = None, stage: Stage | None = None) -> None:
        self.recipe, self.preset = recipe, preset
        self.sampling = s = sampling if sampling is not None else recipe.sampling_for(preset)
        p = recipe.preset(preset)
        self.channels, self.x_cond_channels, self.learned_sigma = p.channels, p.x_cond_channels, learned_sigma
        self.schedule = components.build(s.schedule, **dict(s.schedule_kwargs))
        self.prediction = components.build(s.parameterization)
        self.preconditioned = isinstance(self.prediction, Preconditioning)
        self.discrete = s.time_input == "discrete"
        if self.discrete and (self.preconditioned or self.schedule.continuous):
            raise ValueError(f"recipe {recipe.name!r}: time_input='discrete' needs a DDPM-table schedule "
                             f"(schedule/linear, schedule/scaled_linear) and a parameterization, got "
                             f"{s.schedule} with {s.parameterization}")
        # a learned Σ is trained by the DDPM bound's term on a discrete table; on a continuous path (Open-Sora's
        # rectified flow with ``pred_sigma``) the variance channels are output but no loss reaches them, as there
        self.variance_bound = learned_sigma and self.discrete
        if getattr(self.prediction, "name", None) == "flow" and not isinstance(self.schedule, RectifiedFlowSchedule):
            raise ValueError(f"recipe {recipe.name!r}: parameterization/flow needs schedule/rectified_flow "
                             f"(α + σ = 1), got {s.schedule}")
        self.timesteps = components.build(s.train_timesteps, **dict(s.train_timesteps_kwargs))
        self.weighting = (components.build(s.loss_weighting, **dict(s.loss_weighting_kwargs))
                          if s.loss_weighting else None)
        weighted = getattr(self.weighting, "target", None)
        if weighted is not None and not self.preconditioned and weighted != self.prediction.name:
            raise ValueError(f"recipe {recipe.name!r}: loss weighting {s.loss_weighting} with target {weighted!r} "
                             f"does not fit parameterization {s.parameterization} (target "
                             f"{self.prediction.name!r}); name the weighting by its x0-space form instead")
        self.stage = stage if stage is not None else stage_of(recipe)
        # the denoiser adapter (VP / EDM / flow) without a network: the one time convention and training target
        self.adapter = self._adapter(None)

    @classmethod
    def from_recipe(cls, recipe: Recipe, preset: str, model: nn.Module | None = None) -> Objective:
        """The objective of ``recipe`` at ``preset`` with its own sampling defaults; ``model`` tells whether its net
        learns Σ (``out_channels``)."""
        from .plan import resolve

        return cls.from_plan(resolve(recipe, preset), model)

    @classmethod
    def from_plan(cls, plan: Plan, model: nn.Module | None = None) -> Objective:
        """The objective of a resolved ``Plan`` (``zoo.resolve``): its recipe, preset and sampling settings."""
        channels = plan.spec.channels
        learned = model is not None and getattr(model, "out_channels", channels) == 2 * channels
        return cls(plan.recipe, plan.preset, learned_sigma=learned, sampling=plan.sampling, stage=plan.stage)

    # ------------------------------------------------------------------------------------------ sampling
    def network(self, model, *, mean_only: bool = True) -> _Network:
        """``model`` as ``(z, time, **cond) -> prediction`` (learned-Σ head split unless ``mean_only=False``)."""
        return _Network(model, self.channels, self.x_cond_channels, self.learned_sigma, mean_only)

    def denoiser(self, model):
        """The VE denoiser D(x, σ, **cond) of ``model``: ``denoiser/edm`` for a preconditioned net, else
        ``denoiser/vp`` with this schedule, parameterization and time convention (``adapter``, bound to the net)."""
        return self._adapter(self.network(model))

    def _adapter(self, net):
        if self.preconditioned:
            return components.build("denoiser/edm", model=net, preconditioning=self.prediction)
        return components.build("denoiser/vp", model=net, schedule=self.schedule,
                                parameterization=self.prediction.name,
                                model_time="timestep" if self.discrete else "t")

    def guidance(self, denoiser):
        """The recipe's guidance around ``denoiser`` (None when it declares none)."""
        s = self.sampling
        return components.build(s.guidance, denoiser=denoiser, **dict(s.guidance_kwargs)) if s.guidance else None

    def sampler(self):
        return components.build(self.sampling.sampler, **dict(self.sampling.sampler_kwargs))

    def sigmas(self, steps: int | None = None, device=None) -> Tensor:
        """The sampling grid σ_0 > … > σ_N (VE) of ``steps`` levels (default the recipe's), at the recipe's time
        spacing (``Sampling.spacing``)."""
        return self.schedule.sigmas(int(steps or self.sampling.steps), self.sampling.spacing).to(device)

    @staticmethod
    def start(noise: Tensor, sigmas: Tensor) -> Tensor:
        """The sampler's first state from unit-variance ``noise``: x = σ_0 ε (VE; every path that samples from
        noise — ``Pipeline``, the cascade's stages, ``extend`` — starts here)."""
        return noise.to(sigmas.device) * sigmas[0]

    # ------------------------------------------------------------------------------------------ conditioning
    def null_condition(self, cond: Mapping, model: nn.Module) -> dict:
        """The unconditional branch for guidance: the null class label for ``class_labels``, zeros otherwise;
        keywords in ``sampling.uncond_keep`` are passed unchanged (SVD keeps its micro-conditioning)."""
        uncond = {}
        for key, value in cond.items():
            if key in self.sampling.uncond_keep:
                uncond[key] = value
            elif key == "class_labels":
                null = getattr(getattr(model, "embed", None), "num_classes", None)
                if null is None:
                    raise ValueError("guidance on class_labels needs a model with a null class (class_dropout_prob)")
                uncond[key] = torch.full_like(value, null)
            elif isinstance(value, Tensor):
                uncond[key] = torch.zeros_like(value)
        return uncond

    def drop_condition(self, cond: Mapping, model: nn.Module, p: float, generator: torch.Generator | None = None
                       ) -> dict:
        """Conditioning dropout for guidance training: each sample's conditioning is replaced by the null condition
        (``null_condition``) with probability ``p``, one Bernoulli draw ``(B,)`` from ``generator``. Class labels
        are left to a net that drops them itself (``class_dropout_prob``, DiT's ``LabelEmbedder``)."""
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"cond_drop must be in [0, 1], got {p}")
        if not cond or p == 0.0:
            return dict(cond)
        batch = next(v.shape[0] for v in cond.values() if isinstance(v, Tensor))
        drop = torch.rand(batch, generator=generator) < p
        self_dropping = getattr(getattr(model, "embed", None), "class_dropout_prob", 0.0) > 0
        uncond = self.null_condition(cond, model)
        out = {}
        for key, value in cond.items():
            if not isinstance(value, Tensor) or key in self.sampling.uncond_keep or (
                    key == "class_labels" and self_dropping):
                out[key] = value
                continue
            mask = drop.to(value.device).view(-1, *[1] * (value.ndim - 1))
            out[key] = torch.where(mask, uncond[key], value)
        return out

    def example_conditioning(self, model: nn.Module, batch: int = 1, *, num_frames: int | None = None,
                             height: int | None = None, width: int | None = None,
                             generator: torch.Generator | None = None, device=None) -> dict:
        """Random conditioning of valid shapes for this preset's model, every keyword the net is built to take among
        the recipe's conditioning keywords (``Recipe.conditioning``):
        ``context`` ``(B, 4, context_dim)``, ``added_cond`` ``(B, added_cond_dim)``, ``class_labels`` ``(B,)``,
        ``concat`` ``(B, channels, T, H, W)`` (x conditioning channels included), ``control`` ``(B, 3, T, f·H, f·W)``
        (f = 2^(len(control_embedding_channels) − 1), ControlNet's map-to-latent factor). For tests, smoke runs and
        training recipes whose data carries no conditioning. On ``device`` (default the model's)."""
        p = self.recipe.preset(self.preset)
        cfg = network_config(p.config)
        _, t, h, w = p.sample_shape
        t, h, w = num_frames or t, height or h, width or w
        device = device or next(model.parameters()).device
        generator = generator or torch.Generator().manual_seed(0)

        def randn(*shape):
            return torch.randn(*shape, generator=generator).to(device)

        cond = {}
        if cfg.get("context_dim"):
            cond["context"] = randn(batch, 4, cfg["context_dim"])
        if cfg.get("added_cond_dim"):
            cond["added_cond"] = randn(batch, cfg["added_cond_dim"])
        if cfg.get("image_context_dim"):  # CLIP image tokens (Wan I2V: 257; any count the net takes)
            cond["image_context"] = randn(batch, cfg.get("image_pos_embed_len") or 4, cfg["image_context_dim"])
        if cfg.get("num_classes"):
            cond["class_labels"] = torch.randint(0, cfg["num_classes"], (batch,), generator=generator).to(device)
        concat = (cfg.get("concat_channels") or 0) + p.x_cond_channels
        if concat:
            cond["concat"] = randn(batch, concat, t, h, w)
        if "control" in self.recipe.conditioning:
            f = 2 ** (len(cfg.get("control_embedding_channels", (16, 32, 96, 256))) - 1)
            cond["control"] = randn(batch, cfg.get("control_channels", 3), t, f * h, f * w)
        return {k: v for k, v in cond.items() if k in self.recipe.conditioning}

    def training_conditioning(self, model: nn.Module, x0: Tensor, generator: torch.Generator | None = None,
                              device=None) -> dict:
        """Conditioning for a training batch ``x0`` when the data carries none: a cascade stage gets the clip
        brought down to the previous stage's size and back up (``stage_input`` / ``stage_condition``, noise-augmented
        as when sampling), every other keyword the net takes random (``example_conditioning``)."""
        b, _, t, h, w = x0.shape
        cond = self.example_conditioning(model, b, num_frames=t, height=h, width=w, generator=generator,
                                         device=device or x0.device)
        if self.stage is not None:
            concat = stage_condition(self.stage, stage_input(self.stage, x0))
            concat, level = augment(self.stage, concat, self.schedule, generator)
            cond["concat"] = concat.to(x0.device)
            if level is not None:
                cond["added_cond"] = level.to(x0.device)
        return cond

    # ------------------------------------------------------------------------------------------ training
    def training_times(self, batch: int, generator: torch.Generator | None = None) -> Tensor:
        """``(batch,)`` training times t ∈ [0, 1] from ``Sampling.train_timesteps``; on a discrete schedule rounded
        to the table's steps i/(N − 1) (the network is trained on the integer indices it is sampled at)."""
        t = self.timesteps(batch, generator=generator)
        if self.discrete:
            n = self.schedule.num_train_timesteps - 1
            t = torch.round(t * n) / n
        return t

    def loss(self, model, x0: Tensor, t: Tensor, noise: Tensor, cond: Mapping | None = None, *,
             amp: bool = False) -> Tensor:
        """The recipe's training loss (a 0-d fp32 tensor) on clean ``x0`` ``(B, C, T, H, W)`` at training times ``t``
        ``(B,)`` with unit noise ``noise`` (``x0``'s shape); ``amp``: the network runs under bf16 autocast."""
        cond = dict(cond or {})
        net = self.network(model, mean_only=False)
        # the adapter sampling uses gives the network's input, time and target (one time convention, one target)
        if self.preconditioned:
            sigma = self.schedule.to_sigma(t).to(x0.device)
            x, time, target, c_out = self.adapter.training_inputs(x0, sigma, noise)
        else:
            x, time, target = self.adapter.training_inputs(x0, t, noise)
        with torch.autocast(x0.device.type, dtype=torch.bfloat16, enabled=amp):
            out = net(x, time, **cond)
        out = out.float()
        mean_out = out[:, : self.channels]
        if self.preconditioned:
            weight = None if self.weighting is None else self.weighting(-2 * torch.log(sigma)) * c_out.square()
        else:
            weight = (None if self.weighting is None else
                      self.weighting.for_target(self.schedule.log_snr(t), self.prediction.name))
        if weight is None:
            loss = F.mse_loss(mean_out, target.float())
        else:
            per_sample = (mean_out - target.float()).square().flatten(1).mean(1)
            loss = (weight.float().to(per_sample.device) * per_sample).mean()
        if self.variance_bound:
            if self.prediction.name != "eps":
                raise ValueError(f"recipe {self.recipe.name!r}: a learned Σ is trained with ε-prediction (improved "
                                 f"DDPM / DiT), got {self.sampling.parameterization}")
            vlb = learned_variance_vlb(self.schedule.alphas_cumprod, time, x0.float(), x.float(),
                                       mean_out, out[:, self.channels:])
            loss = loss + vlb.mean()
        return loss

