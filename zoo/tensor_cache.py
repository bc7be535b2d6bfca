"""Tensors computed once by a frozen module and kept in a safetensors file whose metadata holds a content key.

The one mechanism behind the latent cache (``zoo.latent_cache``: clips through the autoencoder) and the caption cache
(``zoo.caption_cache``: captions through the text encoder). The key is a sha256 over what the tensors depend on:
the inputs (the caller's digest) and the frozen module's weights (``weights_digest``: every tensor's name, dtype,
shape and bytes). A file with another key, or one that cannot be read, is recomputed (one line on stderr says why)
and written atomically (a temporary file beside it, then a rename), never trusted.

    key = cache_key(inputs_digest, weights_digest(module))
    tensors, fresh = cached_tensors(path, key, compute, what="latent cache",
                                    stale="other clips, options or autoencoder weights")
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn


__all__ = ["cache_key", "cached_tensors", "update_with_weights", "weights_digest"]


def update_with_weights(h, module: nn.Module) -> None:
    """Feed ``module``'s state dict into the hash ``h``: each tensor's name, dtype, shape and bytes, sorted by name."""
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def weights_digest(module: nn.Module) -> str:
    """sha256 over ``module``'s weights (``update_with_weights``)."""
    h = hashlib.sha256()
    update_with_weights(h, module)
    return h.hexdigest()


def cache_key(*digests: str) -> str:
    """sha256 over the concatenated digests (the inputs', the weights')."""
    return hashlib.sha256("".join(digests).encode()).hexdigest()


def cached_tensors(path: str | Path, key: str, compute: Callable[[], dict[str, Tensor]], *, what: str, stale: str,
                   metadata: dict[str, str] | None = None) -> tuple[dict[str, Tensor], bool]:
    """``(tensors, fresh)``: the tensors of ``path`` when its metadata ``key`` matches, else ``compute()`` written
    there with ``key`` (and ``metadata``); ``fresh`` says they were computed. ``what`` names the cache and ``stale``
    the reasons a key changes, in the one line printed for a stale file."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = Path(path)
    if path.is_file():
        try:
            with safe_open(str(path), framework="pt") as f:
                if (f.metadata() or {}).get("key") == key:
                    return {name: f.get_tensor(name) for name in f.keys()}, False  # noqa: SIM118 (safe_open)
            print(f"zoo train: {what} {path} is stale ({stale}); encoding again", file=sys.stderr)
        except Exception as err:  # a truncated or foreign file is recomputed, never trusted
            print(f"zoo train: {what} {path} is unreadable ({err}); encoding again", file=sys.stderr)
    tensors = {name: t.contiguous() for name, t in compute().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={**(metadata or {}), "key": key})
    tmp.replace(path)
    return tensors, True
