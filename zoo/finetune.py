"""What ``zoo train`` adds to fine-tune on real clips: pretrained parts, LoRA and the memory levers, data in model
space with conditioning from the data (docs/use/finetune.md, docs/training.md).

    parts = pretrained_parts(config)              # --weights DIR: net, autoencoder, encoders (as `sample --weights`)
    apply_levers(model, config, recipe)           # --lora R, --gradient-checkpointing
    pipe, source, inputs = real_data(...)         # clips -> LatentClips (encoded once), the inputs the data feeds

Conditioning from the data: a recipe's declared encoders (``Recipe.encoders``) take user inputs; the data gives the
clip's first frame (``image``: SVD's ``conditioning/svd_image``, Wan I2V's ``conditioning/wan_image``), the clip
itself (``video``) and its caption (``prompt``, ``zoo.captions``). Keywords fed that way are encoded by the frozen
encoders at every step (``Pipeline.encode``), except captions: each is encoded once and the text encoder unloaded
(``zoo.caption_cache``, ``--caption-cache``); the rest stay ``--cond example``'s random conditioning.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn


__all__ = ["apply_levers", "data_inputs", "pretrained_parts", "real_data"]

DATA_INPUTS = ("image", "video", "prompt")  # what a folder of clips can give an encoder


def pretrained_parts(name: str, weights: str | Path, preset: str) -> dict:
    """``load_pretrained_folder(name, weights, preset=preset)``, each refusal one line naming ``--weights`` and the
    folder (a folder of another recipe: the subfolder or interface that does not fit)."""
    try:
        from zoo.convert.folder import load_pretrained_folder

        return load_pretrained_folder(name, weights, preset=preset)
    except (ImportError, ValueError) as err:
        raise ValueError(f"--weights {weights}: {' '.join(str(err).split())}") from None


def apply_levers(model: nn.Module, config, recipe) -> nn.Module:
    """``--gradient-checkpointing`` (per block / unit: ``set_gradient_checkpointing``), then ``--lora`` adapters
    (``zoo.lora.add_lora``: the net frozen, the adapters fp32) and, with ``--frozen-dtype bf16`` under LoRA, the
    frozen net in bf16 (the adapters stay fp32 master weights)."""
    if config.gradient_checkpointing:
        if not hasattr(model, "set_gradient_checkpointing"):
            raise ValueError(f"--gradient-checkpointing: {recipe.name}'s net ({type(model).__name__}) has no "
                             "per-block checkpointing (set_gradient_checkpointing)")
        model.set_gradient_checkpointing(True)
    if config.lora is not None:
        from zoo.lora import add_lora

        add_lora(model, config.lora, alpha=config.lora_alpha, name=recipe.name)
        if config.frozen_dtype == "bf16":
            for p in model.parameters():
                if not p.requires_grad:
                    p.data = p.data.to(torch.bfloat16)
    return model


def data_inputs(recipe) -> dict[str, tuple[str, ...]]:
    """Conditioning keyword -> its encoder's user inputs, for the keywords a folder of clips can feed."""
    from zoo.sample import encoder_inputs

    return {k: names for k, names in encoder_inputs(recipe).items() if names and set(names) <= set(DATA_INPUTS)}


def real_data(config, plan, model: nn.Module, shape: tuple[int, int, int, int], parts: dict, device):
    """``(pipe, source, fed)`` for ``--data`` real clips: the pipeline of the frozen parts (``parts`` loaded into it),
    a ``LatentClips`` source of ``shape`` ``(C, T, h, w)`` in model space and the keywords the data conditions.

    Clips must have the pixel frames of ``T`` (``pipe.pixel_frames``) at ``h · f`` pixels; a shorter clip is refused
    naming ``--data``, the file and ``--frames``; an unreadable one is skipped with its name printed. A recipe
    conditioned on text whose clips carry no captions is refused with real weights (``--weights``), random
    otherwise (a smoke run, said on stderr). Captions a text encoder feeds are encoded once and cached
    (``config.caption_cache``: "auto" = ``OUT/captions.safetensors``, a path, or None to encode every step)."""
    import zoo
    from zoo.captions import read_captions
    from zoo.data import SHIPPED_CLIPS, VideoFolder, _find_videos, shipped_clip
    from zoo.latent_cache import LatentClips

    pipe = zoo.create_pipeline(plan, model=model)
    if parts:
        pipe.use_parts(parts)
    if config.frozen_dtype == "bf16":
        for module in [pipe.autoencoder, *pipe.encoders().values()]:
            if module is not None:
                module.to(torch.bfloat16)
    _, t, h, _ = shape
    frames, size = pipe.pixel_frames(t), h * pipe.spatial_factor
    root = shipped_clip(config.data) if config.data in SHIPPED_CLIPS else config.data
    files = list(root) if isinstance(root, list) else _find_videos(Path(root))
    try:
        clips = VideoFolder(root, frames=frames, size=size, channels=3, stride=frames, seed=config.seed,
                            split="train", on_error="skip", on_short="raise")
    except ValueError as err:
        raise ValueError(f"--data {config.data}: {err} (--frames {t} model frames = {frames} video frames at "
                         f"{size}x{size} px)") from None
    wanted = data_inputs(plan.recipe)
    needs_text = any("prompt" in names for names in wanted.values())
    captions = None
    if needs_text or config.captions:
        captions = read_captions(files, config.captions, root=None if isinstance(root, list) else Path(root))
    if captions is None and needs_text:
        texts = [k for k, names in wanted.items() if "prompt" in names]
        if config.weights:
            raise ValueError(f"--data {config.data}: {plan.name} is conditioned on text ({', '.join(texts)}) and the "
                             "clips carry no captions: put a clip.txt beside each clip (clip.mp4 -> clip.txt) or "
                             "give --captions FILE (JSON/CSV: file name -> caption)")
        print(f"zoo train: {config.data} carries no captions; {', '.join(texts)} stays random conditioning (a smoke "
              "run; give clip.txt sidecars or --captions FILE)", file=sys.stderr)
        wanted = {k: v for k, v in wanted.items() if "prompt" not in v}
    if captions is not None and config.caption_cache and any("prompt" in n for n in wanted.values()):
        from zoo.caption_cache import cache_caption_embeddings

        cache_caption_embeddings(pipe, captions, Path(config.out or ".") / "captions.safetensors"
                                 if config.caption_cache == "auto" else Path(config.caption_cache))
    cache = None
    if config.latent_cache and pipe.latent_space is not None:
        cache = (Path(config.out or ".") / "latents.safetensors" if config.latent_cache == "auto"
                 else Path(config.latent_cache))
    source = LatentClips(clips, pipe.latent_space, cache=cache, captions=captions, seed=config.seed, device=device)
    return pipe, source, wanted
