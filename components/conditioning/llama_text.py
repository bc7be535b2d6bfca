"""``conditioning/llama_text``: prompts to text tokens ``context`` and their mask ``context_mask`` through a decoder
language model's hidden states under a prompt template (HunyuanVideo's LLaVA-LLaMA-3-8B text encoder).

    ids, mask = tokenizer(template.format(prompt), max_length = crop_start + max_length, padding to it, truncated)
    h = the LM's hidden state (B, crop_start + max_length, D) after layer N − skip_layers (of N), under ``mask``
    context = h[:, crop_start:], context_mask = mask[:, crop_start:]      (B, max_length, D), (B, max_length)

[V-code: diffusers pipeline_hunyuan_video.py ``_get_llama_prompt_embeds``: ``hidden_states[-(2 + 1)]``, the
``DEFAULT_PROMPT_TEMPLATE`` (a system prompt describing the video's aspects, then the user turn) whose first 95 tokens
(``crop_start``) are cut off, ``max_sequence_length`` 256.] ``hidden_states[-3]`` of N layers is the output of layer
N − 2 before the final norm, so the model runs without its last ``skip_layers`` layers and its final RMSNorm (their
output is not used): ``last_hidden_state`` is that hidden state, and every parameter kept is used.

Random tiny ``LlamaModel``s (tests, conformance) use the byte-level tokenizer (``tokenizer.py``): the template's
bytes then fill the 95 cropped positions and the prompt is mostly truncated away; real weights come with their
tokenizer (``load_parts``: a diffusers folder's ``text_encoder`` + ``tokenizer``).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from ..registry import BadInput, register
from .encoder import ConditioningEncoder
from .text import _prompts
from .tokenizer import PAD, VOCAB_SIZE, byte_tokenize


__all__ = ["HUNYUAN_VIDEO_TEMPLATE", "LlamaTextEncoder", "without_last_layers"]

# [V-code: diffusers pipeline_hunyuan_video.py DEFAULT_PROMPT_TEMPLATE] (= tencent/HunyuanVideo
# hyvideo/constants.py PROMPT_TEMPLATE_ENCODE_VIDEO, crop_start 95)
HUNYUAN_VIDEO_TEMPLATE = (
    "<|start_header_id|>system<|end_header_id|>\n\nDescribe the video by detailing the following aspects: "
    "1. The main content and theme of the video."
    "2. The color, shape, size, texture, quantity, text, and spatial relationships of the objects."
    "3. Actions, events, behaviors temporal relationships, physical movement changes of the objects."
    "4. background environment, light, style and atmosphere."
    "5. camera angles, movements, and transitions used in the video:<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|>"
)


def without_last_layers(model: nn.Module, skip: int) -> nn.Module:
    """A ``transformers.LlamaModel`` of N layers as one of N − ``skip`` layers with no final norm, sharing its
    tensors (no copy): its ``last_hidden_state`` is the full model's ``hidden_states[-(skip + 1)]``."""
    import transformers

    if skip == 0:
        return model
    config = copy.deepcopy(model.config)
    config.num_hidden_layers -= skip
    with torch.device("meta"):
        out = transformers.LlamaModel(config)
    out.norm = nn.Identity()
    dropped = tuple(f"layers.{i}." for i in range(config.num_hidden_layers, model.config.num_hidden_layers))
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(dropped + ("norm.",))}
    out.load_state_dict(state, strict=True, assign=True)
    for name, buffer in out.named_buffers():  # non-persistent buffers (the rotary inv_freq) are not in the state
        if buffer.is_meta:
            parent, _, attr = name.rpartition(".")
            setattr(out.get_submodule(parent), attr, model.get_buffer(name))
    return out.eval()


@register(
    "conditioning", "llama_text",
    paper="Kong et al. 2024 (HunyuanVideo, arXiv 2412.03603), §3.3 text encoder; Touvron et al. 2023 (LLaMA)",
    tiny=dict(context_dim=16, num_layers=3, num_heads=2, max_length=8),
    inputs=lambda cfg, batch=2, generator=None, **_: (([f"prompt {i}: a dog on a skateboard" for i in range(batch)],),
                                                      {}),
    output_shape=lambda cfg, prompts, **kw: (len(prompts), cfg["max_length"], cfg["context_dim"]),
    bad_inputs=[BadInput(match="prompt must be a string", inputs=lambda cfg: ((3,), {}), why="not text"),
                BadInput(match="skip_layers must be in", init={"skip_layers": 3}, why="no layer left")],
    dtypes=("float32", "bfloat16"),
)
class LlamaTextEncoder(ConditioningEncoder):
    """Prompts ``list[str]`` (or one string, repeated ``batch`` times) → ``{"context": (B, max_length, context_dim),
    "context_mask": (B, max_length)}`` (1 = a real token, int64), see the module docstring.

    Args:
        context_dim: hidden size = the net's ``context_dim`` (4096 for LLaMA-3-8B); num_layers, num_heads: the
            random stand-in's (LLaMA-3-8B has 32 layers of 32 heads; the default 3 layers keep a random paper-size
            pipeline small before a folder's model replaces it, ``load_parts``).
        max_length: text tokens kept after the template (HunyuanVideo: 256).
        template: the prompt template, ``{}`` where the prompt goes; crop_start: leading tokens cut off (95: the
            template's system part and user header under LLaMA-3's tokenizer).
        skip_layers: the hidden state used is ``hidden_states[-(skip_layers + 1)]`` (HunyuanVideo: 2).
    """

    inputs, outputs, facts, sized_by = ("prompt",), ("context", "context_mask"), ("batch",), ("context_dim",)

    def __init__(self, context_dim: int = 4096, *, num_layers: int = 3, num_heads: int = 32, max_length: int = 256,
                 template: str = HUNYUAN_VIDEO_TEMPLATE, crop_start: int = 95, skip_layers: int = 2) -> None:
        super().__init__()
        import transformers

        if "{}" not in template:
            raise ValueError(f"template must hold '{{}}' where the prompt goes, got {template!r}")
        if not 0 <= skip_layers < num_layers:
            raise ValueError(f"skip_layers must be in [0, num_layers) = [0, {num_layers}), got {skip_layers}")
        self.max_length, self.template, self.crop_start, self.skip_layers = max_length, template, crop_start, \
            skip_layers
        self.tokenizer = None
        # the random stand-in is built as what runs: num_layers − skip_layers layers, no final norm
        self.model = transformers.LlamaModel(transformers.LlamaConfig(
            vocab_size=VOCAB_SIZE, hidden_size=context_dim, intermediate_size=2 * context_dim,
            num_hidden_layers=num_layers - skip_layers, num_attention_heads=num_heads,
            max_position_embeddings=crop_start + max_length, pad_token_id=PAD))
        self.model.norm = nn.Identity()
        self.context_dim = context_dim

    def tokenize_masked(self, prompts: list[str]) -> tuple[Tensor, Tensor]:
        """``(B, crop_start + max_length)`` ids of the templated prompts and their attention mask (1 = real)."""
        texts = [self.template.format(p) for p in prompts]
        length = self.crop_start + self.max_length
        if self.tokenizer is None:
            ids = byte_tokenize(texts, length)
            return ids, (torch.cumsum((ids == PAD).long(), dim=1) == 0).long()
        tokens = self.tokenizer(texts, padding="max_length", max_length=length, truncation=True,
                                return_attention_mask=True, return_tensors="pt")
        return tokens.input_ids, tokens.attention_mask

    def forward(self, prompt, *, batch: int | None = None) -> dict[str, Tensor]:
        device = next(self.model.parameters()).device
        ids, mask = (t.to(device) for t in self.tokenize_masked(_prompts(prompt, batch)))
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        return {"context": hidden[:, self.crop_start:], "context_mask": mask[:, self.crop_start:]}

    def adopt_transformers_model(self, name: str, model: nn.Module) -> nn.Module:
        """``from_pretrained`` rebuilt ``model`` from its saved transformers config (the already shortened one): it
        runs without its final norm, as the saved encoder did."""
        model.norm = nn.Identity()
        return model

    def load_parts(self, parts) -> None:
        """A folder's ``text_encoder`` (a ``LlamaModel``; run without its last ``skip_layers`` layers, sharing its
        tensors) and its ``tokenizer``."""
        if parts.get("text_encoder") is not None:
            param = next(self.model.parameters())
            self.model = without_last_layers(parts["text_encoder"], self.skip_layers).to(param.device).eval()
            self.tokenizer = parts.get("tokenizer")
