"""Tiny random diffusers pipelines built offline from configs (tests, docs snippets, benchmarks): never a download.

``tiny_svd_pipeline()`` is a ``StableVideoDiffusionPipeline`` and ``tiny_t2v_pipeline(directory)`` a
``TextToVideoSDPipeline`` whose U-Net, VAE, CLIP encoders and scheduler are random-initialised from small configs
(the schedulers carry the real checkpoints' scheduler configs). ``CLIPTokenizer`` needs vocabulary files: a byte-level
vocabulary (every byte symbol, alone and word-final, no merges) is written into ``directory``. U-Net weights are moved
off their initialisation (zero-initialised convs and merge logits) so every weight matters in a comparison.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch


__all__ = ["SVD_UNET", "T2V_UNET", "tiny_svd_pipeline", "tiny_t2v_pipeline", "write_tiny_clip_vocab"]

SVD_UNET = dict(sample_size=8, in_channels=8, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
                cross_attention_dim=16, num_attention_heads=(2, 4), addition_time_embed_dim=8,
                projection_class_embeddings_input_dim=24, num_frames=3,
                down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
                up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"))
T2V_UNET = dict(block_out_channels=(32, 64), norm_num_groups=8, attention_head_dim=8, cross_attention_dim=16,
                layers_per_block=1, in_channels=4, out_channels=4, sample_size=8,
                down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"))
_VAE = dict(block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2, layers_per_block=1,
            latent_channels=4)
# the scheduler configs of stabilityai/stable-video-diffusion-img2vid and damo-vilab/text-to-video-ms-1.7b
SVD_SCHEDULER = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, interpolation_type="linear",
                     num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002,
                     steps_offset=1, timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True)
T2V_SCHEDULER = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
                     num_train_timesteps=1000, prediction_type="epsilon", set_alpha_to_one=False, steps_offset=1)


def _perturb(model: torch.nn.Module, scale: float = 0.05) -> torch.nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))
    return model.eval()


def tiny_svd_pipeline(seed: int = 0, *, unet: dict | None = None):
    """A random ``StableVideoDiffusionPipeline`` (U-Net ``SVD_UNET`` updated by ``unet``; 3 frames; 16×16 video)."""
    import diffusers
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    cfg = {**SVD_UNET, **(unet or {})}
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=16, projection_dim=cfg["cross_attention_dim"], num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, image_size=224, patch_size=32)).eval()
    return diffusers.StableVideoDiffusionPipeline(
        vae=diffusers.AutoencoderKLTemporalDecoder(**_VAE).eval(), image_encoder=image_encoder,
        unet=_perturb(diffusers.UNetSpatioTemporalConditionModel(**cfg)),
        scheduler=diffusers.EulerDiscreteScheduler(**SVD_SCHEDULER),
        feature_extractor=CLIPImageProcessor(crop_size=224, size=224))


def _byte_symbols() -> list[str]:
    """GPT-2 / CLIP byte-level BPE's 256 byte symbols: printable bytes stand for themselves, the others are shifted
    past U+0100 in byte order (the ``bytes_to_unicode`` table of OpenAI's CLIP ``simple_tokenizer.py``)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = [b for b in range(256) if b not in printable]
    table = {**{b: chr(b) for b in printable}, **{b: chr(256 + n) for n, b in enumerate(shifted)}}
    return [table[b] for b in range(256)]


def write_tiny_clip_vocab(directory) -> Path:
    """``vocab.json`` + ``merges.txt`` for ``CLIPTokenizer``: the special tokens and every byte symbol (alone and
    word-final ``</w>``), no merges (each character is a token). Returns ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    symbols = _byte_symbols()
    vocab = {tok: i for i, tok in enumerate(["<|startoftext|>", "<|endoftext|>", *symbols,
                                             *(s + "</w>" for s in symbols)])}
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    return directory


def tiny_t2v_pipeline(directory, seed: int = 0, *, unet: dict | None = None):
    """A random ``TextToVideoSDPipeline`` (U-Net ``T2V_UNET`` updated by ``unet``; 16×16 video); the tokenizer's
    vocabulary files are written into ``directory``."""
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    cfg = {**T2V_UNET, **(unet or {})}
    vocab = write_tiny_clip_vocab(directory)
    tokenizer = CLIPTokenizer(str(vocab / "vocab.json"), str(vocab / "merges.txt"), model_max_length=77)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=cfg["cross_attention_dim"], num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1)).eval()
    vae = diffusers.AutoencoderKL(**_VAE, up_block_types=("UpDecoderBlock2D",) * 2).eval()
    return diffusers.TextToVideoSDPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
        unet=_perturb(diffusers.UNet3DConditionModel(**cfg)), scheduler=diffusers.DDIMScheduler(**T2V_SCHEDULER))
