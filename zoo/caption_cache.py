"""Captions encoded once through the recipe's frozen text encoder, cached, and the encoder let go.

A text recipe fine-tuned on captioned clips (``zoo.captions``) is conditioned on ``c = E_text(caption)``: the text
encoder is frozen and deterministic, so each distinct caption's encoding is the same at every step. The trainer
therefore encodes every caption once (one at a time: ``(1, L, D)`` per caption and keyword, e.g. ``context``
``(1, 512, 4096)`` for Wan's UMT5-XXL), stores them in one safetensors file keyed (``zoo.tensor_cache``, the latent
cache's mechanism) by the caption texts and the encoder (its weights, its registry config, its tokenizer's
vocabulary), and puts ``CaptionEmbeddings`` in the pipeline in the encoder's place: a lookup with the encoder's
interface (``inputs = ("prompt",)``), so ``Pipeline.encode`` feeds the step's captions exactly as before. Nothing
references the text encoder afterwards, so its memory is freed for the rest of the run (11.4 GB for UMT5-XXL in
bf16; docs/training.md).

    replaced = cache_caption_embeddings(pipe, captions, "OUT/captions.safetensors")   # keys of the freed encoders
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch
from torch import Tensor

import components
from components.conditioning.encoder import ConditioningEncoder

from .tensor_cache import cache_key, cached_tensors, weights_digest


__all__ = ["CaptionEmbeddings", "cache_caption_embeddings", "caption_encoders"]


class CaptionEmbeddings(ConditioningEncoder):
    """A prompt encoder's outputs looked up by caption: ``prompt`` ``list[str]`` (or one string, repeated ``batch``
    times) → ``{keyword: (B, *shape)}``, each row the cached ``(*shape)`` encoding of its caption.

    Args:
        table: ``{caption: {keyword: (*shape) tensor}}``, every caption the run will ask for.
        outputs: the keywords (the replaced encoder's ``outputs``).
    """

    inputs, facts = ("prompt",), ("batch",)

    def __init__(self, table: dict[str, dict[str, Tensor]], outputs: tuple[str, ...]) -> None:
        super().__init__()
        self.table, self.outputs = table, tuple(outputs)

    def forward(self, prompt, *, batch: int | None = None) -> dict[str, Tensor]:
        prompts = [prompt] * (batch or 1) if isinstance(prompt, str) else list(prompt)
        unknown = [p for p in prompts if p not in self.table]
        if unknown:
            raise ValueError(f"caption cache: no cached encoding of the caption {unknown[0]!r} ({len(self.table)} "
                             f"caption(s) were encoded at the start of the run)")
        return {k: torch.stack([self.table[p][k] for p in prompts]) for k in self.outputs}


def caption_encoders(pipe) -> dict[str, ConditioningEncoder]:
    """The pipeline's encoders (registry key -> module) whose output is a function of the prompt alone: user input
    ``prompt`` only, and no generator among the run facts they take."""
    return {key: m for key, m in pipe.encoders().items()
            if tuple(m.inputs) == ("prompt",) and "generator" not in m.facts and not isinstance(m, CaptionEmbeddings)}


def _encoder_digest(module: ConditioningEncoder) -> str:
    """sha256 over the encoder's registry config, weights and (when it has one) its tokenizer's vocabulary."""
    h = hashlib.sha256()
    h.update(json.dumps(components.config_of(module), sort_keys=True, default=str).encode())
    h.update(weights_digest(module).encode())
    tokenizer = getattr(module, "tokenizer", None)
    if tokenizer is not None:
        h.update(f"{type(tokenizer).__name__}|{getattr(tokenizer, 'model_max_length', None)}".encode())
        if hasattr(tokenizer, "get_vocab"):
            h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    return h.hexdigest()


def _name(i: int, keyword: str) -> str:
    return f"{i}.{keyword}"


def cache_caption_embeddings(pipe, captions: dict[str, str], path: str | Path | None = None) -> list[str]:
    """Encode every distinct caption of ``captions`` (``{clip: caption}``) once through each of ``pipe``'s prompt
    encoders (``caption_encoders``), keep the encodings in ``path`` (safetensors; None: in memory only) and replace
    each encoder in ``pipe`` by its ``CaptionEmbeddings``; returns the replaced registry keys (one line on stderr)."""
    texts = sorted(set(captions.values()))
    replaced = []
    for key, module in caption_encoders(pipe).items():

        def encode(module=module) -> dict[str, Tensor]:
            with torch.no_grad():
                out = {}
                for i, text in enumerate(texts):  # one at a time: each encoding as a batch of one would give it
                    for keyword, value in module.encode({"prompt": [text]}, batch=1).items():
                        out[_name(i, keyword)] = value[0].detach().cpu()
                return out

        digest = hashlib.sha256(json.dumps(texts).encode()).hexdigest()
        file = None if path is None else Path(path)
        if file is not None and len(caption_encoders(pipe)) > 1:
            file = file.with_name(f"{file.stem}.{key.replace('/', '_')}{file.suffix}")
        if file is None:
            tensors, fresh = encode(), True
        else:
            tensors, fresh = cached_tensors(file, cache_key(digest, _encoder_digest(module)), encode,
                                            what="caption cache", stale="other captions or text encoder weights",
                                            metadata={"captions": str(len(texts))})
        table = {text: {k: tensors[_name(i, k)] for k in module.outputs} for i, text in enumerate(texts)}
        pipe.use_encoders({**pipe.encoders(), key: CaptionEmbeddings(table, tuple(module.outputs))})
        replaced.append(key)
        where = f"; cached in {file}" if file is not None else ""
        print(f"zoo train: {'encoded' if fresh else 'read'} {len(texts)} caption(s) through {key} once{where}; the "
              f"text encoder is unloaded for the rest of the run", file=sys.stderr)
    return replaced
