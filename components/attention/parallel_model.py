"""Put a built net on a context-parallel mesh: ``set_context_parallel(model, cp)`` / ``with context_parallel(...)``.

Two things change, both without touching a variant:

* **Sequence sharding** (``cp.degree > 1``): every net that shards its token sequence (a class attribute
  ``context_parallel``: ``SpaceTimeDiT`` and the nets over it, Wan, Open-Sora, Latte, sora_dit) gets ``cp``; its forward
  cuts the tokens after the patch embed and gathers them before unpatchify (``context_parallel.sequence_shard``). Its
  full spacetime self-attentions are marked ``sequence_sharded`` so ``MultiHeadAttention.core`` runs them as Ulysses /
  Ring attention; cross-attentions need nothing (their queries are local, their keys the whole text); joint (MM-DiT)
  attentions run ``sharded_joint_attention`` (video sharded, text whole on every rank). Any other attention
  (spatial, temporal, the sparse variants whose masks span the sequence) is refused.
* **CFG-parallel** (``cp.cfg == 2``): a forward pre-hook gives each rank of the ``cfg`` axis its half of the batch
  (guidance's doubled batch: conditional on one rank, unconditional on the other) and a forward hook all-gathers the
  halves, so the model still maps the whole batch to the whole output. A batch that does not split runs whole.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch.distributed._functional_collectives as funcol
from torch import Tensor, nn

from .base import MultiHeadAttention
from .cross import CrossAttention
from .joint import JointAttention
from .parallel_mesh import ContextParallel
from .spacetime import SpacetimeAttention


__all__ = ["context_parallel", "set_context_parallel"]

_HOOKS = "_cfg_parallel_hooks"


def _sharding_nets(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if "context_parallel" in dir(type(m))]


def _check_shardable(model: nn.Module, cp: ContextParallel) -> list[MultiHeadAttention]:
    where = "context_parallel"
    nets = _sharding_nets(model)
    if not nets:
        raise ValueError(f"{where}: {type(model).__name__} does not shard its token sequence (a sequence-parallel net "
                         f"is a SpaceTimeDiT (Wan, LTX-Video, Open-Sora, Latte, sora_dit) or an MM-DiT of "
                         f"HunyuanVideo, CogVideoX or Mochi); got ulysses={cp.ulysses}, ring={cp.ring}")
    marked = []
    for net in nets:
        exempt = tuple(getattr(net, name) for name in getattr(net, "context_parallel_exempt", ()))
        skip = {id(m) for sub in exempt for m in sub.modules()}  # text-only parts: whole on every rank
        for module in net.modules():
            if not isinstance(module, MultiHeadAttention) or isinstance(module, CrossAttention) or id(module) in skip:
                continue
            if type(module) is not SpacetimeAttention and not isinstance(module, JointAttention):
                raise ValueError(f"{where}: only full spacetime self-attention can be sharded; "
                                 f"{type(net).__name__} holds {type(module).__name__} (a per-frame, per-pixel or "
                                 f"sparse attention sees another token order or a mask over the whole sequence)")
            cp.check_heads(module.num_heads, f"{where} ({type(net).__name__})")
            marked.append(module)
    return marked


def _split_batch(cp: ContextParallel):
    def hook(module: nn.Module, args: tuple, kwargs: dict):
        batch = args[0].shape[0]
        module._cfg_batch = batch if batch % cp.cfg == 0 else None
        if module._cfg_batch is None:
            return None
        me = cp.coordinate("cfg")

        def half(value):
            if isinstance(value, Tensor) and value.ndim and value.shape[0] == batch:
                return value.chunk(cp.cfg)[me]
            return value

        return tuple(half(a) for a in args), {k: half(v) for k, v in kwargs.items()}

    return hook


def _gather_batch(cp: ContextParallel):
    def hook(module: nn.Module, args: tuple, kwargs: dict, output: Tensor) -> Tensor | None:
        if getattr(module, "_cfg_batch", None) is None:
            return None
        return funcol.all_gather_single_autograd(output.contiguous(), 0, cp.group("cfg"))

    return hook


def set_context_parallel(model: nn.Module, cp: ContextParallel | None) -> nn.Module:
    """Run ``model`` on the ``cp`` mesh (in place; None: back to one device); returns ``model``.

    ValueError, naming the value, for a model that does not shard its sequence, for attention that cannot be sharded
    and for a Ulysses degree that does not divide a head count (with the degrees that would).
    """
    for handle in getattr(model, _HOOKS, ()):
        handle.remove()
    model.__dict__.pop(_HOOKS, None)
    for net in _sharding_nets(model):
        net.context_parallel = None
        for module in net.modules():
            if isinstance(module, MultiHeadAttention):
                module.sequence_sharded = False
    if cp is None:
        return model
    if cp.degree > 1:
        for module in _check_shardable(model, cp):
            module.sequence_sharded = True
        for net in _sharding_nets(model):
            net.context_parallel = cp
    if cp.cfg > 1:
        model.__dict__[_HOOKS] = (model.register_forward_pre_hook(_split_batch(cp), with_kwargs=True),
                                  model.register_forward_hook(_gather_batch(cp), with_kwargs=True))
    return model


@contextlib.contextmanager
def context_parallel(model: nn.Module, cp: ContextParallel) -> Iterator[nn.Module]:
    """``set_context_parallel(model, cp)`` for the block, back to one device after it."""
    set_context_parallel(model, cp)
    try:
        yield model
    finally:
        set_context_parallel(model, None)
