"""``conditioning/clip_pooled``: prompts to one pooled text vector ``added_cond`` through a ``CLIPTextModel``: its
``pooler_output``, the final-LayerNormed hidden state at the end-of-text token, (B, D) (HunyuanVideo's CLIP-L
vector, embedded into the modulation with the time step).

[V-code: diffusers pipeline_hunyuan_video.py ``_get_clip_prompt_embeds``: the prompt padded / truncated to 77
tokens, ``text_encoder_2(ids).pooler_output``, no attention mask.] Random tiny models (tests, conformance) use the
byte-level tokenizer (``tokenizer.py``; its PAD = 0 is CLIP's end-of-text id, so pooling finds the first PAD);
real weights come with their tokenizer (``load_parts``: a diffusers folder's ``text_encoder_2`` + ``tokenizer_2``,
where HunyuanVideo keeps CLIP-L beside the LLaMA ``text_encoder``).
"""

from __future__ import annotations

from torch import Tensor

from ..registry import BadInput, register
from .encoder import ConditioningEncoder
from .text import _prompts
from .tokenizer import BOS, PAD, VOCAB_SIZE, byte_tokenize


__all__ = ["CLIPPooledEncoder"]


@register(
    "conditioning", "clip_pooled",
    paper="Radford et al. 2021 (CLIP text encoder); Kong et al. 2024 (HunyuanVideo), §3.3",
    tiny=dict(added_cond_dim=8, num_layers=1, num_heads=2, max_length=8),
    inputs=lambda cfg, batch=2, generator=None, **_: (([f"prompt {i}: a dog on a skateboard" for i in range(batch)],),
                                                      {}),
    output_shape=lambda cfg, prompts, **kw: (len(prompts), cfg["added_cond_dim"]),
    bad_inputs=[BadInput(match="prompt must be a string", inputs=lambda cfg: ((None,), {}), why="not text")],
    dtypes=("float32", "bfloat16"),
)
class CLIPPooledEncoder(ConditioningEncoder):
    """Prompts ``list[str]`` (or one string, repeated ``batch`` times) → ``{"added_cond": (B, added_cond_dim)}``.

    Args:
        added_cond_dim: CLIP's hidden size = the net's ``added_cond_dim`` (768 for CLIP-L); num_layers, num_heads,
            max_length: the random model's (a loaded one brings its own; its tokenizer pads to 77).
    """

    inputs, outputs, facts, sized_by = ("prompt",), ("added_cond",), ("batch",), ("added_cond_dim",)

    def __init__(self, added_cond_dim: int = 768, *, num_layers: int = 12, num_heads: int = 12,
                 max_length: int = 77) -> None:
        super().__init__()
        import transformers

        self.max_length, self.tokenizer = max_length, None
        self.model = transformers.CLIPTextModel(transformers.CLIPTextConfig(
            vocab_size=VOCAB_SIZE, hidden_size=added_cond_dim, intermediate_size=4 * added_cond_dim,
            num_hidden_layers=num_layers, num_attention_heads=num_heads, max_position_embeddings=max_length,
            pad_token_id=PAD, bos_token_id=BOS, eos_token_id=PAD))
        self.added_cond_dim = added_cond_dim

    def tokenize(self, prompts: list[str]) -> Tensor:
        """``(B, L)`` token ids: the real tokenizer's padding to its ``model_max_length`` (77), else bytes."""
        if self.tokenizer is None:
            return byte_tokenize(prompts, self.max_length)
        return self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
                              truncation=True, return_tensors="pt").input_ids

    def forward(self, prompt, *, batch: int | None = None) -> dict[str, Tensor]:
        ids = self.tokenize(_prompts(prompt, batch)).to(next(self.model.parameters()).device)
        return {"added_cond": self.model(input_ids=ids).pooler_output}

    def load_parts(self, parts) -> None:
        """A folder's ``text_encoder_2`` (a ``CLIPTextModel``) and its ``tokenizer_2``."""
        if parts.get("text_encoder_2") is not None:
            param = next(self.model.parameters())
            self.model = parts["text_encoder_2"].to(param.device).eval()
            self.tokenizer = parts.get("tokenizer_2")
