"""Call-convention adapters between diffusers' video U-Nets and ours, both ways (weights are untouched).

* ``DiffusersUNet(ours, config)`` (or ``DiffusersUNet.from_diffusers(unet)``): our converted net speaking diffusers'
  UNet convention, so it can replace ``pipe.unet`` of a diffusers pipeline unchanged::

      pipe.unet = DiffusersUNet.from_diffusers(pipe.unet)   # StableVideoDiffusionPipeline, TextToVideoSDPipeline

  ``forward(sample, timestep, encoder_hidden_states, added_time_ids=None, return_dict=True)`` -> ``.sample``, and
  the attributes the pipelines read: ``config`` (the diffusers config, frozen), ``dtype``, ``device``,
  ``add_embedding.linear_1`` / ``time_embedding.linear_{1,2}`` (views of our ``embed.*.mlp.fc{1,2}``).
* ``ZooUNet(unet)``: a diffusers UNet speaking our convention ``model(x, t, *, context=None, added_cond=None)`` with
  ``x`` of shape ``(B, C, T, H, W)``, so ``zoo.create_pipeline(name, preset, model=ZooUNet(unet))`` drives it.

The one convention difference per class (``LAYOUTS``): ``UNetSpatioTemporalConditionModel`` (SVD) takes ``sample`` as
``(B, T, C, H, W)``, ours ``(B, C, T, H, W)``: ``x = einops.rearrange(sample, "b t c h w -> b c t h w")`` (and back
for the output); ``UNet3DConditionModel`` (ModelScope) takes ``(B, C, T, H, W)`` as we do. Keywords:
``encoder_hidden_states`` (B, L, D) <-> ``context``; ``added_time_ids`` (B, 3) <-> ``added_cond``; ``timestep``
(a scalar or (B,)) is broadcast to ``(B,)`` as diffusers' U-Nets do. Diffusers-only keywords we have no mechanism
for (``cross_attention_kwargs``, ``down_block_additional_residuals``, ...) are refused when not None, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import einops
import torch
from torch import Tensor, nn

from .common import from_diffusers


__all__ = ["LAYOUTS", "DiffusersUNet", "UNetOutput", "ZooUNet"]

# diffusers class -> its ``sample`` layout (ours is always "b c t h w")
LAYOUTS = {"UNetSpatioTemporalConditionModel": "b t c h w", "UNet3DConditionModel": "b c t h w"}
OURS = "b c t h w"


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


def _layout(class_name: str) -> str:
    if class_name not in LAYOUTS:
        raise ValueError(f"class_name must be one of {sorted(LAYOUTS)}, got {class_name!r}")
    return LAYOUTS[class_name]


def _timesteps(timestep, batch: int, device: torch.device) -> Tensor:
    """diffusers' broadcast: a number or a 0-d / (B,) tensor -> (B,)."""
    t = timestep if isinstance(timestep, Tensor) else torch.tensor(timestep, device=device)
    if t.ndim == 0:
        t = t[None]
    if t.ndim != 1 or t.shape[0] not in (1, batch):
        raise ValueError(f"timestep must be a number or a tensor of shape () or ({batch},), got {tuple(t.shape)}")
    return t.to(device).expand(batch)


def _refuse_extras(where: str, extras: dict) -> None:
    given = sorted(k for k, v in extras.items() if v is not None)
    if given:
        raise ValueError(f"{where}: keywords {given} have no equivalent in the adapted model; pass None or leave them "
                         "out")


class DiffusersUNet(nn.Module):
    """Our converted video U-Net ``model(x (B C T H W), t, context=, added_cond=)`` in diffusers' UNet convention.

    ``config``: the diffusers model's config (its ``class_name`` or ``_class_name`` field, or the ``class_name``
    argument, selects the ``sample`` layout); it is copied and frozen.
    """

    def __init__(self, model: nn.Module, config: Mapping, *, class_name: str | None = None) -> None:
        super().__init__()
        class_name = class_name or config.get("_class_name")
        self.layout = _layout(class_name)
        self.model = model
        self.config = FrozenConfig({**dict(config), "_class_name": class_name})

    @classmethod
    def from_diffusers(cls, unet: nn.Module) -> DiffusersUNet:
        """Convert ``unet`` through ``zoo.from_diffusers`` and adapt the result (same device, dtype, eval mode)."""
        return cls(from_diffusers(unet), unet.config, class_name=type(unet).__name__)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

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
        if sample.ndim != 5:
            raise ValueError(f"sample must be 5-D ({self.layout}), got shape {tuple(sample.shape)}")
        x = einops.rearrange(sample, f"{self.layout} -> {OURS}")
        cond = {}
        if encoder_hidden_states is not None:
            cond["context"] = encoder_hidden_states
        if added_time_ids is not None:
            cond["added_cond"] = added_time_ids
        out = self.model(x, _timesteps(timestep, x.shape[0], x.device), **cond)
        out = einops.rearrange(out, f"{OURS} -> {self.layout}")
        return UNetOutput(out) if return_dict else (out,)


class ZooUNet(nn.Module):
    """A diffusers video U-Net in our convention: ``forward(x (B, C, T, H, W), t, *, context=None,
    added_cond=None) -> (B, C_out, T, H, W)``; ``out_channels`` / ``in_channels`` from its config."""

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.layout = _layout(type(unet).__name__)
        self.unet = unet
        self.in_channels, self.out_channels = unet.config.in_channels, unet.config.out_channels

    def forward(self, x: Tensor, t: Tensor, *, context: Tensor | None = None, added_cond: Tensor | None = None,
                **extras) -> Tensor:
        _refuse_extras(f"{type(self).__name__}.forward", extras)
        if x.ndim != 5:
            raise ValueError(f"x must be 5-D (B, C, T, H, W), got shape {tuple(x.shape)}")
        kwargs = {"added_time_ids": added_cond} if added_cond is not None else {}
        sample = einops.rearrange(x, f"{OURS} -> {self.layout}")
        out = self.unet(sample, _timesteps(t, x.shape[0], x.device), encoder_hidden_states=context,
                        return_dict=False, **kwargs)[0]
        return einops.rearrange(out, f"{self.layout} -> {OURS}")
