"""``conditioning/text``: prompts to cross-attention tokens ``context`` through a ``transformers`` text encoder.

``CLIPTextModel`` (SD 1.x / 2.x, ModelScope, Tune-A-Video, Video LDM, ...: the last hidden state, B × L × D) or
``T5EncoderModel`` (Latte-1, Open-Sora: the encoder's last hidden state), built from a config: random tiny ones for
tests, or ``pretrained=DIR`` (a local diffusers ``text_encoder`` folder, its ``tokenizer`` folder beside it) loaded
with ``local_files_only=True``: never a hub download. Without a real tokenizer the byte-level one is used.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ..registry import BadInput, register
from .encoder import ConditioningEncoder
from .tokenizer import VOCAB_SIZE, byte_tokenize


def _prompts(prompt, batch: int | None) -> list[str]:
    prompts = [prompt] if isinstance(prompt, str) else list(prompt) if isinstance(prompt, list | tuple) else None
    if prompts is None or not all(isinstance(p, str) for p in prompts):
        raise ValueError(f"prompt must be a string or a list of strings, got {type(prompt).__name__}")
    if batch is not None and len(prompts) == 1:
        prompts = prompts * batch
    return prompts


@register(
    "conditioning", "text",
    paper="Radford et al. 2021 (CLIP text encoder); Raffel et al. 2020 (T5 encoder)",
    tiny=dict(context_dim=16, num_layers=1, num_heads=2, max_length=8),
    inputs=lambda cfg, batch=2, generator=None, **_: (([f"prompt {i}: a dog on a skateboard" for i in range(batch)],),
                                                      {}),
    output_shape=lambda cfg, prompts, **kw: (len(prompts), cfg["max_length"], cfg["context_dim"]),
    bad_inputs=[BadInput(match="prompt must be a string", inputs=lambda cfg: ((3,), {}), why="not text")],
    dtypes=("float32", "bfloat16"),
)
class TextEncoder(ConditioningEncoder):
    """Prompts ``list[str]`` (or one string, repeated ``batch`` times) → ``{"context": (B, max_length, context_dim)}``.

    Args:
        context_dim: hidden size = the net's ``context_dim``; num_layers, num_heads, max_length: the tiny model's.
        kind: "clip" (``CLIPTextModel``) or "t5" (``T5EncoderModel``).
        pretrained: a local folder with the encoder's ``config.json`` + safetensors weights (a diffusers
            ``text_encoder`` folder; its ``tokenizer`` sibling, if any, is the tokenizer).
    """

    inputs, outputs, facts, sized_by = ("prompt",), ("context",), ("batch",), ("context_dim",)

    def __init__(self, context_dim: int = 768, *, num_layers: int = 12, num_heads: int = 12, max_length: int = 77,
                 kind: str = "clip", pretrained: str | None = None) -> None:
        super().__init__()
        import transformers

        if kind not in ("clip", "t5"):
            raise ValueError(f"kind must be 'clip' or 't5', got {kind!r}")
        self.max_length, self.kind, self.tokenizer = max_length, kind, None
        model_cls = transformers.CLIPTextModel if kind == "clip" else transformers.T5EncoderModel
        if pretrained is not None:
            folder = Path(pretrained)
            if not (folder / "config.json").is_file():
                raise ValueError(f"pretrained={str(folder)!r}: no config.json there (a text_encoder folder expected)")
            self.model = model_cls.from_pretrained(folder, local_files_only=True, use_safetensors=True)
            tok = folder.parent / "tokenizer"
            if tok.is_dir():
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(tok, local_files_only=True)
        elif kind == "clip":
            self.model = model_cls(transformers.CLIPTextConfig(
                vocab_size=VOCAB_SIZE, hidden_size=context_dim, intermediate_size=4 * context_dim,
                num_hidden_layers=num_layers, num_attention_heads=num_heads, max_position_embeddings=max_length,
                pad_token_id=0, bos_token_id=1, eos_token_id=0))
        else:
            self.model = model_cls(transformers.T5Config(
                vocab_size=VOCAB_SIZE, d_model=context_dim, d_ff=4 * context_dim, num_layers=num_layers,
                num_heads=num_heads, d_kv=context_dim // num_heads, pad_token_id=0))
        self.context_dim = self.model.config.hidden_size if kind == "clip" else self.model.config.d_model

    def tokenize(self, prompts: list[str]) -> Tensor:
        if self.tokenizer is None:
            return byte_tokenize(prompts, self.max_length)
        length = self.tokenizer.model_max_length  # the real tokenizer's (77 for CLIP) unless unbounded
        length = self.max_length if length > 4096 else length
        return self.tokenizer(prompts, padding="max_length", max_length=length, truncation=True,
                              return_tensors="pt").input_ids

    def forward(self, prompt, *, batch: int | None = None) -> dict[str, Tensor]:
        ids = self.tokenize(_prompts(prompt, batch)).to(next(self.model.parameters()).device)
        return {"context": self.model(input_ids=ids).last_hidden_state}

    @torch.no_grad()
    def null(self, batch: int) -> dict[str, Tensor]:
        """The empty prompt's encoding (classifier-free guidance's unconditional branch in SD-style pipelines)."""
        return self(["" for _ in range(batch)])

    def unconditional(self, cond, batch: int) -> dict[str, Tensor]:
        """The empty prompt's encoding (``null``), as SD-style pipelines guide with."""
        return self.null(batch)

    def load_parts(self, parts) -> None:
        """A folder's ``text_encoder`` (and its ``tokenizer``, if any)."""
        if parts.get("text_encoder") is not None:
            param = next(self.model.parameters())
            self.model = parts["text_encoder"].to(param.device).eval()
            self.tokenizer = parts.get("tokenizer")
