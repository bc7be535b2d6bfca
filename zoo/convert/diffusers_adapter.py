"""Call-convention adapters between diffusers' video nets (U-Nets, the Wan transformer) and ours, both ways (weights
are untouched).

* ``DiffusersUNet(ours, config)`` (or ``DiffusersUNet.from_diffusers(unet)``): our converted net speaking diffusers'
  UNet convention, so it can replace ``pipe.unet`` of a diffusers pipeline unchanged::

      pipe.unet = DiffusersUNet.from_diffusers(pipe.unet)   # StableVideoDiffusionPipeline, TextToVideoSDPipeline

  ``forward(sample, timestep, encoder_hidden_states, added_time_ids=None, return_dict=True)`` -> ``.sample``, and
  the attributes the pipelines read: ``config`` (the diffusers config, frozen), ``dtype``, ``device``,
  ``add_embedding.linear_1`` / ``time_embedding.linear_{1,2}`` (views of our ``embed.*.mlp.fc{1,2}``).
* ``DiffusersTransformer(ours, config)`` (or ``.from_diffusers(transformer)``): the same for a transformer, as
  ``pipe.transformer`` (and ``pipe.transformer_2``) of ``WanPipeline`` / ``WanImageToVideoPipeline``::

      pipe.transformer = DiffusersTransformer.from_diffusers(pipe.transformer)

  ``forward(hidden_states, timestep, encoder_hidden_states, encoder_hidden_states_image=None, return_dict=True,
  attention_kwargs=None)`` -> ``.sample``; ``config``, ``dtype``, ``device`` and ``cache_context`` (diffusers'
  ``CacheMixin`` hook the Wan pipelines enter around each call; the adapted model caches nothing).
* ``ZooModel(net)`` (``ZooUNet`` is the same class): a diffusers net speaking our convention ``model(x, t, **cond)``
  with ``x`` of shape ``(B, C, T, H, W)`` and the keywords of ``supported_cond``, so ``zoo.create_pipeline(name,
  preset, model=ZooModel(net, time_scale=...))`` drives it.

What differs per diffusers class is data (``CONVENTIONS``): the ``sample`` layout (``UNetSpatioTemporalConditionModel``,
SVD, takes ``(B, T, C, H, W)``: ``x = einops.rearrange(sample, "b t c h w -> b c t h w")`` and back for the output;
``UNet3DConditionModel`` and ``WanTransformer3DModel`` take ``(B, C, T, H, W)`` as we do), the name of that argument
(``sample`` / ``hidden_states``), the keyword pairs (``encoder_hidden_states`` (B, L, D) <-> ``context``;
``added_time_ids`` (B, 3) <-> ``added_cond``; ``encoder_hidden_states_image`` (B, 257, 1280) <-> ``image_context``)
and whether ``timestep`` may be per token (Wan 2.2 TI2V: ``(B, N)``). ``timestep`` (a scalar, ``(B,)`` or per token)
is broadcast to ``(B,)`` as diffusers does, and divided by our net's ``time_scale`` (``components.config_of``; 1 for
the converted U-Nets, which take diffusers' timesteps; a Wan recipe's 1000 makes t = σ ∈ [0, 1]); ``ZooModel``
multiplies by its ``time_scale`` argument. Diffusers-only keywords we have no mechanism for
(``cross_attention_kwargs``, ``down_block_additional_residuals``, a non-empty ``attention_kwargs``, ...) are refused
when given, never dropped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import einops
import torch
from torch import Tensor, nn

from .common import from_diffusers


__all__ = ["CONVENTIONS", "LAYOUTS", "Convention", "DiffusersModel", "DiffusersTransformer", "DiffusersUNet",
           "UNetOutput", "ZooModel", "ZooUNet"]

OURS = "b c t h w"


@dataclass(frozen=True)
class Convention:
    """How a diffusers class is called: its ``sample`` layout, the name of that argument, its conditioning keywords
    -> ours, whether its ``timestep`` may be per token ``(B, N)``, which of our keywords are in timestep units, and
    which diffusers keywords our net computes itself (accepted and ignored by ``DiffusersTransformer``)."""

    layout: str
    sample: str
    keywords: tuple[tuple[str, str], ...]
    per_token_time: bool = False
    time_like: tuple[str, ...] = ()  # our keywords in timestep units (divided by time_scale like t)
    computed: tuple[str, ...] = ()  # diffusers keywords the pipeline computes and our net computes itself (ignored)
    # a token-sequence layout (``"b (t h w) c"``): the diffusers keywords giving its (t, h, w)
    grid: tuple[str, ...] = ()
    # diffusers keywords the pipeline computes that are a convention built into our net: each must equal the adapted
    # net's attribute of that name (else refused)
    matched: tuple[str, ...] = ()


_UNET_KEYWORDS = (("encoder_hidden_states", "context"), ("added_time_ids", "added_cond"))
CONVENTIONS = {
    "UNetSpatioTemporalConditionModel": Convention("b t c h w", "sample", _UNET_KEYWORDS),
    "UNet3DConditionModel": Convention("b c t h w", "sample", _UNET_KEYWORDS),
    "WanTransformer3DModel": Convention("b c t h w", "hidden_states", (
        ("encoder_hidden_states", "context"), ("encoder_hidden_states_image", "image_context")), per_token_time=True),
    # the 5B's rotary tables (the pipeline's resize-crop rule) are recomputed by net/cogvideox_transformer
    "CogVideoXTransformer3DModel": Convention("b t c h w", "hidden_states", (("encoder_hidden_states", "context"),),
                                              computed=("image_rotary_emb",)),
    "HunyuanVideoTransformer3DModel": Convention("b c t h w", "hidden_states", (
        ("encoder_hidden_states", "context"), ("pooled_projections", "added_cond"),
        ("encoder_attention_mask", "context_mask"), ("guidance", "guidance")), time_like=("guidance",)),
    "MochiTransformer3DModel": Convention("b c t h w", "hidden_states", (
        ("encoder_hidden_states", "context"), ("encoder_attention_mask", "context_mask"))),
    # LTX-Video: latent voxels as tokens; the pipeline's frame-rate RoPE scale must be the net's frame_rate
    "LTXVideoTransformer3DModel": Convention("b (t h w) c", "hidden_states", (
        ("encoder_hidden_states", "context"), ("encoder_attention_mask", "context_mask")),
        grid=("num_frames", "height", "width"), matched=("rope_interpolation_scale",)),
}
LAYOUTS = {name: c.layout for name, c in CONVENTIONS.items()}  # diffusers class -> its ``sample`` layout


@dataclass
class UNetOutput:
    """diffusers' ``UNet*OutputModel`` shape: ``.sample``, and ``[0]`` (the ``return_dict=False`` tuple's item)."""

    sample: Tensor

    def __getitem__(self, index: int) -> Tensor:
        return (self.sample,)[index]


class FrozenConfig(dict):
    """A read-only dict with attribute access (diffusers' ``FrozenDict`` behaviour: ``config.in_channels``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no field {name!r}") from None

    def _refuse(self, *args, **kwargs):
        raise TypeError("the adapter's config is frozen (it describes the converted diffusers model)")

    __setitem__ = __delitem__ = update = pop = setdefault = clear = popitem = _refuse


def _convention(class_name: str | None, allowed=CONVENTIONS) -> Convention:
    if class_name not in allowed:
        raise ValueError(f"class_name must be one of {sorted(allowed)}, got {class_name!r}")
    return allowed[class_name]


def _timesteps(timestep, batch: int, device: torch.device, per_token: bool = False) -> Tensor:
    """diffusers' broadcast: a number or a 0-d / (B,) tensor -> (B,); with ``per_token``, a (B, N) tensor is kept
    (one row of equal times -> (B,))."""
    t = timestep if isinstance(timestep, Tensor) else torch.tensor(timestep, device=device)
    if t.ndim == 0:
        t = t[None]
    if per_token and t.ndim == 2 and t.shape[0] in (1, batch):
        t = t.to(device).expand(batch, -1)
        return t[:, 0] if bool((t == t[:, :1]).all()) else t  # Wan 2.2 T2V: every token at one time
    if t.ndim != 1 or t.shape[0] not in (1, batch):
        shapes = f"() or ({batch},)" + (f" or ({batch}, N)" if per_token else "")
        raise ValueError(f"timestep must be a number or a tensor of shape {shapes}, got {tuple(t.shape)}")
    return t.to(device).expand(batch)


def _time_scale(model: nn.Module) -> float:
    """Our net's ``time_scale`` (what multiplies its ``t`` into diffusers' timestep); 1 when it records none."""
    import components

    try:
        return float(components.config_of(model).get("time_scale", 1.0))
    except (TypeError, ValueError):  # not registry-built
        return 1.0


def _flow_time(model: nn.Module) -> bool:
    """Whether our net takes flow time σ and returns ε − x0 where diffusers' takes ``time_scale·(1 − σ)`` and returns
    x0 − ε (``net/mochi_transformer``'s ``flow_time``)."""
    import components

    try:
        return bool(components.config_of(model).get("flow_time", False))
    except (TypeError, ValueError):
        return False


def _refuse_extras(where: str, extras: dict) -> None:
    given = sorted(k for k, v in extras.items() if v is not None)
    if given:
        raise ValueError(f"{where}: keywords {given} have no equivalent in the adapted model; pass None or leave them "
                         "out")


class DiffusersModel(nn.Module):
    """Our converted video net ``model(x (B C T H W), t, **cond)`` in a diffusers class's convention (the shared
    mechanism of ``DiffusersUNet`` and ``DiffusersTransformer``; ``CONVENTIONS``).

    ``config``: the diffusers model's config (its ``_class_name`` field, or the ``class_name`` argument, selects the
    convention); it is copied and frozen.
    """

    classes: tuple[str, ...] = tuple(CONVENTIONS)  # the diffusers classes a subclass stands in for

    def __init__(self, model: nn.Module, config: Mapping, *, class_name: str | None = None) -> None:
        super().__init__()
        class_name = class_name or config.get("_class_name")
        self.convention = _convention(class_name, {k: CONVENTIONS[k] for k in self.classes if k in CONVENTIONS})
        self.layout = self.convention.layout
        self.model = model
        self.time_scale, self.flow_time = _time_scale(model), _flow_time(model)
        self.config = FrozenConfig({**dict(config), "_class_name": class_name})

    @classmethod
    def from_diffusers(cls, net: nn.Module):
        """Convert ``net`` through ``zoo.from_diffusers`` and adapt the result (same device, dtype, eval mode)."""
        return cls(from_diffusers(net), net.config, class_name=type(net).__name__)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _run(self, sample: Tensor, timestep, keywords: dict, return_dict: bool) -> UNetOutput | tuple:
        """The call: ``sample`` in the class's layout, diffusers' keywords; the prediction in the same layout."""
        grid = dict(zip("thw", (keywords.get(k) for k in self.convention.grid)))
        if sample.ndim != (3 if grid else 5) or None in grid.values():
            raise ValueError(f"{self.convention.sample} must be {3 if grid else 5}-D ({self.layout})"
                             + (f" with {', '.join(self.convention.grid)} given" if grid else "")
                             + f", got shape {tuple(sample.shape)}")
        self._check_matched(keywords)
        x = einops.rearrange(sample, f"{self.layout} -> {OURS}", **grid)
        cond = {ours: keywords[theirs] for theirs, ours in self.convention.keywords if keywords.get(theirs) is not None}
        t = _timesteps(timestep, x.shape[0], x.device, self.convention.per_token_time)
        if self.time_scale != 1:
            t = t / self.time_scale
            cond.update({k: cond[k] / self.time_scale for k in self.convention.time_like if k in cond})
        if self.flow_time:  # Mochi: diffusers' timestep is time_scale·(1 − σ), its output x0 − ε = −(ours)
            t = 1 - t
        out = self.model(x, t, **cond)
        out = -out if self.flow_time else out
        out = einops.rearrange(out, f"{OURS} -> {self.layout}")
        return UNetOutput(out) if return_dict else (out,)

    def _check_matched(self, keywords: dict) -> None:
        """The ``matched`` keywords given must be the adapted net's own (e.g. LTX's ``rope_interpolation_scale``, its
        ``frame_rate``): a pipeline asking for another convention is refused, never silently ignored."""
        for name in self.convention.matched:
            given = keywords.get(name)
            if given is None:
                continue
            own = getattr(self.model, name)
            if len(given) != len(own) or any(abs(float(a) - float(b)) > 1e-6 * max(1.0, abs(float(b)))
                                             for a, b in zip(given, own)):
                raise ValueError(f"{name} must be the adapted net's {tuple(own)} (built into it; rebuild the net for "
                                 f"another), got {tuple(float(a) for a in given)}")


class DiffusersUNet(DiffusersModel):
    """Our converted video U-Net in diffusers' UNet convention (``UNetSpatioTemporalConditionModel``,
    ``UNet3DConditionModel``)."""

    classes = ("UNetSpatioTemporalConditionModel", "UNet3DConditionModel")

    def _mlp(self, which: str) -> SimpleNamespace:
        mlp = getattr(getattr(getattr(self.model, "embed", None), which, None), "mlp", None)
        if mlp is None:
            raise AttributeError(f"the adapted model has no embed.{which}.mlp")
        return SimpleNamespace(linear_1=mlp.fc1, linear_2=mlp.fc2)  # views, not registered (no duplicate weights)

    @property
    def add_embedding(self) -> SimpleNamespace:
        """diffusers' ``add_embedding.linear_{1,2}`` (SVD's pipeline reads ``linear_1.in_features``)."""
        return self._mlp("added")

    @property
    def time_embedding(self) -> SimpleNamespace:
        return self._mlp("timestep")

    def forward(self, sample: Tensor, timestep, encoder_hidden_states: Tensor | None = None,
                added_time_ids: Tensor | None = None, return_dict: bool = True, **extras) -> UNetOutput | tuple:
        """``sample`` in the diffusers class's layout (``(B, T, C, H, W)`` for SVD, ``(B, C, T, H, W)`` for UNet3D);
        returns the prediction in the same layout, as ``UNetOutput`` or a 1-tuple (``return_dict=False``)."""
        _refuse_extras(f"{type(self).__name__}.forward", extras)
        return self._run(sample, timestep, dict(encoder_hidden_states=encoder_hidden_states,
                                                added_time_ids=added_time_ids), return_dict)


class DiffusersTransformer(DiffusersModel):
    """Our converted transformer as diffusers' ``WanTransformer3DModel`` (``net/wan_transformer``),
    ``CogVideoXTransformer3DModel`` (``net/cogvideox_transformer``; ``hidden_states`` ``(B, T, C, H, W)``) or
    ``HunyuanVideoTransformer3DModel`` (``net/hunyuan_video_transformer``) or ``MochiTransformer3DModel``
    (``net/mochi_transformer``; a recipe's ``flow_time=True`` net is called with σ = 1 − timestep / time_scale and its
    ε − x0 negated: diffusers' reversed time and x0 − ε) or ``LTXVideoTransformer3DModel``
    (``net/ltx_video_transformer``; ``hidden_states`` the tokens ``(B, T·H·W, C)`` with ``num_frames``, ``height``,
    ``width``; LTXPipeline's ``rope_interpolation_scale`` must be the net's, i.e. its ``frame_rate``)."""

    classes = ("WanTransformer3DModel", "CogVideoXTransformer3DModel", "HunyuanVideoTransformer3DModel",
               "MochiTransformer3DModel", "LTXVideoTransformer3DModel")

    def cache_context(self, name: str, **kwargs) -> contextlib.AbstractContextManager:
        """diffusers' ``CacheMixin.cache_context`` (entered around each call by the Wan pipelines): nothing to cache."""
        return contextlib.nullcontext()

    def forward(self, hidden_states: Tensor, timestep, encoder_hidden_states: Tensor | None = None,
                return_dict: bool = True, attention_kwargs: dict | None = None, **keywords) -> UNetOutput | tuple:
        """``hidden_states`` in the class's layout, ``timestep`` diffusers' (0…1000; ``(B,)``, or per token
        ``(B, N)`` for Wan), text tokens ``encoder_hidden_states`` ``(B, L, D)`` and the class's other keywords
        (Wan: ``encoder_hidden_states_image`` ``(B, 257, 1280)``; Mochi: ``encoder_attention_mask`` ``(B, L)``; LTX:
        ``encoder_attention_mask``, ``num_frames`` / ``height`` / ``width``, ``rope_interpolation_scale`` (checked);
        HunyuanVideo: ``pooled_projections`` ``(B, 768)``,
        ``encoder_attention_mask`` ``(B, L)``, ``guidance`` ``(B,)`` = 1000·w; CogVideoX: ``image_rotary_emb``,
        ignored: the net computes the same tables) -> the prediction in the same layout."""
        theirs = {k for k, _ in self.convention.keywords} | set(self.convention.grid) | set(self.convention.matched)
        extras = {k: v for k, v in keywords.items() if k not in theirs and k not in self.convention.computed}
        _refuse_extras(f"{type(self).__name__}.forward", {**extras, "attention_kwargs": attention_kwargs or None})
        known = {k: v for k, v in keywords.items() if k in theirs}
        return self._run(hidden_states, timestep, dict(encoder_hidden_states=encoder_hidden_states, **known),
                         return_dict)


class ZooModel(nn.Module):
    """A diffusers video net (a class of ``CONVENTIONS``) in our convention: ``forward(x (B, C, T, H, W), t, **cond)
    -> (B, C_out, T, H, W)`` with ``cond`` among ``supported_cond``; ``in_channels`` / ``out_channels`` from its
    config. ``time_scale``: diffusers' timestep = ``time_scale · t`` (1 for the U-Net recipes, whose t are diffusers'
    timesteps; the Wan recipes' net time_scale, 1000, for t ∈ [0, 1]). ``flow_time``: our t is flow time σ and we
    predict ε − x0 where the net takes ``time_scale·(1 − σ)`` and predicts x0 − ε (Mochi's reversed time)."""

    def __init__(self, net: nn.Module, *, time_scale: float = 1.0, flow_time: bool = False) -> None:
        super().__init__()
        # a class whose pipeline computes inputs for it (CogVideoX's rotary tables) cannot be called alone
        self.convention = _convention(type(net).__name__, {k: c for k, c in CONVENTIONS.items()
                                                           if not (c.computed or c.grid or c.matched)})
        self.layout = self.convention.layout
        self.net, self.time_scale, self.flow_time = net, float(time_scale), bool(flow_time)
        self.in_channels, self.out_channels = net.config.in_channels, net.config.out_channels
        self.supported_cond = tuple(ours for _, ours in self.convention.keywords)

    @property
    def unet(self) -> nn.Module:
        """The adapted net (the name ``ZooUNet`` users know)."""
        return self.net

    def forward(self, x: Tensor, t: Tensor, **cond) -> Tensor:
        unknown = {k: v for k, v in cond.items() if k not in self.supported_cond}
        _refuse_extras(f"{type(self).__name__}.forward", unknown)
        if x.ndim != 5:
            raise ValueError(f"x must be 5-D (B, C, T, H, W), got shape {tuple(x.shape)}")
        keywords = {theirs: cond[ours] for theirs, ours in self.convention.keywords if cond.get(ours) is not None}
        if "encoder_hidden_states" not in keywords:  # diffusers' nets take it positionally (None: unconditional)
            keywords["encoder_hidden_states"] = None
        t = _timesteps(t, x.shape[0], x.device, self.convention.per_token_time)
        sample = einops.rearrange(x, f"{OURS} -> {self.layout}")
        t = 1 - t if self.flow_time else t
        if self.time_scale != 1:
            t = t * self.time_scale
            keywords.update({theirs: keywords[theirs] * self.time_scale for theirs, ours in self.convention.keywords
                             if ours in self.convention.time_like and theirs in keywords})
        # by name: the classes order their arguments differently (Mochi: hidden_states, encoder_hidden_states, timestep)
        out = self.net(**{self.convention.sample: sample}, timestep=t, return_dict=False, **keywords)[0]
        out = -out if self.flow_time else out
        return einops.rearrange(out, f"{self.layout} -> {OURS}")


ZooUNet = ZooModel  # the name of the U-Net release
