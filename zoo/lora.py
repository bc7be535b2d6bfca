"""Low-rank adapters on the attention projections, through ``peft`` (the library diffusers users already use).

LoRA (Hu et al. 2021, eq. 3) freezes a linear map W₀ and learns a rank-r update:

    h = W₀ x + (α / r) · B A x,      A ∈ R^{r×d_in} (Kaiming-uniform), B ∈ R^{d_out×r} (zeros)

so at initialisation the adapted net *is* the pretrained one. The adapters go on every ``nn.Linear`` named ``to_q``,
``to_k``, ``to_v`` or ``to_out`` (``components/attention/base.py`` ``MultiHeadAttention``: every attention variant
has those names, spatial, temporal, cross and Wan's), the targets of diffusers' own LoRA trainers.

``peft.inject_adapter_in_model`` fits our modules as they are: it wraps each target ``nn.Linear`` in a
``peft.tuners.lora.Linear`` (the base weight under ``<name>.base_layer``, the adapters under
``<name>.lora_A.default`` / ``lora_B.default``) and freezes everything else; nothing of ours subclasses anything
of peft's, and ``peft`` is imported only when ``--lora`` is asked for (the ``train`` extra).

    add_lora(model, rank=8)                 # in place; the net's own parameters frozen
    state = lora_state_dict(model)          # only the adapters (what a LoRA run's checkpoint holds)
    load_lora(model, state)                 # strict on the adapter keys
    merge_lora(model)                       # W = W₀ + (α/r) B A; the plain nn.Linear modules back
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn


__all__ = ["TARGETS", "add_lora", "has_lora", "load_lora", "load_lora_checkpoint", "lora_state_dict", "lora_targets",
           "merge_lora"]

#: the attention projections that get adapters (``MultiHeadAttention``'s names)
TARGETS = ("to_q", "to_k", "to_v", "to_out")
_EXTRA = 'pip install -e ".[train]"'


def lora_targets(model: nn.Module, targets: tuple[str, ...] = TARGETS) -> list[str]:
    """Full names of the ``nn.Linear`` modules of ``model`` whose own name is one of ``targets``."""
    return [name for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and name.rsplit(".", 1)[-1] in targets]


def has_lora(model: nn.Module) -> bool:
    return any("lora_A" in name for name, _ in model.named_parameters())


def add_lora(model: nn.Module, rank: int, *, alpha: float | None = None, name: str = "model") -> nn.Module:
    """Put rank-``rank`` adapters (scale ``alpha / rank``, default α = r) on every attention projection of ``model``,
    in place, and freeze the rest; returns ``model``. ``ValueError`` when ``model`` (``name`` in the message) has no
    attention projections or ``rank`` is not a positive int; ``ImportError`` naming the extra without ``peft``."""
    if not (isinstance(rank, int) and rank > 0):
        raise ValueError(f"--lora must be a positive rank, got {rank!r}")
    found = lora_targets(model)
    if not found:
        raise ValueError(f"--lora {rank}: {name} has no attention projections ({'/'.join(TARGETS)} nn.Linear "
                         f"modules) to put adapters on; fine-tune it in full (no --lora)")
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError as err:
        raise ImportError(f"--lora needs peft (the `train` extra): {_EXTRA}") from err
    param = next(model.parameters())
    model.requires_grad_(False)
    config = LoraConfig(r=rank, lora_alpha=float(alpha if alpha is not None else rank), target_modules=found,
                        lora_dropout=0.0, bias="none")
    inject_adapter_in_model(config, model)
    for pname, p in model.named_parameters():  # adapters trainable and fp32 (master weights), the rest frozen
        p.requires_grad_("lora_" in pname)
        if "lora_" in pname:
            p.data = p.data.to(param.device, torch.float32)
    return model


def lora_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The adapter tensors of ``model`` (``…to_q.lora_A.default.weight`` ...), detached CPU copies."""
    return {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items() if "lora_" in k}


def load_lora(model: nn.Module, state: Mapping[str, Tensor], *, where: str = "checkpoint") -> None:
    """Load adapter tensors into a model that ``add_lora`` prepared: every adapter key must be given and nothing
    else (``ValueError`` naming ``where``, how many differ and the first)."""
    own = {k: v for k, v in model.state_dict().items() if "lora_" in k}
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shape = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or extra or shape:
        first = (missing or extra or shape)[0]
        raise ValueError(f"{where}: the LoRA tensors do not fit this model ({len(missing)} missing, {len(extra)} "
                         f"unexpected, {len(shape)} of another shape; first: {first}); was it trained with this "
                         f"recipe, preset and --lora rank?")
    model.load_state_dict(dict(state), strict=False)


@torch.no_grad()
def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter into its base weight (W = W₀ + (α/r) B A) and put the plain ``nn.Linear`` back, so the
    state dict has the net's own names again; returns ``model``."""
    from peft.tuners.lora import LoraLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent, _, attr = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, attr, module.get_base_layer())
    return model


def load_lora_checkpoint(model: nn.Module, path, config: Mapping) -> nn.Module:
    """Put the adapters of a ``zoo train --lora`` checkpoint (``path``, its ``config.json`` as ``config``) on
    ``model``, the net of the run's ``--weights`` folder; returns ``model``."""
    from safetensors.torch import load_file

    from .sample import resolve_checkpoint

    train = config.get("train") or {}
    file, _ = resolve_checkpoint(path)
    add_lora(model, int(train["lora"]), alpha=train.get("lora_alpha"), name=str(config.get("model", "model")))
    load_lora(model, load_file(str(file), device=str(next(model.parameters()).device)), where=f"checkpoint {file}")
    return model
