"""Attention choices on a built model, kept in its recorded config: the backend and the frame-wise swap.

Three things change a built model's attention in place: the backend its ``attend`` calls run on
(``set_attention_backend``), the training-free swap of every spatial self-attention for a frame-wise variant
(``swap_spatial_attention``: Text2Video-Zero's cross-frame, ControlVideo's fully cross-frame attention) and the swap of
every full spacetime self-attention for a sparse video attention (``swap_spacetime_attention``: sliding tile, radial,
Sparse VideoGen, VSA; one mechanism with the frame-wise swap: the new module takes over the old one's weights). All
update the configs the registry recorded (``components.config_of`` / ``module.to_config()``), so
``components.build(config_of(model))`` rebuilds the changed model: every registered module that holds attention
takes the constructor keywords

    attention_backend=None          # pin this backend on every attention module inside (None: keep what is built)
    frame_attention=None            # (modules that may hold attention/spatial) swap every attention/spatial for
    frame_attention_kwargs=None     # this variant, with these extra constructor keywords
    spacetime_attention=None        # (modules that may hold attention/spacetime) swap every attention/spacetime for
    spacetime_attention_kwargs=None # this sparse variant, with these extra constructor keywords

and applies them last in its constructor (``configure_attention``), exactly as the in-place calls do afterwards.
An attention module records its own ``backend``. A configuration recorded on a module is updated only where that
module's constructor takes the keyword; wrappers holding a net by object (denoisers) are not rebuilt from config.
Change the top-level model: a call on a sub-module cannot update the configs of the modules around it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from torch import nn

from ..registry import build, get_component, parse_spec
from .backends import check_backend_name
from .base import MultiHeadAttention
from .spacetime import SpacetimeAttention
from .spatial import SpatialAttention


__all__ = [
    "attention_backends_of",
    "configure_attention",
    "override_attention_backend",
    "parse_attention_spec",
    "set_attention_backend",
    "swap_spacetime_attention",
    "swap_spatial_attention",
    "use_cross_frame_attention",
]

BACKEND_KEYWORD = "attention_backend"
SWAP_KEYWORD, SWAP_KWARGS_KEYWORD = "frame_attention", "frame_attention_kwargs"
SPARSE_KEYWORD, SPARSE_KWARGS_KEYWORD = "spacetime_attention", "spacetime_attention_kwargs"


def _config(module: nn.Module) -> dict | None:
    """The config the registry recorded on ``module`` itself (not inherited from a class attribute), or None."""
    cfg = module.__dict__.get("_component_config")
    return cfg if isinstance(cfg, dict) else None


def _set_backend(model: nn.Module, backend: str | None, *, argument: str, where: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{where}: model must be an nn.Module, got {type(model).__name__}")
    name = "auto" if backend is None else check_backend_name(backend, argument=argument, where=where)
    for module in model.modules():
        cfg = _config(module)
        if isinstance(module, MultiHeadAttention):
            module.backend = name
            if cfg is not None:  # every variant takes backend= (some through **kwargs, so it may be unrecorded)
                cfg["backend"] = name
        elif cfg is not None and BACKEND_KEYWORD in cfg:
            cfg[BACKEND_KEYWORD] = backend
    return model


def set_attention_backend(model: nn.Module, backend: str | None) -> nn.Module:
    """Pin ``backend`` on every attention module inside ``model`` (in place; returns ``model``).

    ``backend``: ``"auto"``, a registered ``attention_backend/<name>`` (``math``, ``sdpa``, ``sdpa_flash``, ...) or
    None (every module back to ``"auto"``); an unknown name raises ``ValueError`` naming the known ones. The recorded
    configs are updated too (``attention_backend`` of the nets and blocks, ``backend`` of the attention modules), so
    ``components.build(config_of(model))`` gives a model whose attention runs on the same backend. Whether the
    backend can run a call (device, dtype, head size) is checked when the call runs.
    """
    return _set_backend(model, backend, argument="backend", where="set_attention_backend")


def attention_backends_of(model: nn.Module) -> set[str]:
    """The backends the attention modules inside ``model`` are pinned to (``"auto"``: resolved per call; empty: no
    attention)."""
    return {module.backend for module in model.modules() if isinstance(module, MultiHeadAttention)}


@contextmanager
def override_attention_backend(model: nn.Module, backend: str | None) -> Iterator[nn.Module]:
    """Within the block, every attention module of ``model`` uses ``backend`` (even one pinned to another backend,
    unlike ``with attention_backend(name)``, which only reaches ``"auto"`` modules); afterwards the modules and the
    recorded configs are as before. ``backend=None`` changes nothing (a per-call option left unset)."""
    if backend is None:
        yield model
        return
    check_backend_name(backend, argument="backend", where="override_attention_backend")
    saved = [(module, module.backend) for module in model.modules() if isinstance(module, MultiHeadAttention)]
    configs = [(cfg, dict(cfg)) for cfg in map(_config, model.modules()) if cfg is not None]
    set_attention_backend(model, backend)
    try:
        yield model
    finally:
        for module, name in saved:
            module.backend = name
        for cfg, before in configs:
            cfg.clear()
            cfg.update(before)


def _replacement(old: MultiHeadAttention, variant: str, kwargs: dict, *, where: str = "swap_spatial_attention",
                 added: bool = False) -> nn.Module:
    """``variant`` built with ``old``'s settings, holding ``old``'s submodules (``to_q``, ..., norms, RoPE) themselves.

    ``added``: the variant may have parameters ``old`` lacks (VSA's gate); they are built on ``old``'s device and
    dtype with the variant's own initialisation. Otherwise the variant is built on meta and any parameter left
    there is an error."""
    weight = old.to_q.weight
    place = {"device": weight.device, "dtype": weight.dtype} if added else {"device": "meta"}
    new = build(variant, dim=old.dim, num_heads=old.num_heads, head_dim=old.head_dim,
                qkv_bias=old.to_q.bias is not None, qk_norm=old.qk_norm, qk_norm_eps=old.qk_norm_eps,
                dropout=old.dropout, backend=old.backend, **place, **_positions(old), **kwargs)
    for name, child in old.named_children():  # take over the weights themselves (the built ones are dropped)
        setattr(new, name, child)
    leftovers = [n for n, p in new.named_parameters(recurse=True) if p.is_meta and not weight.is_meta]
    if leftovers:
        raise ValueError(f"{where}: {variant} has parameters the {old.__class__.__name__} lacks: {leftovers}")
    new.train(old.training)
    return new


def _variant_class(variant: str, base: type, where: str, examples: str) -> str:
    """The registry key ``attention/<name>`` of ``variant`` after checking it is a subclass of ``base`` (not ``base``)."""
    short = variant.split("/", 1)[1] if variant.startswith("attention/") else variant
    key = f"attention/{short}"
    cls = get_component(key).obj
    if not (isinstance(cls, type) and issubclass(cls, base)) or cls is base:
        raise ValueError(f"{where}: variant must be {examples}, got {variant!r}")
    return key


def _positions(old: SpatialAttention) -> dict:
    """The rotary-position settings of ``old`` (the frame-wise variant rotates by the same positions)."""
    if old.rope is None:
        return {}
    return {"position": "rope", "rope_axes_dim": old.rope.axes_dim, "rope_theta": old.rope.theta,
            "rope_max_positions": old.rope.max_positions}


def _holding(model: nn.Module, predicate: Callable[[nn.Module], bool]) -> list[nn.Module]:
    """The modules of ``model`` (itself included) with a sub-module, or themselves, matching ``predicate``."""
    found: list[nn.Module] = []

    def visit(module: nn.Module) -> bool:
        hit = predicate(module)
        for child in module.children():
            hit = visit(child) or hit  # visit every child: each may hold its own matches
        if hit:
            found.append(module)
        return hit

    visit(model)
    return found


def swap_spatial_attention(module: nn.Module, variant: str = "attention/cross_frame", **kwargs) -> nn.Module:
    """Replace every ``attention/spatial`` inside ``module`` (in place) by ``variant`` with the same weights.

    ``variant``: ``attention/cross_frame`` (Text2Video-Zero: keys/values of frame 0), ``attention/sparse_causal``
    (Tune-A-Video), ``attention/fully_cross_frame`` (ControlVideo; ``key_frames=[0, -1]`` for its clips).
    The new module takes over the old one's submodules (``to_q``, ``to_k``, ``to_v``, ``to_out``, norms): the
    parameters are the same tensors and none is added; text cross-attention and temporal attention are untouched.
    Every registered module around a swapped one records ``frame_attention=<variant>`` (and the ``kwargs``) in its
    config, so ``components.build(config_of(module))`` builds the swapped model.
    Returns ``module`` (or the new module when ``module`` itself is a spatial attention).
    """
    variant = _variant_class(variant, MultiHeadAttention, "swap_spatial_attention", "a frame-wise self-attention "
                             "such as 'attention/cross_frame' or 'attention/fully_cross_frame'")
    if variant == "attention/spatial":
        raise ValueError(f"swap_spatial_attention: variant must be a frame-wise self-attention such as "
                         f"'attention/cross_frame' or 'attention/fully_cross_frame', got {variant!r}")
    return _swap(module, SpatialAttention, variant, kwargs, where="swap_spatial_attention",
                 keywords=(SWAP_KEYWORD, SWAP_KWARGS_KEYWORD), added=False)


def _swap(module: nn.Module, target: type, variant: str, kwargs: dict, *, where: str, keywords: tuple[str, str],
          added: bool) -> nn.Module:
    """Every module of exactly type ``target`` inside ``module`` replaced by ``variant`` (``_replacement``), and the
    ``keywords`` (variant, its kwargs) recorded in the configs of the registered modules around them that take them."""
    if type(module) is target:
        return _replacement(module, variant, kwargs, where=where, added=added)
    holders = [m for m in _holding(module, lambda m: type(m) is target) if type(m) is not target]
    if not holders:
        raise ValueError(f"{where}: {type(module).__name__} contains no {_key_of(target)} module")
    for parent in holders:
        for name, child in list(parent.named_children()):
            if type(child) is target:
                setattr(parent, name, _replacement(child, variant, kwargs, where=where, added=added))
    keyword, kwargs_keyword = keywords
    for holder in holders:
        cfg = _config(holder)
        if cfg is not None and keyword in cfg:
            cfg[keyword] = variant.split("/", 1)[1]
            if kwargs_keyword in cfg:
                cfg[kwargs_keyword] = dict(kwargs) or None
    return module


def _key_of(cls: type) -> str:
    return {SpatialAttention: "attention/spatial", SpacetimeAttention: "attention/spacetime"}.get(cls, cls.__name__)


def swap_spacetime_attention(module: nn.Module, variant: str = "attention/sliding_tile", **kwargs) -> nn.Module:
    """Replace every ``attention/spacetime`` inside ``module`` (in place) by the sparse ``variant`` with the same
    weights: the training-free drop-in of sparse video attention for a DiT's full self-attention (Wan's included).

    ``variant``: ``attention/sliding_tile`` (STA), ``attention/radial``, ``attention/sparse_videogen``,
    ``attention/video_sparse`` (VSA; its gate ``to_gate_compress`` is the one parameter added, zero at first, so the
    swapped model starts as the fine branch alone); ``kwargs`` are its knobs (``tile=``, ``window=``, ``sparsity=``,
    ...). The new module takes over the old one's ``to_q``, ``to_k``, ``to_v``, ``to_out``, qk-norms and RoPE (the
    same tensors); text cross-attention, spatial and temporal attention are untouched. A DiT block whose net passes
    RoPE tables calls ``attn.attend_grid(tokens, grid, rope=...)``, which every variant implements. Registered
    modules around a swapped one record ``spacetime_attention=<variant>`` (and the ``kwargs``) where their
    constructor takes that keyword. Returns ``module`` (or the new module when ``module`` is itself the attention).
    """
    variant = _variant_class(variant, SpacetimeAttention, "swap_spacetime_attention",
                             "a sparse video attention such as 'attention/sliding_tile', 'attention/radial', "
                             "'attention/sparse_videogen' or 'attention/video_sparse'")
    return _swap(module, SpacetimeAttention, variant, kwargs, where="swap_spacetime_attention",
                 keywords=(SPARSE_KEYWORD, SPARSE_KWARGS_KEYWORD), added=True)


def parse_attention_spec(spec: str) -> tuple[str, dict]:
    """``"KEY[:knob=value,...]"`` (``sliding_tile:tile=[1,4,4],window=[3,3,3]``) -> ``("attention/KEY", knobs)``
    (``registry.parse_spec``)."""
    return parse_spec(spec, "attention", "--attention")


def use_cross_frame_attention(module: nn.Module) -> nn.Module:
    """Text2Video-Zero's switch (E14): every spatial self-attention attends to the keys/values of frame 0."""
    return swap_spatial_attention(module, "attention/cross_frame")


def configure_attention(module: nn.Module, *, attention_backend: str | None = None, frame_attention: str | None = None,
                        frame_attention_kwargs: dict | None = None, spacetime_attention: str | None = None,
                        spacetime_attention_kwargs: dict | None = None) -> nn.Module:
    """What a registered constructor holding attention calls last with its ``attention_backend`` /
    ``frame_attention`` / ``frame_attention_kwargs`` / ``spacetime_attention`` / ``spacetime_attention_kwargs``
    keywords: the swaps (if any), then the backend (if any)."""
    where = type(module).__name__
    if attention_backend is not None:  # a typo fails before any swap
        check_backend_name(attention_backend, argument="attention_backend", where=where)
    if frame_attention is not None:
        if not isinstance(frame_attention, str):
            raise ValueError(f"{where}: frame_attention must name an attention variant such as 'cross_frame' or "
                             f"'fully_cross_frame', got {frame_attention!r}")
        if not any(type(m) is SpatialAttention for m in module.modules()):
            raise ValueError(f"{where}: frame_attention={frame_attention!r} swaps attention/spatial modules, but "
                             "this configuration has none")
        swap_spatial_attention(module, frame_attention, **(frame_attention_kwargs or {}))
    elif frame_attention_kwargs:
        raise ValueError(f"{where}: frame_attention_kwargs={frame_attention_kwargs!r} given without frame_attention")
    if spacetime_attention is not None:
        if not any(type(m) is SpacetimeAttention for m in module.modules()):
            raise ValueError(f"{where}: spacetime_attention={spacetime_attention!r} swaps attention/spacetime "
                             "modules, but this configuration has none")
        swap_spacetime_attention(module, spacetime_attention, **(spacetime_attention_kwargs or {}))
    elif spacetime_attention_kwargs:
        raise ValueError(f"{where}: spacetime_attention_kwargs={spacetime_attention_kwargs!r} given without "
                         "spacetime_attention")
    if attention_backend is not None:
        _set_backend(module, attention_backend, argument="attention_backend", where=where)
    return module
