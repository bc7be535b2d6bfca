"""Tiny random diffusers HunyuanVideo models and pipelines built offline from configs (tests, docs/use, benchmarks):
never a download.

``tiny_hunyuan_video_transformer()`` / ``tiny_hunyuan_video_vae()`` are a ``HunyuanVideoTransformer3DModel`` and an
``AutoencoderKLHunyuanVideo`` random-initialised from the small configs below; their sizes are the ``tiny`` preset of
zoo/recipes/hunyuan_video.py (``HUNYUAN_VIDEO_T2V`` = ``TINY_NET``, ``HUNYUAN_VIDEO_VAE`` = ``TINY_VAE``), so
``zoo.from_diffusers`` of them gives that preset's modules. The transformer's weights are moved off the init
(``_perturb``) so the zero-initialised gates are exercised.

``tiny_hunyuan_video_pipeline(directory)`` is a whole ``HunyuanVideoPipeline`` around them: a 3-layer ``LlamaModel``
of width 16 (``text_embed_dim``; its hidden state −3, the pipeline's, is then the first layer's output) with
``tiny_llama_tokenizer()``, a 1-layer ``CLIPTextModel`` of width 8 (``pooled_projection_dim``) with the byte-symbol
``CLIPTokenizer`` of zoo/testing/tiny_pipelines.py (its vocabulary files are written into ``directory``), and the
released ``FlowMatchEulerDiscreteScheduler(shift=7.0)``.
"""

from __future__ import annotations

import re

import torch

from .tiny_pipelines import _perturb, write_tiny_clip_vocab


__all__ = ["HUNYUAN_VIDEO_CLIP", "HUNYUAN_VIDEO_LLAMA", "HUNYUAN_VIDEO_T2V", "HUNYUAN_VIDEO_VAE",
           "tiny_hunyuan_video_pipeline", "tiny_hunyuan_video_transformer", "tiny_hunyuan_video_vae",
           "tiny_llama_tokenizer"]

# 2 heads × 10 (rope split (2, 4, 4)), 1 dual + 1 single block, 1 refiner block, text width 16, pooled width 8
HUNYUAN_VIDEO_T2V = dict(in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=10, num_layers=1,
                         num_single_layers=1, num_refiner_layers=1, patch_size=2, patch_size_t=1, text_embed_dim=16,
                         pooled_projection_dim=8, rope_axes_dim=(2, 4, 4), guidance_embeds=True)
# 4 levels of width 8: HunyuanVideo's real compression (4×8×8), 4 latent channels
HUNYUAN_VIDEO_VAE = dict(block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2)
# the text encoders: LLaMA of the transformer's text width (3 layers: hidden state -3 is not the last), CLIP-L's
# pooled vector at the transformer's pooled width
HUNYUAN_VIDEO_LLAMA = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=3, num_attention_heads=2,
                           num_key_value_heads=1, max_position_embeddings=512)
HUNYUAN_VIDEO_CLIP = dict(hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                          max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1)
# LLaMA-3's special tokens in HunyuanVideo's prompt template, and some words to write test prompts with
_SPECIALS = ("<unk>", "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
             "<|eot_id|>")
_WORDS = "a an the dog cat panda on of in eating bamboo skateboard riding beach sunset city street at night"
# words, runs of punctuation, each newline (LLaMA-3 keeps newlines as tokens): the template's system part and the
# user header are 96 tokens with BOS, so diffusers' crop at 95 keeps one newline before the prompt
_PIECES = r"\w+|[^\w\s]+|\n"


def tiny_llama_tokenizer():
    """A word-level ``PreTrainedTokenizerFast`` over HunyuanVideo's prompt template (diffusers
    pipeline_hunyuan_video.py ``DEFAULT_PROMPT_TEMPLATE``) and ``_WORDS``: LLaMA-3's special tokens, BOS
    ``<|begin_of_text|>`` prepended, pad = ``<|end_of_text|>`` on the right, unknown words -> ``<unk>``."""
    from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    text = DEFAULT_PROMPT_TEMPLATE["template"]
    for special in _SPECIALS:
        text = text.replace(special, " ")
    words = sorted(set(re.findall(_PIECES, text)) | set(_WORDS.split()))
    vocab = {token: i for i, token in enumerate([*_SPECIALS, *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex("[ \t]+"), behavior="removed"),
                                                 pre_tokenizers.Split(Regex(_PIECES), behavior="isolated")])
    tok.add_special_tokens(list(_SPECIALS))
    tok.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                                       special_tokens=[("<|begin_of_text|>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>",
                                   pad_token="<|end_of_text|>", unk_token="<unk>", padding_side="right",
                                   model_max_length=512)


def tiny_hunyuan_video_transformer(seed: int = 0):
    """A random diffusers ``HunyuanVideoTransformer3DModel`` of ``HUNYUAN_VIDEO_T2V`` (eval mode)."""
    import diffusers

    torch.manual_seed(seed)
    return _perturb(diffusers.HunyuanVideoTransformer3DModel(**HUNYUAN_VIDEO_T2V)).eval()


def tiny_hunyuan_video_vae(seed: int = 0):
    """A random diffusers ``AutoencoderKLHunyuanVideo`` of ``HUNYUAN_VIDEO_VAE`` (eval mode)."""
    import diffusers

    torch.manual_seed(seed)
    return diffusers.AutoencoderKLHunyuanVideo(**HUNYUAN_VIDEO_VAE).eval()


def tiny_hunyuan_video_pipeline(directory, seed: int = 0):
    """A random diffusers ``HunyuanVideoPipeline`` (see the module docstring); the CLIP tokenizer's vocabulary
    files are written into ``directory``."""
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, LlamaConfig, LlamaModel

    transformer, vae = tiny_hunyuan_video_transformer(seed), tiny_hunyuan_video_vae(seed)
    torch.manual_seed(seed + 1)
    tokenizer = tiny_llama_tokenizer()
    text_encoder = LlamaModel(LlamaConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                          bos_token_id=1, eos_token_id=2, **HUNYUAN_VIDEO_LLAMA)).eval()
    vocab = write_tiny_clip_vocab(directory)
    tokenizer_2 = CLIPTokenizer(str(vocab / "vocab.json"), str(vocab / "merges.txt"), model_max_length=77)
    text_encoder_2 = CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer_2), **HUNYUAN_VIDEO_CLIP)).eval()
    return diffusers.HunyuanVideoPipeline(
        text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer, vae=vae,
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=7.0), text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2)
