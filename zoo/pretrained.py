"""``pipe.save_pretrained(DIR)`` / ``zoo.from_pretrained(DIR)``: a whole pipeline in a local folder, safetensors only.

    pipe = zoo.create_pipeline("modelscope_t2v", "tiny", sampler="euler")
    pipe.save_pretrained("t2v")                      # every part, the plan, the dtype
    pipe = zoo.from_pretrained("t2v", device="cuda") # the same pipeline: same weights, same sampling
    export_run("runs/vdm", "vdm-pipeline")           # a `zoo train` run's newest checkpoint as such a folder

The folder (``FORMAT`` version ``VERSION``)::

    zoo_pipeline.json                       the index: library, format version, plan config, dtype, every part
    model.safetensors                       the (first) net
    autoencoder.safetensors                 latent recipes only
    encoders/<kind>_<name>.safetensors      one per conditioning encoder (registry key, "/" -> "_")
    encoders/<kind>_<name>.tokenizer/       a text encoder's transformers tokenizer (json / txt), if it has one
    stage1/ stage2/ ...                     a cascade's later stages, each with the same layout less the index

The index names registry keys and recipe names only: each part's ``components.config_of`` config (which
``components.build`` rebuilds), the plan's ``Plan.to_config()`` (recipe, preset, the user's sampling overrides). A
transformers model inside an encoder (CLIP / T5) is recorded by its transformers config and rebuilt by the class the
registry-built encoder holds, never by a name from the file; tokenizers load with ``local_files_only=True``. Loading
refuses ``_target_`` and import paths anywhere in the index, reads plain JSON and safetensors (never unpickles, never
touches the network) and loads every tensor strictly. Tied tensors (T5's shared embedding) are stored once and
recorded as ``tied`` aliases; each tensor keeps its dtype (a bf16 pipeline loads as bf16).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

import components


__all__ = ["FORMAT", "INDEX", "VERSION", "export_run", "from_pretrained", "save_pretrained"]

INDEX = "zoo_pipeline.json"
FORMAT = "zoo-pipeline"
VERSION = 1
LIBRARY = "video-diffusion-zoo"
# transformers config entries that describe where / how a model was loaded, not what it is
_VOLATILE = ("_name_or_path", "transformers_version", "torch_dtype", "dtype", "_commit_hash")
_IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+(:[A-Za-z_]\w*)?$|^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16}


# ---------------------------------------------------------------------------------------------------------- saving
def save_pretrained(pipe, path, *, source: Mapping | None = None) -> Path:
    """Write ``pipe`` (a ``zoo.pipeline.Pipeline``) to the local folder ``path`` (layout: the module docstring).

    Every part is written, so the autoencoder and encoders are built first if they were not (random unless loaded).
    The folder is written beside ``path`` under a hidden name and renamed into place, replacing an earlier saved
    pipeline; an existing non-empty folder that is not one is refused. ``source``: JSON-able provenance recorded in
    the index (``export_run`` records the checkpoint's step). Returns the folder."""
    from .checkpoint import _version, start

    final = Path(path)
    if final.exists() and not final.is_dir():
        raise ValueError(f"save_pretrained: {final} is a file; give a folder path")
    if final.is_dir() and any(final.iterdir()) and not (final / INDEX).is_file():
        raise ValueError(f"save_pretrained: {final} is a non-empty folder that is not a saved pipeline (no {INDEX}); "
                         "give a new or empty folder")
    tmp = start(final)
    try:
        index = {"library": LIBRARY, "format": FORMAT, "format_version": VERSION, "library_version": _version(),
                 "plan": pipe.plan.to_config(), "dtype": _dtype_name(pipe.dtype), **_save_parts(pipe, tmp, "")}
        if source is not None:
            index["source"] = json.loads(json.dumps(dict(source)))
        (tmp / INDEX).write_text(json.dumps(index, indent=2) + "\n")
        old = final.parent / f".{final.name}.old"
        if old.exists():
            shutil.rmtree(old)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _save_parts(pipe, root: Path, prefix: str) -> dict:
    """``{"recipe", "parts", "stages"}`` of one pipeline, its files written under ``root / prefix``."""
    parts: dict[str, Any] = {"model": _save_module(pipe.model, root, f"{prefix}model.safetensors")}
    vae = pipe.autoencoder
    parts["autoencoder"] = None if vae is None else _save_module(vae, root, f"{prefix}autoencoder.safetensors")
    encoders, names = {}, set()
    for key, module in pipe.encoders().items():
        name = re.sub(r"[^A-Za-z0-9_-]", "_", key)
        if name in names:
            raise ValueError(f"save_pretrained: two encoder keys give the file name {name!r}")
        names.add(name)
        entry = _save_module(module, root, f"{prefix}encoders/{name}.safetensors")
        if entry["config"] is not None:
            entry["config"].pop("pretrained", None)  # a local path of this machine: the weights are in the file
        entry["transformers"] = {child: _transformers_record(model) for child, model in _transformers_children(module)}
        entry["tokenizer"] = _save_tokenizer(getattr(module, "tokenizer", None), root,
                                             f"{prefix}encoders/{name}.tokenizer", key)
        encoders[key] = entry
    parts["encoders"] = encoders
    stages = [_save_parts(stage_pipe, root, f"{prefix}stage{i}/") for i, (_, stage_pipe) in
              enumerate(pipe.stages, start=1)]
    return {"recipe": pipe.name, "parts": parts, "stages": stages}


def _save_module(module: nn.Module, root: Path, file: str) -> dict:
    """One safetensors file of ``module``'s state dict; its index entry (file, registry config, dtype, tied names)."""
    from safetensors.torch import save_file

    state = module.state_dict()
    tensors, tied, kept = {}, {}, {}
    for name, tensor in state.items():
        tensor = tensor.detach()
        same = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape),
                tuple(tensor.stride()), tensor.dtype) if tensor.numel() else None
        if same is not None and same in kept:  # the same tensor under a second name (tied weights): stored once
            tied[name] = kept[same]
            continue
        if same is not None:
            kept[same] = name
        tensors[name] = tensor
    seen: set[int] = set()
    for name, tensor in tensors.items():  # safetensors refuses shared storage and non-contiguous tensors
        tensor = tensor.cpu()
        ptr = tensor.untyped_storage().data_ptr()
        if not tensor.is_contiguous() or (tensor.numel() and ptr in seen) or tensor.numel() != \
                tensor.untyped_storage().nbytes() // max(tensor.element_size(), 1):
            tensor = tensor.clone().contiguous()
        seen.add(tensor.untyped_storage().data_ptr())
        tensors[name] = tensor
    target = root / file
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(target), metadata={"format": "pt", "library": LIBRARY})
    floats = [t.dtype for t in state.values() if t.is_floating_point()]
    entry = {"file": file, "config": _config_or_none(module), "dtype": _dtype_name(floats[0]) if floats else None}
    if tied:
        entry["tied"] = tied
    return entry


def _config_or_none(module: nn.Module) -> dict | None:
    try:
        return components.config_of(module)
    except ValueError:  # not registry-built: rebuilt the way the pipeline builds it (the preset's)
        return None


def _transformers_children(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The outermost ``transformers.PreTrainedModel`` submodules of ``module`` (the CLIP / T5 an encoder holds)."""
    transformers = sys.modules.get("transformers")
    if transformers is None:  # nothing can be a transformers model if transformers was never imported
        return []
    found: list[tuple[str, nn.Module]] = []
    for name, child in module.named_modules():
        if name and isinstance(child, transformers.PreTrainedModel) and not any(
                name.startswith(f"{outer}.") for outer, _ in found):
            found.append((name, child))
    return found


def _transformers_record(model: nn.Module) -> dict:
    config = {k: v for k, v in model.config.to_dict().items() if k not in _VOLATILE}
    return {"class": type(model).__name__, "config": config,
            "attn_implementation": getattr(model.config, "_attn_implementation", None)}


def _save_tokenizer(tokenizer, root: Path, folder: str, key: str) -> str | None:
    """A transformers tokenizer's own files (``save_pretrained``: json / txt, no pickle) in ``folder``; None for
    the built-in byte tokenizer."""
    if tokenizer is None:
        return None
    transformers = sys.modules.get("transformers")
    if transformers is None or not isinstance(tokenizer, transformers.PreTrainedTokenizerBase):
        raise ValueError(f"save_pretrained: the tokenizer of {key} is a {type(tokenizer).__name__}, not a "
                         "transformers tokenizer; only those (or the built-in byte tokenizer) can be saved")
    tokenizer.save_pretrained(str(root / folder))
    return folder


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


# ---------------------------------------------------------------------------------------------------------- loading
def from_pretrained(path, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
    """The pipeline ``save_pretrained`` wrote to the local folder ``path``: plan, nets, autoencoder, encoders and
    tokenizers, each tensor in its saved dtype; then moved to ``device`` / ``dtype`` if given. A folder that is not
    a saved pipeline, a missing or broken file, or weights that do not fit raise one-line ``ValueError``s naming
    the folder and what is wrong. Local files only: nothing is downloaded, nothing unpickled."""
    from .plan import Plan

    root = Path(path)
    index = _read_index(root)
    _check_registry_names(index, root)
    try:
        plan = Plan.from_config(index["plan"])
    except (KeyError, TypeError, ValueError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise ValueError(f"from_pretrained: {root / INDEX} has a plan that does not resolve: {message}") from None
    pipe = _load_pipeline(plan, index, root, "")
    if device is not None or dtype is not None:
        pipe.to(device, dtype)
    return pipe


def _read_index(root: Path) -> dict:
    if not root.is_dir():
        raise ValueError(f"from_pretrained: {root} is not a folder (a folder written by pipe.save_pretrained "
                         "expected)")
    file = root / INDEX
    if not file.is_file():
        hint = (" (it has a diffusers model_index.json: load diffusers folders with zoo.convert / `python -m zoo "
                "sample NAME --weights DIR`)" if (root / "model_index.json").is_file() else "")
        raise ValueError(f"from_pretrained: {root} is not a saved pipeline: {INDEX} is missing{hint}")
    try:
        index = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"from_pretrained: {file} is not readable JSON ({err})") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT or index.get("library") != LIBRARY:
        raise ValueError(f"from_pretrained: {file} is not a {LIBRARY} pipeline index (format {FORMAT!r} expected)")
    version = index.get("format_version")
    if not isinstance(version, int) or version > VERSION:
        raise ValueError(f"from_pretrained: {file} has format_version {version!r}; this version of {LIBRARY} reads "
                         f"up to {VERSION} (upgrade the library)")
    for key in ("plan", "parts"):
        if not isinstance(index.get(key), dict):
            raise ValueError(f"from_pretrained: {file} has no {key!r} entry")
    return index


def _check_registry_names(index: Mapping, root: Path) -> None:
    """Refuse ``_target_`` keys anywhere in the index, and import paths (``pkg.module.Class``, ``module:attr``) in
    its plan and registry configs: configs name registry keys and recipes only. (``components.build`` refuses a
    dotted ``type`` and a ``_target_`` anywhere in a config too; this check names the index entry, and the
    transformers configs are read by a fixed config class, never resolved.)"""

    def walk(value, where: str, paths: bool) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if key == "_target_":
                    raise ValueError(f"from_pretrained: {root / INDEX} has '_target_' at {where or 'the top'}: "
                                     "configs name registry keys only, never import paths")
                walk(item, f"{where}.{key}" if where else str(key), paths)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                walk(item, f"{where}[{i}]", paths)
        elif paths and isinstance(value, str) and _IMPORT_PATH.match(value):
            raise ValueError(f"from_pretrained: {root / INDEX} names the import path {value!r} at {where}: configs "
                             "name registry keys only")

    walk(index, "", False)
    walk(index.get("plan"), "plan", True)

    def configs(record, where: str) -> None:
        if not isinstance(record, Mapping):
            return
        parts = record.get("parts") if isinstance(record.get("parts"), Mapping) else {}
        entries = {name: parts.get(name) for name in ("model", "autoencoder")}
        encoders = parts.get("encoders") if isinstance(parts.get("encoders"), Mapping) else {}
        entries.update({f"encoders.{key}": entry for key, entry in encoders.items()})
        for name, entry in entries.items():
            if isinstance(entry, Mapping):
                walk(entry.get("config"), f"{where}parts.{name}.config", True)
        for i, stage in enumerate(record.get("stages") or [], start=1):
            configs(stage, f"{where}stages[{i - 1}].")

    configs(index, "")


def _load_pipeline(plan, record: Mapping, root: Path, where: str):
    """The pipeline of ``plan`` with every part of ``record`` (one level of the index) loaded."""
    import zoo

    from .pipeline import Pipeline, _declared_encoders

    parts = record.get("parts")
    if not isinstance(parts, Mapping) or not isinstance(parts.get("model"), Mapping):
        raise ValueError(f"from_pretrained: {root / INDEX} has no model entry{where}")
    if record.get("recipe") not in (None, plan.name):
        raise ValueError(f"from_pretrained: {root / INDEX} holds {record.get('recipe')!r} weights{where}, but the plan "
                         f"makes {plan.name!r} there")
    stage_records = list(record.get("stages") or [])
    if len(stage_records) != len(plan.stages):
        raise ValueError(f"from_pretrained: {root / INDEX} has {len(stage_records)} later stages{where}; plan "
                         f"{plan.name!r} has {len(plan.stages)}")

    model = _build(parts["model"], root, f"model{where}")
    if model is None:  # not registry-built when saved: the preset's net
        model = zoo.create_model(plan.name, plan.preset)
    else:
        model = plan.recipe.mark_trainable(model)
    _load_state(model, parts["model"], root, f"model{where}")
    stages = [_load_pipeline(stage_plan, sub, root, f" of stage {i}")
              for i, ((_, stage_plan), sub) in enumerate(zip(plan.stages, stage_records, strict=True), 1)]
    pipe = Pipeline.from_plan(plan, model, stages=stages)

    vae_record = parts.get("autoencoder")
    if (vae_record is None) != (plan.recipe.autoencoder is None):
        raise ValueError(f"from_pretrained: {root / INDEX} {'has no' if vae_record is None else 'has an'} "
                         f"autoencoder entry{where}, but {plan.name!r} is a "
                         f"{'latent' if vae_record is None else 'pixel-space'} recipe")
    if vae_record is not None:
        vae = _build(vae_record, root, f"autoencoder{where}")
        vae = pipe.autoencoder if vae is None else vae  # not registry-built when saved: the pipeline's own
        _load_state(vae, vae_record, root, f"autoencoder{where}")
        pipe.autoencoder = vae.eval()

    records = parts.get("encoders") or {}
    declared = {key for key, _ in _declared_encoders(plan.recipe).values()}
    if set(records) != declared:
        missing = sorted(declared - set(records)) or sorted(set(records) - declared)
        raise ValueError(f"from_pretrained: {root / INDEX} {'lacks' if declared - set(records) else 'has extra'} "
                         f"encoder entries {missing}{where} ({plan.name!r} declares {sorted(declared) or 'none'})")
    if records:  # the loaded encoders instead of the random ones the pipeline would build on first use
        pipe.use_encoders({key: _load_encoder(key, entry, root, where) for key, entry in records.items()})
    return pipe


def _load_encoder(key: str, entry: Mapping, root: Path, where: str) -> nn.Module:
    """Encoder ``key`` rebuilt from its registry config, its transformers models from their configs, loaded."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("config"), Mapping) or \
            entry["config"].get("type") != key:
        raise ValueError(f"from_pretrained: {root / INDEX} has no {key} config for encoder {key}{where}")
    module = _build(entry, root, f"encoder {key}{where}")
    children = dict(_transformers_children(module))
    for name, record in (entry.get("transformers") or {}).items():
        if name not in children:
            raise ValueError(f"from_pretrained: {root / INDEX} records a transformers model {name!r} in encoder "
                             f"{key}{where}, which that encoder does not hold")
        rebuilt = _transformers_model(children[name], record, root, f"{key}.{name}{where}")
        if rebuilt is not None:
            # an encoder that runs its model changed (e.g. without its final norm) restores that change
            adopt = getattr(module, "adopt_transformers_model", None)
            rebuilt = adopt(name, rebuilt) if adopt is not None else rebuilt
            parent, _, attr = name.rpartition(".")
            setattr(module.get_submodule(parent), attr, rebuilt)
    _load_state(module, entry, root, f"encoder {key}{where}")
    folder = entry.get("tokenizer")
    if folder is not None:
        if not hasattr(module, "tokenizer"):
            raise ValueError(f"from_pretrained: {root / INDEX} records a tokenizer for encoder {key}{where}, which "
                             "takes none")
        module.tokenizer = _load_tokenizer(root, folder, f"{key}{where}")
    return module.eval()


def _transformers_model(current: nn.Module, record: Mapping, root: Path, where: str) -> nn.Module | None:
    """A model of ``current``'s class built from the recorded transformers config, or None when ``current`` already
    has that config. The class is the one the registry-built encoder holds, never a name read from the file."""
    cls = type(current)
    if record.get("class") != cls.__name__ or not isinstance(record.get("config"), Mapping):
        raise ValueError(f"from_pretrained: {root / INDEX} records a {record.get('class')!r} for {where}, where the "
                         f"encoder holds a {cls.__name__}")
    saved = dict(record["config"])
    own = {k: v for k, v in current.config.to_dict().items() if k not in _VOLATILE}
    attn = record.get("attn_implementation")
    if own == saved and attn in (None, getattr(current.config, "_attn_implementation", None)):
        return None
    config = cls.config_class.from_dict(saved)
    if attn is not None:
        config._attn_implementation = attn
    param = next(current.parameters(), None)
    model = cls(config)
    return model.to(param.device) if param is not None else model


def _load_tokenizer(root: Path, folder: str, where: str):
    path = _inside(root, folder, where)
    if not path.is_dir():
        raise ValueError(f"from_pretrained: {root} is missing {folder}/ (the tokenizer of {where})")
    import transformers

    try:
        return transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"from_pretrained: {path} is not a readable tokenizer ({' '.join(str(err).split())})") from None


def _inside(root: Path, relative, where: str) -> Path:
    """``root / relative``, refused unless it stays inside ``root`` (the index names files of its own folder)."""
    if not isinstance(relative, str) or not relative:
        raise ValueError(f"from_pretrained: {root / INDEX} names no file for {where}")
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ValueError(f"from_pretrained: {root / INDEX} names {relative!r} for {where}, outside the folder")
    return path


def _build(entry: Mapping, root: Path, where: str) -> nn.Module | None:
    """The registry build of an entry's config (None when the part was not registry-built)."""
    if not isinstance(entry, Mapping):
        raise ValueError(f"from_pretrained: {root / INDEX} has a malformed entry for {where}")
    config = entry.get("config")
    if config is None:
        return None
    try:
        return components.build(config)
    except (KeyError, TypeError, ValueError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise ValueError(f"from_pretrained: {root / INDEX} has a {where} config that does not build: "
                         f"{' '.join(str(message).split())}") from None


def _load_state(module: nn.Module, entry: Mapping, root: Path, where: str) -> None:
    """Load an entry's safetensors file into ``module``, strictly, each tensor in its saved dtype."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    file = _inside(root, entry.get("file"), where)
    if not file.is_file():
        raise ValueError(f"from_pretrained: {root} is missing {entry.get('file')} (the {where})")
    try:
        state = load_file(str(file))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"from_pretrained: {file} is not a readable safetensors file ({err})") from None
    for alias, name in (entry.get("tied") or {}).items():
        if name not in state:
            raise ValueError(f"from_pretrained: {file} lacks {name!r} (tied to {alias!r})")
        state[alias] = state[name]
    dtype = _DTYPES.get(entry.get("dtype"))
    if dtype is not None:
        module.to(dtype)
    own = dict(module.named_parameters(remove_duplicate=False))
    own.update(module.named_buffers(remove_duplicate=False))
    for name, tensor in own.items():  # a part of mixed precision keeps each tensor's saved dtype
        saved = state.get(name)
        if saved is not None and saved.dtype != tensor.dtype and saved.is_floating_point() and \
                tensor.is_floating_point():
            tensor.data = tensor.data.to(saved.dtype)
    from .checkpoint import state_mismatch

    mismatch = state_mismatch(module.state_dict(), state)
    if mismatch:
        raise ValueError(f"from_pretrained: {file} does not fit the {where} its config builds: {mismatch}")
    module.load_state_dict(state, strict=True)


# ---------------------------------------------------------------------------------------------------------- runs
def export_run(run, out, *, dtype: torch.dtype | None = None, weights: str | Path | None = None,
               **plan_overrides) -> Path:
    """Write the pipeline of a ``zoo train`` run to ``out`` (``save_pretrained``): the run's recipe and preset, its
    net built with the run's constructor overrides and its checkpoint's (EMA) weights loaded strictly.

    ``run``: the run's ``--out`` folder, its ``checkpoints/`` folder (both: the newest valid checkpoint) or one
    checkpoint directory (``zoo.sample.resolve_checkpoint``). ``plan_overrides``: sampling overrides of the saved plan
    (``sampler``, ``steps``, ... as ``zoo.resolve``); ``dtype``: the saved precision (default the checkpoint's).
    The parts training does not touch (autoencoder, encoders, a cascade's later stages) are the pipeline's own,
    random-initialised from the run's seed, or those of the run's ``--weights`` folder (``weights``: where that
    folder is now); a ``--lora`` run's adapters are merged into that folder's net (``zoo.lora.merge_lora``), so the
    saved folder is a plain full pipeline. Returns ``out``."""
    import warnings

    import zoo

    from .sample import load_weights, resolve_checkpoint

    file, config = resolve_checkpoint(run)
    if not config.get("model"):
        raise ValueError(f"export: {file} has no config.json beside it naming its recipe (a checkpoint written by "
                         "`python -m zoo train` expected)")
    name, preset = config["model"], config.get("preset", "tiny")
    train = config.get("train") or {}
    torch.manual_seed(int(train.get("seed", 0)))
    folder = weights or train.get("weights")
    parts = {}
    if folder:  # a fine-tuned run: the other parts (and a LoRA run's base net) are its --weights folder's
        from .finetune import pretrained_parts

        if not Path(folder).is_dir():
            raise ValueError(f"export: the run was trained from --weights {folder}, which is not a folder here; "
                             "give the folder with --weights DIR")
        parts = pretrained_parts(name, folder, preset)
    model = parts.pop("model", None) or zoo.create_model(name, preset, **(train.get("overrides") or {}))
    if train.get("lora"):
        from .lora import load_lora_checkpoint, merge_lora

        if not folder:
            raise ValueError(f"export: {file} holds LoRA adapters without the --weights folder they adapt")
        merge_lora(load_lora_checkpoint(model, file, config))  # W = W0 + (alpha/r) B A: a plain net again
    else:
        load_weights(model, file)
    pipe = zoo.create_pipeline(name, preset, model=model, **plan_overrides)
    if parts:
        pipe.use_parts(parts)
    if pipe.stages:
        warnings.warn(f"export: {name} is a cascade; `zoo train` trains its first model, so its {len(pipe.stages)} "
                      "later stage(s) are exported at random initialisation", UserWarning, stacklevel=2)
    if dtype is not None:
        pipe.to(dtype=dtype)
    source = {"kind": "zoo train checkpoint", "trained_as": f"{name}/{preset}", "step": config.get("step"),
              "checkpoint": file.parent.name if file.name == "model.safetensors" else file.name}
    if train.get("lora"):
        source["lora"] = {"rank": train["lora"], "alpha": train.get("lora_alpha"), "merged": True}
    return save_pretrained(pipe, out, source=source)
