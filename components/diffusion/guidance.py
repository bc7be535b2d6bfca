"""Classifier-free guidance as denoiser wrappers: constant (two forms), per-frame ramp (SVD), oscillating (Imagen Video).

A guided denoiser has the denoiser contract, ``G(x, sigma, *, uncond=None, **cond) -> x0``: it evaluates the
conditional and unconditional branches in one batched call of the wrapped denoiser (inputs concatenated along the
batch, conditional first) and combines the two x0 predictions. Guidance on x0 equals guidance on ε or v at the same
level (each is affine in the other with the same coefficients for both branches). ``uncond`` gives the
unconditional value of each conditioning keyword; a keyword missing from it is zeroed (VDM / SVD drop conditioning
by zeroing it). The wrapped denoiser is not part of the config: ``build(config, denoiser=D)`` rebinds one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..registry import BadInput, register
from ._common import expand_to
from .step import Step, call_denoiser


__all__ = ["ClassifierFreeGuidance", "NoiseLevelGuidance", "OscillatingGuidance", "PerFrameGuidance", "cfg",
           "cfg_by_noise_level", "cfg_per_frame", "oscillating"]

FORMS = ("scale", "one_plus_w")


class _Guided:
    key = ""
    takes_step = True  # forwarded to the wrapped denoiser (``step.call_denoiser``); oscillating reads its index

    def __init__(self, denoiser: Callable | None) -> None:
        self.denoiser = denoiser

    def branches(self, x: Tensor, sigma, uncond: dict | None, cond: dict, denoiser, step: Step | None = None
                 ) -> tuple[Tensor, Tensor]:
        """(x0 conditional, x0 unconditional) from one call on the doubled batch."""
        net = denoiser if denoiser is not None else self.denoiser
        if net is None:
            raise ValueError(f"{self.key}: no denoiser bound; build('{self.key}', denoiser=D, ...) or pass denoiser=")
        uncond = dict(uncond or {})
        unknown = sorted(set(uncond) - set(cond))
        if unknown:
            raise ValueError(f"{self.key}: uncond has keys {unknown} that the conditional call lacks "
                             f"(conditioning keys: {sorted(cond)})")
        batched = {}
        for k, v in cond.items():
            if isinstance(v, Tensor):
                u = uncond.get(k, torch.zeros_like(v))
                if u.shape != v.shape:
                    raise ValueError(f"{self.key}: uncond[{k!r}] must have the shape of {k} {tuple(v.shape)}, got "
                                     f"{tuple(u.shape)}")
                batched[k] = torch.cat([v, u.to(v.dtype)])
            else:
                batched[k] = v
        sigma = torch.as_tensor(sigma, device=x.device)
        sigma2 = torch.cat([sigma.expand(x.shape[0]), sigma.expand(x.shape[0])]) if sigma.ndim <= 1 else \
            torch.cat([sigma, sigma])
        out = call_denoiser(net, torch.cat([x, x]), sigma2, step, **batched)
        return out.chunk(2)

    def combine(self, x0_cond: Tensor, x0_uncond: Tensor, scale) -> Tensor:
        """x̃ = x_u + s (x_c − x_u), computed in fp32."""
        c, u = x0_cond.float() if x0_cond.dtype != torch.float64 else x0_cond, x0_uncond.to(x0_cond.dtype)
        u = u.to(c.dtype)
        return torch.lerp(u, c, expand_to(torch.as_tensor(scale, dtype=c.dtype), c, "scale"))


def _toy_denoiser(x: Tensor, sigma: Tensor, context: Tensor | None = None) -> Tensor:
    """A stand-in conditional denoiser: x/(1 + σ²) plus the mean of ``context`` (B, K) per sample."""
    s = sigma.reshape(-1, *([1] * (x.ndim - 1))).to(x.dtype)
    out = x / (1 + s.square())
    if context is not None:
        out = out + context.mean(-1).reshape(-1, *([1] * (x.ndim - 1))).to(x.dtype)
    return out


def _inputs(cfg, batch=2, generator=None):
    x = torch.randn(batch, 3, 4, 2, 2, generator=generator) * 2
    sigma = torch.rand(batch, generator=generator) + 0.2
    return (x, sigma), {"context": torch.randn(batch, 5, generator=generator)}


def _stepped_inputs(cfg, batch=2, generator=None):
    """``_inputs`` with the step context a sampler passes (step 3 of 10)."""
    args, kwargs = _inputs(cfg, batch, generator)
    return args, {**kwargs, "step": Step(index=3, num_steps=10)}


_BAD_UNCOND = BadInput(match="uncond has keys", inputs=lambda cfg: ((torch.zeros(2, 3, 4, 2, 2), torch.ones(2)),
                                                                    {"uncond": {"text": torch.zeros(2, 5)}}))


class ClassifierFreeGuidance(_Guided):
    key = "guidance/cfg"

    def __init__(self, denoiser, scale: float, form: str) -> None:
        super().__init__(denoiser)
        if form not in FORMS:
            raise ValueError(f"guidance/cfg: form must be one of {FORMS}, got {form!r}")
        self.scale, self.form = float(scale), form
        # (1 + w) x_c − w x_u is the scale form with s = 1 + w
        self.effective_scale = self.scale + 1 if form == "one_plus_w" else self.scale

    def __call__(self, x: Tensor, sigma, *, uncond: dict | None = None, denoiser=None, step: Step | None = None,
                 **cond) -> Tensor:
        c, u = self.branches(x, sigma, uncond, cond, denoiser, step)
        return self.combine(c, u, self.effective_scale)

    def at_scale(self, guidance_scale: float) -> ClassifierFreeGuidance:
        """The same guidance at diffusers' ``guidance_scale`` s (x_u + s (x_c − x_u)): ``scale = s`` in the scale
        form, ``w = s − 1`` in the (1 + w) form."""
        s = float(guidance_scale)
        return cfg(self.denoiser, scale=s if self.form == "scale" else s - 1, form=self.form)


@register("guidance", "cfg", paper="Ho & Salimans 2021 (CFG); VDM / Imagen Video (1+w) form",
          tiny={"denoiser": _toy_denoiser, "scale": 2.0}, inputs=_inputs,
          bad_inputs=[BadInput(match="form must be one of", init={"form": "w"}), _BAD_UNCOND])
def cfg(denoiser: Callable | None = None, scale: float = 7.5, form: str = "scale") -> ClassifierFreeGuidance:
    """Constant classifier-free guidance: ``form="scale"`` x̃ = x_u + s (x_c − x_u) (SD / sgm);
    ``form="one_plus_w"`` x̃ = (1 + w) x_c − w x_u with w = ``scale`` (VDM, Imagen Video).

    x ``(B, ...)``, sigma scalar or ``(B,)`` -> x0 of x's shape; one wrapped call on a batch of 2B.
    """
    g = ClassifierFreeGuidance(denoiser, scale, form)
    g._component_config = {"type": "guidance/cfg", "scale": g.scale, "form": form}
    return g


class NoiseLevelGuidance(ClassifierFreeGuidance):
    key = "guidance/cfg_by_noise_level"

    def __init__(self, denoiser, high_noise_scale: float, low_noise_scale: float, boundary_sigma: float) -> None:
        super().__init__(denoiser, high_noise_scale, "scale")
        if not float(boundary_sigma) > 0:
            raise ValueError(f"guidance/cfg_by_noise_level: boundary_sigma must be > 0, got {boundary_sigma}")
        self.high_noise_scale, self.low_noise_scale = float(high_noise_scale), float(low_noise_scale)
        self.boundary_sigma = float(boundary_sigma)

    def __call__(self, x: Tensor, sigma, *, uncond: dict | None = None, denoiser=None, step: Step | None = None,
                 **cond) -> Tensor:
        c, u = self.branches(x, sigma, uncond, cond, denoiser, step)
        level = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1)
        if level.numel() > 1 and not bool((level == level[0]).all()):
            scale = torch.where(level >= self.boundary_sigma, self.high_noise_scale, self.low_noise_scale)
            return self.combine(c, u, expand_to(scale.to(c.dtype).to(c.device), c))
        high = float(level[0]) >= self.boundary_sigma
        return self.combine(c, u, self.high_noise_scale if high else self.low_noise_scale)

    def at_scale(self, guidance_scale: float) -> NoiseLevelGuidance:
        """diffusers' single ``guidance_scale`` s: both ranges at s (``WanPipeline``: ``guidance_scale_2`` defaults to
        ``guidance_scale``)."""
        s = float(guidance_scale)
        return cfg_by_noise_level(self.denoiser, high_noise_scale=s, low_noise_scale=s,
                                  boundary_sigma=self.boundary_sigma)


@register("guidance", "cfg_by_noise_level",
          paper="Wan Team 2025 (Wan 2.2 A14B: one guidance scale per expert's noise range)",
          tiny={"denoiser": _toy_denoiser, "high_noise_scale": 4.0, "low_noise_scale": 3.0, "boundary_sigma": 1.0},
          inputs=_inputs,
          bad_inputs=[BadInput(match="boundary_sigma must be > 0", init={"boundary_sigma": 0.0}), _BAD_UNCOND])
def cfg_by_noise_level(denoiser: Callable | None = None, high_noise_scale: float = 4.0, low_noise_scale: float = 3.0,
                       boundary_sigma: float = 7.0) -> NoiseLevelGuidance:
    """Classifier-free guidance x̃ = x_u + s (x_c − x_u) with s = ``high_noise_scale`` at levels σ ≥ ``boundary_sigma``
    and ``low_noise_scale`` below (Wan 2.2 A14B: 4.0 / 3.0 for T2V, 3.5 / 3.5 for I2V, the boundary the experts'
    [V-code: Wan-Video/Wan2.2 wan/text2video.py: ``guide_scale[1] if t >= boundary else guide_scale[0]``]).
    ``boundary_sigma`` is in the sampler's (VE) σ: a flow boundary time b is σ = b / (1 − b) (0.875 -> 7).

    x ``(B, ...)``, sigma scalar or ``(B,)`` -> x0 of x's shape; one wrapped call on a batch of 2B.
    """
    g = NoiseLevelGuidance(denoiser, high_noise_scale, low_noise_scale, boundary_sigma)
    g._component_config = {"type": "guidance/cfg_by_noise_level", "high_noise_scale": g.high_noise_scale,
                           "low_noise_scale": g.low_noise_scale, "boundary_sigma": g.boundary_sigma}
    return g


class PerFrameGuidance(_Guided):
    key = "guidance/cfg_per_frame"

    def __init__(self, denoiser, min_scale: float, max_scale: float) -> None:
        super().__init__(denoiser)
        self.min_scale, self.max_scale = float(min_scale), float(max_scale)

    def at_scale(self, guidance_scale: float) -> PerFrameGuidance:
        """The same ramp up to diffusers' ``guidance_scale`` (SVD's ``max_guidance_scale``); the first frame keeps
        ``min_scale`` (or s, if lower)."""
        s = float(guidance_scale)
        return cfg_per_frame(self.denoiser, min_scale=min(self.min_scale, s), max_scale=s)

    def scales(self, frames: int, device=None) -> Tensor:
        """The per-frame scales linspace(min, max, T), first frame lowest (SVD's LinearPredictionGuider)."""
        return torch.linspace(self.min_scale, self.max_scale, frames, device=device)

    def __call__(self, x: Tensor, sigma, *, uncond: dict | None = None, denoiser=None, step: Step | None = None,
                 **cond) -> Tensor:
        if x.ndim != 5:
            raise ValueError(f"guidance/cfg_per_frame: x must be a 5-D video B C T H W, got {x.ndim}-D shape "
                             f"{tuple(x.shape)}")
        c, u = self.branches(x, sigma, uncond, cond, denoiser, step)
        return self.combine(c, u, self.scales(x.shape[2], x.device).reshape(1, 1, -1, 1, 1))


@register("guidance", "cfg_per_frame", paper="Blattmann et al. 2023 (SVD), LinearPredictionGuider",
          tiny={"denoiser": _toy_denoiser, "min_scale": 1.0, "max_scale": 2.5}, inputs=_inputs,
          bad_inputs=[BadInput(match="5-D video", inputs=lambda cfg: ((torch.zeros(2, 3, 4, 4), torch.ones(2)), {})),
                      _BAD_UNCOND])
def cfg_per_frame(denoiser: Callable | None = None, min_scale: float = 1.0, max_scale: float = 2.5) -> PerFrameGuidance:
    """SVD's per-frame guidance: frame f of a ``B C T H W`` sample gets scale linspace(min, max, T)[f].

    svd: 1.0 → 2.5 (14 frames); svd_xt: 1.5 → 3.0 (docs/papers.md §10.2). Scale form: x̃ = x_u + s_f (x_c − x_u).
    """
    g = PerFrameGuidance(denoiser, min_scale, max_scale)
    g._component_config = {"type": "guidance/cfg_per_frame", "min_scale": g.min_scale, "max_scale": g.max_scale}
    return g


class OscillatingGuidance(_Guided):
    key = "guidance/oscillating"

    def __init__(self, denoiser, high: float, low: float, warmup_steps: int) -> None:
        super().__init__(denoiser)
        if int(warmup_steps) < 0:
            raise ValueError(f"guidance/oscillating: warmup_steps must be >= 0, got {warmup_steps}")
        self.high, self.low, self.warmup_steps = float(high), float(low), int(warmup_steps)

    def at_scale(self, guidance_scale: float) -> OscillatingGuidance:
        """The same oscillation with its high weight at diffusers' ``guidance_scale`` s = 1 + w_high."""
        return oscillating(self.denoiser, high=float(guidance_scale) - 1, low=self.low,
                           warmup_steps=self.warmup_steps)

    def weight_at(self, step: int) -> float:
        """w at sampler step ``step``: high during warm-up, then high, low, high, ..."""
        if step < self.warmup_steps or (step - self.warmup_steps) % 2 == 0:
            return self.high
        return self.low

    def __call__(self, x: Tensor, sigma, *, uncond: dict | None = None, denoiser=None, step: Step | None = None,
                 **cond) -> Tensor:
        if step is None:
            raise ValueError("guidance/oscillating: step must be the sampler's step context (a sampler passes it; "
                             "call it directly with step=components.diffusion.Step(index=i, num_steps=N)), got None")
        c, u = self.branches(x, sigma, uncond, cond, denoiser, step)
        return self.combine(c, u, 1 + self.weight_at(step.index))


@register("guidance", "oscillating", paper="Ho et al. 2022 (Imagen Video), oscillating guidance",
          tiny={"denoiser": _toy_denoiser, "high": 15.0, "low": 1.0, "warmup_steps": 8}, inputs=_stepped_inputs,
          bad_inputs=[BadInput(match="warmup_steps must be >= 0", init={"warmup_steps": -1}),
                      BadInput(match="step must be the sampler's step context", inputs=_inputs),
                      BadInput(match="uncond has keys", inputs=lambda cfg: (
                          (torch.zeros(2, 3, 4, 2, 2), torch.ones(2)),
                          {"uncond": {"text": torch.zeros(2, 5)}, "step": Step(index=0, num_steps=1)}))])
def oscillating(denoiser: Callable | None = None, high: float = 15.0, low: float = 1.0,
                warmup_steps: int = 0) -> OscillatingGuidance:
    """Imagen Video's oscillating guidance in the (1 + w) form: w = ``high`` for ``warmup_steps`` steps, then
    alternating high, low, high, ... per step (15 and 1 in the paper).

    The step is the sampler's (``step.index`` of the step context every sampler passes, ``components.diffusion.step``):
    every call within one sampler step (Heun's corrector, DPM-2's midpoint) uses that step's weight, and nothing is
    counted between calls, so a second run starts at step 0 by itself.
    """
    g = OscillatingGuidance(denoiser, high, low, warmup_steps)
    g._component_config = {"type": "guidance/oscillating", "high": g.high, "low": g.low,
                            "warmup_steps": g.warmup_steps}
    return g
