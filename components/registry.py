"""One registry for every building block: ``register`` / ``build`` / ``list_components`` / ``get_component``.

Keys are ``kind/name`` in lowercase snake_case (``attention/temporal``, ``sampler/dpmpp_2m``). The registry is
strict: duplicate keys, unknown keys, unknown keyword arguments and import paths in declarative configs are errors,
each with a message that says what exists. Every entry carries the metadata the registry-driven conformance suite
needs (a ``tiny`` config, how to make example inputs, the bad inputs it must reject and the properties it claims),
so a new entry is tested the moment it is registered.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import inspect
import json
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


__all__ = [
    "BadInput",
    "ComponentEntry",
    "UnknownComponentError",
    "build",
    "config_of",
    "get_component",
    "has_component",
    "list_components",
    "register",
]

_KEY_PART = re.compile(r"^[a-z][a-z0-9_]*$")
# Constructor arguments that place a module rather than describe it: never part of a config.
_PLACEMENT_ARGS = ("device", "dtype")


class UnknownComponentError(KeyError):
    """A registry key that does not exist. The message names the closest keys."""

    def __str__(self) -> str:  # KeyError would repr() the message and show the quotes
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class BadInput:
    """One input an entry must reject with ``ValueError`` (or ``TypeError``) whose message matches ``match``.

    ``init`` overrides constructor keywords of the tiny config; ``inputs`` is a callable
    ``(cfg) -> (args, kwargs)`` giving forward inputs that the built object must refuse.
    """

    match: str
    init: Mapping[str, Any] | None = None
    inputs: Callable[[dict], tuple[tuple, dict]] | None = None
    error: type[Exception] = ValueError
    why: str = ""


@dataclass(frozen=True)
class ComponentEntry:
    """What the registry knows of one component (see ``register`` for the fields)."""

    key: str
    kind: str
    name: str
    obj: Any
    paper: str = ""
    summary: str = ""
    tiny: dict | None = None
    inputs: Callable[..., tuple[tuple, dict]] | None = None
    frames: tuple[int, ...] | None = None
    output_shape: Callable[..., tuple[int, ...]] | None = None
    bad_inputs: tuple[BadInput, ...] = ()
    properties: frozenset[str] = field(default_factory=frozenset)
    dtypes: tuple[str, ...] = ("float32", "bfloat16", "float16")
    tolerance: dict = field(default_factory=dict)

    @property
    def is_module_class(self) -> bool:
        import torch.nn as nn

        return inspect.isclass(self.obj) and issubclass(self.obj, nn.Module)


_REGISTRY: dict[str, ComponentEntry] = {}


def natural_key(text: str) -> list:
    """Sort key that orders ``x2`` before ``x10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def parse_spec(spec: str, kind: str, argument: str) -> tuple[str, dict]:
    """A command-line component spec ``"KEY[:knob=value,...]"`` (``sliding_tile:tile=[1,4,4],window=[3,3,3]``) ->
    ``("<kind>/KEY", knobs)``: values are JSON where they parse (numbers, true/false, lists), else strings; commas
    inside brackets stay in their value. A knob without ``=`` is a ValueError naming ``argument``."""
    import json

    key, _, text = spec.partition(":")
    key = key.strip()
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += (ch in "[(") - (ch in "])")
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    knobs: dict = {}
    for item in filter(None, (p.strip() for p in [*parts, current])):
        name, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"{argument}: knobs are name=value, got {item!r} in {spec!r}")
        try:
            knobs[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            knobs[name.strip()] = value.strip()
    return (key if key.startswith(f"{kind}/") else f"{kind}/{key}"), knobs


def did_you_mean(name: str, choices, *, cutoff: float = 0.5) -> str:
    """``"Did you mean 'a', 'b'?"`` for the closest ``choices`` (or ``"Did you mean none of them?"``)."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=cutoff)
    return f"Did you mean {', '.join(repr(c) for c in close)}?" if close else "Did you mean none of them?"


def _summary_of(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def register(
    kind: str,
    name: str,
    *,
    paper: str = "",
    tiny: dict | None = None,
    inputs: Callable[..., tuple[tuple, dict]] | None = None,
    frames: Iterable[int] | None = None,
    output_shape: Callable[..., tuple[int, ...]] | None = None,
    bad_inputs: Iterable[BadInput] = (),
    properties: Iterable[str] = (),
    dtypes: Iterable[str] = ("float32", "bfloat16", "float16"),
    tolerance: dict | None = None,
    summary: str | None = None,
) -> Callable:
    """Decorator registering a class or factory under ``kind/name``.

    Args:
        kind, name: the two halves of the key, lowercase snake_case.
        paper: the paper the component comes from ("Ho et al. 2022 (VDM)").
        tiny: constructor keywords of a small instance for CPU tests; the conformance suite fails without it.
        inputs: ``inputs(cfg, frames=T, batch=B, generator=g) -> (args, kwargs)``: example inputs for the tiny config.
        frames: frame counts the suite sweeps (default ``(1, 2, 5)`` for video entries, ``None`` if not video).
        output_shape: ``output_shape(cfg, *args) -> shape``; default: the shape of the first positional input.
        bad_inputs: ``BadInput`` cases the entry must reject.
        properties: claims the suite checks: ``frame_independent``, ``zero_at_init``, ``identity_at_init``,
            ``permutation_equivariant``, ``causal``.
        dtypes: dtypes the component supports (bf16/fp16 are compared to fp32).
        tolerance: overrides of the relative-L2 tolerances, e.g. ``{"bfloat16": 3e-2}``.
        summary: one line; default the first paragraph of the docstring.
    """
    for part, label in ((kind, "kind"), (name, "name")):
        if not _KEY_PART.match(part):
            raise ValueError(f"register: {label} must be lowercase snake_case (e.g. 'temporal'), got {part!r}")
    key = f"{kind}/{name}"

    def decorator(obj):
        if key in _REGISTRY:
            raise ValueError(f"register: duplicate key {key!r} (already registered by {_REGISTRY[key].obj!r})")
        _REGISTRY[key] = ComponentEntry(
            key=key,
            kind=kind,
            name=name,
            obj=obj,
            paper=paper,
            summary=summary if summary is not None else _summary_of(obj),
            tiny=dict(tiny) if tiny is not None else None,
            inputs=inputs,
            frames=tuple(frames) if frames is not None else None,
            output_shape=output_shape,
            bad_inputs=tuple(bad_inputs),
            properties=frozenset(properties),
            dtypes=tuple(dtypes),
            tolerance=dict(tolerance or {}),
        )
        if inspect.isclass(obj):
            _install_config_capture(obj, key)
        return obj

    return decorator


def _install_config_capture(cls: type, key: str) -> None:
    """Wrap ``cls.__init__`` so each instance records the constructor arguments that rebuild it."""
    original_init = cls.__init__
    signature = inspect.signature(original_init)

    @functools.wraps(original_init)
    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if type(self) is cls:  # a subclass records its own arguments, not its parent's
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            cfg = {"type": key}
            for arg, value in list(bound.arguments.items())[1:]:
                param = signature.parameters[arg]
                if arg in _PLACEMENT_ARGS:
                    continue
                if param.kind is inspect.Parameter.VAR_KEYWORD:
                    cfg.update(value)
                elif param.kind is not inspect.Parameter.VAR_POSITIONAL:
                    cfg[arg] = value
            object.__setattr__(self, "_component_config", cfg)

    cls.__init__ = __init__
    if "to_config" not in cls.__dict__:
        cls.to_config = lambda self: config_of(self)


def config_of(obj: Any) -> dict:
    """The JSON-serialisable declarative config that rebuilds ``obj`` with ``build``."""
    cfg = getattr(obj, "_component_config", None)
    if cfg is None:
        raise ValueError(f"config_of: {type(obj).__name__} was not built from a registered component")
    return json.loads(json.dumps(cfg, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(
        f"config value {value!r} of type {type(value).__name__} is not JSON-serialisable; "
        "registered constructors take plain numbers, strings, lists and dicts"
    )


#: Keys renamed when a kind was split, old -> new: still resolved, with a ``DeprecationWarning``, for one release.
RENAMED = {
    "parameterization/edm": "preconditioning/edm",
    "parameterization/edm_v": "preconditioning/edm_v",
    **{f"guidance/{name}": f"wrapper/{name}" for name in
       ("multidiffusion", "masked_conditioning", "interleaved_smoother", "replacement", "reconstruction")},
}


def _current(key: str) -> str:
    new = RENAMED.get(key)
    if new is None:
        return key
    warnings.warn(f"component key {key!r} is now {new!r} (EDM preconditionings and the denoiser wrappers that are "
                  f"not guidance have kinds of their own); the old key will be removed in the next release",
                  DeprecationWarning, stacklevel=3)
    return new


def has_component(key: str) -> bool:
    return key in _REGISTRY or key in RENAMED


def get_component(key: str) -> ComponentEntry:
    """The entry for ``key``; ``UnknownComponentError`` with suggestions when it does not exist. A renamed key
    (``RENAMED``) gives its new entry with a ``DeprecationWarning``."""
    if not isinstance(key, str):
        raise TypeError(f"get_component: key must be a string 'kind/name', got {type(key).__name__}")
    try:
        return _REGISTRY[_current(key)]
    except KeyError:
        close = difflib.get_close_matches(key, list(_REGISTRY), n=3, cutoff=0.5)
        if not close:  # fall back to same-name entries of other kinds ("temporal" -> "attention/temporal")
            close = [k for k in _REGISTRY if k.split("/", 1)[-1] == key.split("/")[-1]][:3]
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else " Did you mean none of them?"
        raise UnknownComponentError(
            f"Unknown component {key!r}.{hint} "
            "List what exists with components.list_components() or `python -m zoo list`."
        ) from None


def list_components(
    pattern: str | Iterable[str] = "*",
    *,
    exclude: str | Iterable[str] = (),
    kind: str | None = None,
    paper: str | None = None,
) -> list[str]:
    """Registered keys matching ``pattern`` (fnmatch, one or several), minus ``exclude``, naturally sorted.

    ``kind`` keeps one kind (``"attention"``); ``paper`` keeps entries whose paper mentions it (case-insensitive).
    """
    include = [pattern] if isinstance(pattern, str) else list(pattern)
    excluded = [exclude] if isinstance(exclude, str) else list(exclude)
    keys = []
    for key, entry in _REGISTRY.items():
        if not any(fnmatch.fnmatchcase(key, p) for p in include):
            continue
        if any(fnmatch.fnmatchcase(key, p) for p in excluded):
            continue
        if kind is not None and entry.kind != kind:
            continue
        if paper is not None and paper.lower() not in entry.paper.lower():
            continue
        keys.append(key)
    return sorted(keys, key=natural_key)


def _accepted_arguments(obj: Any) -> tuple[list[str], bool]:
    """Keyword names ``obj`` accepts, following ``**kwargs`` up the class hierarchy (to ``nn.Module``)."""
    import torch.nn as nn

    targets = [obj]
    if inspect.isclass(obj):
        targets = [c.__init__ for c in obj.__mro__ if "__init__" in c.__dict__ and c not in (nn.Module, object)]
    names: list[str] = []
    for target in targets:
        params = list(inspect.signature(target).parameters.values())
        if inspect.isclass(obj):
            params = params[1:]
        names += [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in names]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names, False
    return names, True


def _check_type_value(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"build: 'type' must be a registry key string like 'attention/temporal', got {value!r}")
    if "." in value or ":" in value:
        raise ValueError(
            f"build: 'type' must be a registry key ('kind/name'), not an import path; got {value!r}. "
            "Configs name registered components only."
        )
    return value


def _resolve_nested(value: Any) -> Any:
    if isinstance(value, Mapping) and "type" in value:
        return build(value)
    if isinstance(value, Mapping) and "_target_" in value:
        raise ValueError(f"build: '_target_' import paths are not allowed in configs, got {value['_target_']!r}")
    if isinstance(value, list | tuple):  # data, never built; still no import path hidden inside
        _check_no_target(value)
    return value


def _check_no_target(value: Any) -> None:
    """``_target_`` anywhere inside ``value`` (dicts, lists) is an error: configs never name import paths."""
    if isinstance(value, Mapping):
        if "_target_" in value:
            raise ValueError(f"build: '_target_' import paths are not allowed in configs, got {value['_target_']!r}")
        for item in value.values():
            _check_no_target(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_no_target(item)


def build(key_or_config: str | Mapping[str, Any], /, **kwargs: Any) -> Any:
    """Build a registered component: ``build("attention/temporal", dim=64, num_heads=4)`` or
    ``build({"type": "attention/temporal", "dim": 64, "num_heads": 4})``.

    Nested dicts with a ``"type"`` key are built first. Unknown keywords raise ``TypeError`` naming the accepted ones.
    """
    if isinstance(key_or_config, Mapping):
        config = dict(key_or_config)
        if "_target_" in config:
            raise ValueError(
                f"build: '_target_' import paths are not allowed; name a registry key with 'type', "
                f"got _target_={config['_target_']!r}"
            )
        if "type" not in config:
            raise ValueError(f"build: a config needs a 'type' naming a registry key, got keys {sorted(config)}")
        key = _check_type_value(config.pop("type"))
        config = {k: _resolve_nested(v) for k, v in config.items()}
        config.update(kwargs)
        kwargs = config
    else:
        key = _check_type_value(key_or_config)
    entry = get_component(key)
    names, accepts_any = _accepted_arguments(entry.obj)
    if not accepts_any:
        unknown = [k for k in kwargs if k not in names]
        if unknown:
            bad = unknown[0]
            close = difflib.get_close_matches(bad, names, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise TypeError(
                f"build({key!r}): unknown argument {bad!r}.{hint} Accepted arguments: {', '.join(names) or 'none'}."
            )
    obj = entry.obj(**kwargs)
    if not inspect.isclass(entry.obj) and getattr(obj, "_component_config", None) is None:
        cfg = {"type": key, **{k: v for k, v in kwargs.items() if k not in _PLACEMENT_ARGS}}
        try:
            obj._component_config = cfg
        except (AttributeError, TypeError):
            pass  # immutable results (plain floats, tuples) have no config to report
    return obj


def _unregister(key: str) -> None:
    """Remove an entry (tests only: registering throwaway components)."""
    _REGISTRY.pop(key, None)
