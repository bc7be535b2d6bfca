"""``conditioning/text``: prompts to cross-attention tokens ``context`` through a ``transformers`` text encoder.

``CLIPTextModel`` (SD 1.x / 2.x, ModelScope, Tune-A-Video, Video LDM, ...: the last hidden state, B × L × D) or
``T5EncoderModel`` (Latte-1, Open-Sora: the encoder's last hidden state) or ``UMT5EncoderModel`` (Wan 2.1 / 2.2: the
last hidden state under the attention mask, then every padding position set to zero, as diffusers'
``WanPipeline._get_t5_prompt_embeds`` trims each prompt to its length and zero-pads it to ``max_length`` = 512;
prompts cleaned as Wan does: ftfy if installed, HTML unescaped twice, runs of whitespace to one space), built from a
config: random tiny ones for tests, or ``pretrained=DIR`` (a local diffusers ``text_encoder`` folder, its ``tokenizer`` folder beside it) loaded
with ``local_files_only=True``: never a hub download. Without a real tokenizer the byte-level one is used.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import torch
from torch import Tensor

from ..registry import BadInput, register
from .encoder import ConditioningEncoder
from .tokenizer import PAD, VOCAB_SIZE, byte_tokenize


MODELS = {"clip": "CLIPTextModel", "t5": "T5EncoderModel", "umt5": "UMT5EncoderModel"}
MASKS = ("none", "output", "encode")


def _prompts(prompt, batch: int | None) -> list[str]:
    prompts = [prompt] if isinstance(prompt, str) else list(prompt) if isinstance(prompt, list | tuple) else None
    if prompts is None or not all(isinstance(p, str) for p in prompts):
        raise ValueError(f"prompt must be a string or a list of strings, got {type(prompt).__name__}")
    if batch is not None and len(prompts) == 1:
        prompts = prompts * batch
    return prompts


def wan_clean(prompt: str) -> str:
    """Wan's prompt cleaning [V-code: diffusers pipeline_wan.py ``prompt_clean``]: ``ftfy.fix_text`` (if ftfy is
    installed, as diffusers), HTML entities unescaped twice, whitespace runs to one space, stripped."""
    try:
        import ftfy

        prompt = ftfy.fix_text(prompt)
    except ImportError:
        pass
    return re.sub(r"\s+", " ", html.unescape(html.unescape(prompt)).strip()).strip()


@register(
    "conditioning", "text",
    paper="Radford et al. 2021 (CLIP text encoder); Raffel et al. 2020 (T5 encoder); Chung et al. 2023 (umT5)",
    tiny=dict(context_dim=16, num_layers=1, num_heads=2, max_length=8),
    inputs=lambda cfg, batch=2, generator=None, **_: (([f"prompt {i}: a dog on a skateboard" for i in range(batch)],),
                                                      {}),
    output_shape=lambda cfg, prompts, **kw: (len(prompts), cfg["max_length"], cfg["context_dim"]),
    bad_inputs=[BadInput(match="prompt must be a string", inputs=lambda cfg: ((3,), {}), why="not text"),
                BadInput(match="mask must be one of", init={"mask": "soft"}, why="no such mask mode")],
    dtypes=("float32", "bfloat16"),
)
class TextEncoder(ConditioningEncoder):
    """Prompts ``list[str]`` (or one string, repeated ``batch`` times) → ``{"context": (B, max_length, context_dim)}``.

    Args:
        context_dim: hidden size = the net's ``context_dim``; num_layers, num_heads, max_length: the tiny model's.
        kind: "clip" (``CLIPTextModel``), "t5" (``T5EncoderModel``) or "umt5" (``UMT5EncoderModel``: masked, padding
            positions zero, Wan's prompt cleaning).
        pretrained: a local folder with the encoder's ``config.json`` + safetensors weights (a diffusers
            ``text_encoder`` folder; its ``tokenizer`` sibling, if any, is the tokenizer).
        mask: "none" (``{"context"}``), "output" (also the tokenizer's attention mask as ``context_mask`` (B, L), 1 =
            a real token, for the net's cross-attention; the encoder itself runs unmasked: LTX-Video [V-code:
            diffusers pipeline_ltx.py ``_get_t5_prompt_embeds``]) or "encode" (the encoder also runs under that mask:
            Mochi [V-code: pipeline_mochi.py ``_get_t5_prompt_embeds``]). Not for "umt5", which always masks.
    """

    inputs, outputs, facts, sized_by = ("prompt",), ("context",), ("batch",), ("context_dim",)

    def __init__(self, context_dim: int = 768, *, num_layers: int = 12, num_heads: int = 12, max_length: int = 77,
                 kind: str = "clip", pretrained: str | None = None, mask: str = "none") -> None:
        super().__init__()
        import transformers

        if kind not in MODELS:
            raise ValueError(f"kind must be one of {sorted(MODELS)}, got {kind!r}")
        if mask not in MASKS or (kind == "umt5" and mask != "none"):
            raise ValueError(f"mask must be one of {MASKS} (and 'none' for kind='umt5', which always masks), got "
                             f"mask={mask!r} with kind={kind!r}")
        self.mask = mask
        if mask != "none":
            self.outputs = ("context", "context_mask")
        self.max_length, self.kind, self.tokenizer = max_length, kind, None
        model_cls = getattr(transformers, MODELS[kind])
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
            config_cls = transformers.T5Config if kind == "t5" else transformers.UMT5Config
            self.model = model_cls(config_cls(
                vocab_size=VOCAB_SIZE, d_model=context_dim, d_ff=4 * context_dim, num_layers=num_layers,
                num_heads=num_heads, d_kv=context_dim // num_heads, pad_token_id=PAD))
        self.context_dim = self.model.config.hidden_size if kind == "clip" else self.model.config.d_model

    def tokenize(self, prompts: list[str]) -> Tensor:
        """``(B, L)`` token ids (``tokenize_masked``'s ids)."""
        return self.tokenize_masked(prompts)[0]

    def tokenize_masked(self, prompts: list[str]) -> tuple[Tensor, Tensor]:
        """``(B, L)`` token ids and their attention mask (1 = a real token); L = the real tokenizer's length (77 for
        CLIP) unless unbounded, else ``max_length``; always ``max_length`` for UMT5 (Wan pads to 512)."""
        if self.tokenizer is None:
            ids = byte_tokenize(prompts, self.max_length)
            # BOS, the bytes, then PAD: the real tokens are those before the first PAD
            return ids, (torch.cumsum((ids == PAD).long(), dim=1) == 0).long()
        length = self.tokenizer.model_max_length
        length = self.max_length if length > 4096 or self.kind == "umt5" else length
        tokens = self.tokenizer(prompts, padding="max_length", max_length=length, truncation=True,
                                return_attention_mask=True, return_tensors="pt")
        return tokens.input_ids, tokens.attention_mask

    def forward(self, prompt, *, batch: int | None = None) -> dict[str, Tensor]:
        prompts = _prompts(prompt, batch)
        if self.kind != "umt5":
            ids, attention = (t.to(next(self.model.parameters()).device) for t in self.tokenize_masked(prompts))
            encoded = self.model(input_ids=ids, attention_mask=attention if self.mask == "encode" else None)
            out = {"context": encoded.last_hidden_state}
            return out if self.mask == "none" else {**out, "context_mask": attention}
        # [V-code: diffusers pipeline_wan.py _get_t5_prompt_embeds]: masked encoding, each prompt trimmed to its
        # length and zero-padded back (a zero where the mask is 0: the mask is one run of ones)
        ids, mask = (t.to(next(self.model.parameters()).device) for t in self.tokenize_masked(
            [wan_clean(p) for p in prompts]))
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        return {"context": hidden.masked_fill(mask[..., None] == 0, 0.0)}

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
