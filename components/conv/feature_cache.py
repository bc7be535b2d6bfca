"""The streaming state of a causal stack: what each causal layer must remember between chunks of one clip.

A causal video encoder/decoder (Wan 2.1 / 2.2's VAE) runs a long clip chunk by chunk so memory is bounded by the
chunk, not the clip. Each layer that looks back in time keeps the frames (or flags) it needs from the previous
chunks in one ``FeatureCache``, keyed by the layer itself; a layer that finds no entry is at the start of the clip.
Every layer defines its one-shot behaviour (``cache=None``) so that feeding the chunks through one cache gives the
one-shot result: for a causal conv with temporal kernel ``k_t`` the entry is the last ``k_t − 1`` frames of its
padded input,

    y[i] = Σ_{τ=0}^{k_t−1} W_τ * x[i − τ],   x[j] for j < start of chunk read from the cache (zeros before the clip).

[V-code: diffusers autoencoder_kl_wan.py ``feat_cache`` / ``feat_idx`` lists, indexed by call order; here the key is
the layer, so no counter has to be threaded through the calls.]
"""

from __future__ import annotations

from typing import Any

from torch import nn


class FeatureCache:
    """Per-layer state of one clip streamed chunk by chunk: ``cache.get(layer)``, ``cache.set(layer, value)``.

    Use one cache per clip (and per spatial tile): ``cache = FeatureCache(); for chunk in chunks: y = net(chunk,
    cache)``. ``layer in cache`` says whether the layer has already seen a chunk of this clip.
    """

    def __init__(self) -> None:
        self._state: dict[nn.Module, Any] = {}

    def __contains__(self, layer: nn.Module) -> bool:
        return layer in self._state

    def __len__(self) -> int:
        return len(self._state)

    def get(self, layer: nn.Module, default: Any = None) -> Any:
        return self._state.get(layer, default)

    def set(self, layer: nn.Module, value: Any) -> None:
        self._state[layer] = value

    def items(self):
        """``(layer, state)`` pairs (to inspect what a stream holds)."""
        return self._state.items()

    def clear(self) -> None:
        self._state.clear()

    def __repr__(self) -> str:
        return f"FeatureCache({len(self)} layers)"


def is_clip_start(layer: nn.Module, cache: FeatureCache | None) -> bool:
    """Whether ``layer``'s input starts the clip: always one-shot (``cache=None``), else only on its first chunk;
    marks the layer as started (for layers whose only state is that flag)."""
    if cache is None:
        return True
    first = layer not in cache
    if first:
        cache.set(layer, True)
    return first
