"""``load_pretrained_folder``: a local diffusers-format folder (``save_pretrained`` / a downloaded snapshot) into a
recipe's parts, for ``python -m zoo sample NAME --weights DIR`` and ``Pipeline.use_parts``. Never a hub download.

    parts = load_pretrained_folder("modelscope_t2v", "text-to-video-ms-1.7b", preset="paper")
    pipe = zoo.create_pipeline("modelscope_t2v", "paper", model=parts["model"])
    pipe.use_parts(parts)                                   # VAE, text encoder + tokenizer / image encoder
    video = pipe(prompt="a panda eating bamboo", decode=True)

The folder holds one subfolder per component (``model_index.json`` beside them names their classes): ``unet/`` or
``transformer/`` (diffusers ``config.json`` + safetensors; converted by ``zoo.from_diffusers``; Wan 2.2 A14B's
low-noise expert in ``transformer_2/``), ``vae/`` (``AutoencoderKL``, ``AutoencoderKLTemporalDecoder`` or
``AutoencoderKLWan`` or ``AutoencoderKLCogVideoX``, converted), ``text_encoder/`` + ``tokenizer/`` or ``image_encoder/`` (transformers models, used as
they are; Wan I2V's ``CLIPVisionModel`` runs without its last block, ``conditioning/wan_image``), and for
ControlVideo ``controlnet/`` (a ``ControlNetModel``, converted). Which ones a recipe needs follows from its
declarations (``NETS`` for the net, ``Recipe.autoencoder``, ``Recipe.encoders``); a missing one is a ValueError naming
the folder, the component and the classes the recipe expects.

Wan: the net's ``time_scale`` is the preset's (diffusers' transformer takes 1000·σ; a recipe feeding t = σ builds it
with 1000: the same weights); an A14B folder's ``transformer/`` (t ≥ boundary) and ``transformer_2/`` become the
``high_noise`` and ``low_noise`` experts of the recipe's ``net/noise_experts`` (one ``model``; the boundary is the
preset's, checked against the folder's ``boundary_ratio``); the VAE's ``latents_mean`` / ``latents_std`` come back as
``latent_normalization`` (the pipeline's latent space; CogVideoX: the VAE's ``scaling_factor``); the I2V folder's ``image_processor/`` must be CLIP's
preprocessing at the image encoder's size (what ``conditioning/wan_image`` does in torch).

CogVideoX (``cogvideox_2b`` / ``cogvideox_5b``): ``transformer/`` (``CogVideoXTransformer3DModel``), ``vae/``
(``AutoencoderKLCogVideoX``; its ``scaling_factor`` is the ``latent_normalization``), T5 ``text_encoder/`` +
``tokenizer/``; the net's positions (``pos_embed``: the 2B's sin-cos, the 5B's rotary) must be the preset's.

HunyuanVideo (``hunyuan_video``): ``transformer/`` (``HunyuanVideoTransformer3DModel``; the preset's ``time_scale``
and ``guidance_default`` replace the converter's), ``vae/`` (``AutoencoderKLHunyuanVideo``, its ``scaling_factor``),
the LLaMA ``text_encoder/`` (``LlamaModel``) + ``tokenizer/`` into ``conditioning/llama_text`` and CLIP-L's
``text_encoder_2/`` (``CLIPTextModel``) + ``tokenizer_2/`` into ``conditioning/clip_pooled``.

Mochi (``mochi``): ``transformer/`` (``MochiTransformer3DModel``; the preset's ``flow_time`` and ``time_scale`` replace
the converter's diffusers convention), ``vae/`` (``AutoencoderKLMochi``; its ``latents_mean`` / ``latents_std`` (the
std divided by ``scaling_factor``) are the ``latent_normalization``), T5 ``text_encoder/`` + ``tokenizer/`` into
``conditioning/text`` (``mask="encode"``); a ``model_index.json`` with ``force_zeros_for_empty_prompt=true`` is refused
(our unconditional branch is the empty prompt's encoding, MochiPipeline's default).

LTX-Video (``ltx_video``): ``transformer/`` (``LTXVideoTransformer3DModel``; the preset's ``time_scale`` and
``frame_rate``, the pipeline's frame rate, replace the converter's), ``vae/`` (``AutoencoderKLLTXVideo``; its
``latents_mean`` / ``latents_std`` *buffers*, the std divided by ``scaling_factor``, are the ``latent_normalization``),
T5 ``text_encoder/`` + ``tokenizer/`` into ``conditioning/text`` (``mask="output"``).

Sizes come from the folder's configs; the preset gives the sampling defaults and the sample shape, so the net's
interface (input / output channels, ``context_dim``, ``added_cond_dim``, control maps) must be the preset's, else a
ValueError naming both. Recipes that inflate Stable Diffusion (Tune-A-Video, Text2Video-Zero, ControlVideo) load an
SD ``UNet2DConditionModel`` into their own net: the recipe's unit slots (``spatial_block``, ...) replace SD's, every SD
weight must land (no unexpected or mis-shaped key), and the recipe's additions keep their initialisation
(Tune-A-Video's zero-output temporal attention: the untuned model equals SD per frame), with a warning naming them.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from torch import nn

import components


__all__ = ["NETS", "load_pretrained_folder", "needed_components"]

_SVD = {"unet": "UNetSpatioTemporalConditionModel"}
_SD = {"unet": "UNet2DConditionModel"}
_WAN = {"transformer": "WanTransformer3DModel"}
_COGVIDEOX = {"transformer": "CogVideoXTransformer3DModel"}
# recipe -> the folder's net components (subfolder -> diffusers class), and whether the recipe inflates them
NETS: dict[str, tuple[dict[str, str], bool]] = {
    "svd": (_SVD, False), "svd_xt": (_SVD, False),
    "modelscope_t2v": ({"unet": "UNet3DConditionModel"}, False),
    "stable_diffusion": (_SD, False),
    "tune_a_video": (_SD, True), "text2video_zero": (_SD, True),
    "controlvideo": ({**_SD, "controlnet": "ControlNetModel"}, True),
    "wan2_1_t2v_1_3b": (_WAN, False), "wan2_1_t2v_14b": (_WAN, False), "wan2_1_i2v_14b": (_WAN, False),
    "wan2_2_ti2v_5b": (_WAN, False),
    "wan2_2_t2v_a14b": ({**_WAN, "transformer_2": "WanTransformer3DModel"}, False),  # high-, then low-noise expert
    "cogvideox_2b": (_COGVIDEOX, False), "cogvideox_5b": (_COGVIDEOX, False),
    "hunyuan_video": ({"transformer": "HunyuanVideoTransformer3DModel"}, False),
    "mochi": ({"transformer": "MochiTransformer3DModel"}, False),
    "ltx_video": ({"transformer": "LTXVideoTransformer3DModel"}, False),
}
# the recipe's autoencoder net -> the diffusers VAE classes it converts from (net/video_autoencoder: by its
# ``temporal_decoder`` keyword)
_AUTOENCODERS = {"net/wan_vae": ("AutoencoderKLWan",), "net/cogvideox_vae": ("AutoencoderKLCogVideoX",),
                 "net/hunyuan_video_vae": ("AutoencoderKLHunyuanVideo",),
                 "net/mochi_vae": ("AutoencoderKLMochi",)}
# VAEs whose config's ``scaling_factor`` is the latent normalisation (CogVideoX 2B 1.15258426, 5B 0.7; HunyuanVideo
# 0.476986)
_SCALED = ("AutoencoderKLCogVideoX", "AutoencoderKLHunyuanVideo")
# preset keywords that are conventions of the recipe, not of the weights: the preset's value replaces the folder's
_CONVENTIONS = ("time_scale", "guidance_default")  # HunyuanVideo: t and w × 1000; its embedded guidance 6
_CONVENTIONS += ("flow_time",)  # Mochi: the preset's net takes flow time σ (the folder's, 1000·(1 − σ))
# VAEs whose config's per-channel ``latents_mean`` / ``latents_std`` are the latent normalisation (Mochi's pipeline:
# z·std / scaling_factor + mean before decoding, so std / scaling_factor is the std)
_PER_CHANNEL = ("AutoencoderKLMochi",)
# LTX-Video: the autoencoder, the preset's frame_rate (LTXPipeline's ``frame_rate`` call argument, not in the folder)
# and the latent normalisation from the VAE's ``latents_mean`` / ``latents_std`` buffers (in the weights, not the
# config; the pipeline decodes z·std / scaling_factor + mean)
_AUTOENCODERS["net/ltx_video_vae"] = ("AutoencoderKLLTXVideo",)
_CONVENTIONS += ("frame_rate",)
_BUFFERED = ("AutoencoderKLLTXVideo",)
# the unit slots an inflating recipe puts into SD's net (no sizes: those come from the folder)
_SLOTS = ("res_block", "res_block_kwargs", "spatial_block", "spatial_block_kwargs", "temporal_block",
          "temporal_block_kwargs", "stem_block", "stem_block_kwargs")
# conditioning encoder -> the transformers parts it takes from the folder (subfolder -> accepted classes)
_ENCODER_PARTS = {
    "conditioning/text": {"text_encoder": ("CLIPTextModel", "T5EncoderModel", "UMT5EncoderModel"),
                          "tokenizer": ("a tokenizer",)},
    "conditioning/wan_image": {"image_encoder": ("CLIPVisionModel",)},
    "conditioning/svd_image": {"image_encoder": ("CLIPVisionModelWithProjection",)},
    "conditioning/image_embedding": {"image_encoder": ("CLIPVisionModelWithProjection",)},
    "conditioning/llama_text": {"text_encoder": ("LlamaModel",), "tokenizer": ("a tokenizer",)},
    "conditioning/clip_pooled": {"text_encoder_2": ("CLIPTextModel",), "tokenizer_2": ("a tokenizer",)},
}
_INTERFACE = ("in_channels", "out_channels", "context_dim", "added_cond_dim", "control_channels", "image_context_dim",
              "pos_embed")  # pos_embed: CogVideoX 2B (sin-cos) vs 5B (rotary) weights
_ALWAYS = ("context_dim", "added_cond_dim", "image_context_dim")  # compared even when the preset leaves them out


def needed_components(name: str) -> dict[str, tuple[str, ...]]:
    """The subfolders recipe ``name`` loads from a weights folder -> the classes accepted in each."""
    import zoo

    recipe = zoo.get_recipe(name)
    if name not in NETS:
        raise ValueError(f"--weights: recipe {name!r} has no diffusers-format loader (its net has no diffusers "
                         f"counterpart we convert); weights folders load for: {', '.join(sorted(NETS))}")
    needed = {sub: (cls,) for sub, cls in NETS[name][0].items()}
    if recipe.autoencoder is not None:
        spec = recipe.autoencoder
        temporal = spec.config.get("temporal_decoder", True)
        needed["vae"] = _AUTOENCODERS.get(spec.net, ("AutoencoderKLTemporalDecoder",) if temporal
                                          else ("AutoencoderKL",))
    for value in recipe.encoders.values():
        needed.update(_ENCODER_PARTS.get(value if isinstance(value, str) else value[0], {}))
    return needed


def load_pretrained_folder(name: str, directory: str | Path, preset: str | None = None) -> dict:
    """Recipe ``name``'s parts from a local diffusers-format folder: ``{"model": net, "autoencoder": vae,
    "latent_normalization": {...} (Wan), "text_encoder": ..., "tokenizer": ..., "image_encoder": ...}`` (only the
    parts the recipe uses; ``model`` is ``zoo.create_model``'s kind of net, the rest go to ``Pipeline.use_parts``).
    ``preset``: checked against the net's interface (see the module docstring); None checks nothing."""
    import zoo

    folder = Path(directory)
    if not folder.is_dir():
        raise ValueError(f"--weights must be a folder (a diffusers save_pretrained layout), got {str(directory)!r}")
    needed = needed_components(name)
    missing = [sub for sub in needed if not (folder / sub).is_dir()]
    if missing:
        wanted = "; ".join(f"{sub}/ ({' or '.join(needed[sub])})" for sub in needed)
        present = sorted(p.name for p in folder.iterdir() if p.is_dir()) or ["no subfolders"]
        raise ValueError(f"weights folder {folder} has no {', '.join(f'{m}/' for m in missing)}: {name} needs "
                         f"{wanted}; the folder has {', '.join(present)}")
    index = _model_index(folder)
    if name == "mochi":
        _check_mochi_empty_prompt(folder, index)
    recipe = zoo.get_recipe(name)
    cfg = recipe.preset(preset).config if preset is not None else None
    model = _net(name, folder, recipe.net, cfg, index)
    parts = {"model": model}
    if "vae" in needed:
        parts["autoencoder"] = _converted(folder, "vae", needed["vae"])
        _check_latents(folder, name, preset, parts["autoencoder"], recipe)
        vae_cfg = _config(folder, "vae")
        if "AutoencoderKLWan" in needed["vae"]:  # Wan's per-channel latent statistics live in the VAE's config
            parts["latent_normalization"] = dict(latents_mean=tuple(vae_cfg["latents_mean"]),
                                                 latents_std=tuple(vae_cfg["latents_std"]))
        elif set(_BUFFERED) & set(needed["vae"]):
            parts["latent_normalization"] = _buffered_statistics(parts["autoencoder"], vae_cfg)
        elif set(_PER_CHANNEL) & set(needed["vae"]):
            parts["latent_normalization"] = _per_channel_statistics(folder, vae_cfg)
        elif "scaling_factor" in vae_cfg and set(_SCALED) & set(needed["vae"]):
            parts["latent_normalization"] = dict(scaling_factor=float(vae_cfg["scaling_factor"]))
    for sub in ("text_encoder", "text_encoder_2", "image_encoder"):
        if sub in needed:
            parts[sub] = _transformers_model(folder, sub, needed[sub], index)
    if "CLIPVisionModel" in needed.get("image_encoder", ()):
        _check_clip_preprocessing(folder, parts["image_encoder"])
    for sub in ("tokenizer", "tokenizer_2"):
        if sub in needed:
            parts[sub] = _tokenizer(folder, index, sub)
    return parts


# ---------------------------------------------------------------------- the net


def _net(name: str, folder: Path, key: str, preset_cfg: dict | None, index: dict) -> nn.Module:
    subfolders, inflate = NETS[name]
    main = next(iter(subfolders))  # unet/ or transformer/
    unet = _converted(folder, main, (subfolders[main],))
    if key == "net/noise_experts":
        return _experts(name, folder, unet, preset_cfg, index)
    if not inflate:
        return _with_conventions(folder, name, unet, preset_cfg)
    recipe_cfg = preset_cfg if preset_cfg is not None else _paper_config(name)
    cfg = {**_config_of(unet), **{k: recipe_cfg[k] for k in _SLOTS if k in recipe_cfg}}
    state = unet.state_dict()
    if "controlnet" in subfolders:
        branch = _converted(folder, "controlnet", (subfolders["controlnet"],))
        branch_cfg = components.config_of(branch)
        cfg.update(control_channels=branch_cfg["control_channels"],
                   control_embedding_channels=branch_cfg["control_embedding_channels"])
        state = {**{f"unet.{k}": v for k, v in state.items()},
                 **{f"control.{k}": v for k, v in branch.state_dict().items()}}
    _check_interface(folder, name, cfg, preset_cfg)
    model = components.build(key, **cfg)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # a shape mismatch: e.g. a ControlNet made for another U-Net
        raise ValueError(f"weights folder {folder}: its {', '.join(subfolders)} do not fit {name}'s net ({err})"
                         ) from None
    if result.unexpected_keys:
        raise ValueError(f"weights folder {folder}: {len(result.unexpected_keys)} weights have no place in {name}'s "
                         f"net (first: {result.unexpected_keys[:3]})")
    if result.missing_keys:
        loaded = {part for k in state for part in k.split(".")}
        added = sorted({part for k in result.missing_keys for part in k.split(".") if part not in loaded})
        warnings.warn(f"{name}: {len(result.missing_keys)} parameters that the folder {folder} does not have keep "
                      f"their initialisation (the recipe's additions: {', '.join(added)})", stacklevel=3)
    return model.eval()


def _with_conventions(folder: Path, name: str, net: nn.Module, preset_cfg: dict | None, *,
                      conventions: dict | None = None) -> nn.Module:
    """The converted ``net`` after the interface check (against ``preset_cfg``; None: none), rebuilt with the
    conventions (``_CONVENTIONS``: ``time_scale``) of ``conventions`` (default ``preset_cfg``) where they differ
    from the converter's; the weights are the same tensors."""
    full = components.config_of(net)
    _check_interface(folder, name, full, preset_cfg)
    conventions = preset_cfg if conventions is None else conventions
    own = {k: conventions[k] for k in _CONVENTIONS if conventions is not None and k in conventions}
    if all(full.get(k) == v for k, v in own.items()):
        return net
    key = full.pop("type")
    return _adopt(components.build(key, **{**full, **own}, device="meta"), {"": net})


def _experts(name: str, folder: Path, high: nn.Module, preset_cfg: dict | None, index: dict) -> nn.Module:
    """Wan 2.2 A14B: ``transformer/`` (t ≥ boundary) and ``transformer_2/`` as the recipe's ``net/noise_experts``."""
    cfg = preset_cfg if preset_cfg is not None else _paper_config(name)
    net_cfg = dict(cfg["config"])
    checked = net_cfg if preset_cfg is not None else None
    high = _with_conventions(folder, name, high, checked, conventions=net_cfg)
    low = _with_conventions(folder, name, _converted(folder, "transformer_2", (NETS[name][0]["transformer_2"],)),
                            checked, conventions=net_cfg)
    ratio = index.get("boundary_ratio")
    if ratio is not None and abs(float(ratio) - float(cfg["boundary"])) > 1e-9:
        raise ValueError(f"weights folder {folder}: model_index.json has boundary_ratio={ratio}, {name}'s preset "
                         f"switches experts at boundary={cfg['boundary']}")
    expert = components.config_of(high)
    key = expert.pop("type")
    if _config_of(low) != _config_of(high):
        raise ValueError(f"weights folder {folder}: transformer_2/ must have transformer/'s config (two experts of "
                         f"one architecture), got {_config_of(low)} vs {_config_of(high)}")
    model = components.build("net/noise_experts", net=key, config=expert, boundary=cfg["boundary"], device="meta")
    return _adopt(model, {"high_noise.": high, "low_noise.": low})


def _adopt(model: nn.Module, sources: dict[str, nn.Module]) -> nn.Module:
    """``model`` (built with ``device="meta"``) takes the tensors of ``sources`` (key prefix -> a module of the same
    structure): their state strictly, and any non-persistent buffer it still has on meta. No copy."""
    state = {f"{prefix}{k}": v for prefix, module in sources.items() for k, v in module.state_dict().items()}
    model.load_state_dict(state, strict=True, assign=True)
    for prefix, module in sources.items():
        for name, buffer in module.named_buffers():
            parent, _, attr = f"{prefix}{name}".rpartition(".")
            owner = model.get_submodule(parent)
            if getattr(owner, attr).is_meta:
                setattr(owner, attr, buffer)
    return model.eval()


def _config_of(module: nn.Module) -> dict:
    """The constructor keywords a converter built ``module`` with: ``config_of`` less its registry ``type`` and the
    keywords at their defaults (so a net built around it, e.g. ``net/controlled_unet``, sees only real choices)."""
    import inspect

    cfg = components.config_of(module)
    params = inspect.signature(components.get_component(cfg.pop("type")).obj).parameters
    defaults = {k: json.loads(json.dumps(p.default, default=list)) for k, p in params.items()
                if p.default is not inspect.Parameter.empty}
    return {k: v for k, v in cfg.items() if k not in defaults or defaults[k] != v}


def _paper_config(name: str) -> dict:
    import zoo

    return zoo.get_recipe(name).preset("paper").config


def _check_interface(folder: Path, name: str, cfg: dict, preset_cfg: dict | None) -> None:
    if preset_cfg is None:
        return
    # a size the preset leaves at its default is not compared, but conditioning the preset's net lacks is
    compared = [k for k in _INTERFACE if k in preset_cfg or k in _ALWAYS]
    bad = [f"{k}={preset_cfg.get(k)!r} (the folder's net has {cfg.get(k)!r})" for k in compared
           if (preset_cfg.get(k) or None) != (cfg.get(k) or None)]
    if "control_embedding_channels" in preset_cfg:
        ours, theirs = (len(c.get("control_embedding_channels", ())) for c in (preset_cfg, cfg))
        if ours != theirs:
            bad.append(f"{ours} control embedding widths, a map-to-latent factor of {2 ** (ours - 1)} (the folder's "
                       f"ControlNet has {theirs})")
    if bad:
        raise ValueError(f"weights folder {folder} does not fit {name}'s preset: the preset expects "
                         f"{'; '.join(bad)}; pick the preset of these weights (`python -m zoo describe {name}`)")


def _check_latents(folder: Path, name: str, preset: str | None, vae: nn.Module, recipe) -> None:
    if preset is not None and vae.latent_channels != recipe.preset(preset).channels:
        raise ValueError(f"weights folder {folder}/vae: {name}/{preset} samples {recipe.preset(preset).channels} "
                         f"latent channels, the folder's VAE has {vae.latent_channels}")


def _scaled_statistics(mean, std, vae_cfg: dict) -> dict:
    """Per-channel latent normalisation as the LTX and Mochi pipelines decode, ``z·std / scaling_factor + mean``
    (diffusers pipeline_ltx.py ``_denormalize_latents``, pipeline_mochi.py): ``latents_mean``, ``latents_std /
    scaling_factor``; without statistics, the scaling factor alone."""
    scale = float(vae_cfg.get("scaling_factor") or 1.0)
    if mean is None or std is None:
        return dict(scaling_factor=scale)
    return dict(latents_mean=tuple(float(m) for m in mean), latents_std=tuple(float(s) / scale for s in std))


def _buffered_statistics(vae: nn.Module, vae_cfg: dict) -> dict:
    """LTX-Video: the statistics are the converted VAE's ``latents_mean`` / ``latents_std`` buffers."""
    stats = vae.latent_statistics()
    return _scaled_statistics(stats["latents_mean"], stats["latents_std"], vae_cfg)


def _per_channel_statistics(folder: Path, vae_cfg: dict) -> dict:
    """Mochi: the statistics are in its VAE config."""
    return _scaled_statistics(vae_cfg.get("latents_mean"), vae_cfg.get("latents_std"), vae_cfg)


def _check_mochi_empty_prompt(folder: Path, index: dict) -> None:
    """MochiPipeline's ``force_zeros_for_empty_prompt`` (model_index.json) zeros the empty prompt's ids and mask;
    conditioning/text encodes "" as the tokenizer does (the default, False), so a folder asking for zeros is refused
    rather than guided differently from diffusers."""
    if index.get("force_zeros_for_empty_prompt"):
        raise ValueError(f"weights folder {folder}: model_index.json has force_zeros_for_empty_prompt=true; mochi's "
                         "unconditional branch is the empty prompt's T5 encoding with its mask (MochiPipeline's "
                         "default false); set it to false to load these weights")


def _check_clip_preprocessing(folder: Path, image_encoder: nn.Module) -> None:
    """The folder's ``image_processor/`` (if any) must be what ``conditioning/wan_image`` does in torch: CLIP's mean
    and std, a centre crop to the image encoder's ``image_size``."""
    from components.conditioning.clip_image import CLIP_MEAN, CLIP_STD

    path = folder / "image_processor" / "preprocessor_config.json"
    if not path.is_file():
        return
    cfg = json.loads(path.read_text())
    size = image_encoder.config.image_size
    crop = cfg.get("crop_size", size)
    crop = crop.get("height", size) if isinstance(crop, dict) else crop
    bad = [f"{k}={cfg.get(k)}" for k, want in (("image_mean", CLIP_MEAN), ("image_std", CLIP_STD))
           if cfg.get(k) is not None and any(abs(a - b) > 1e-6 for a, b in zip(cfg[k], want))]
    bad += [f"crop_size={crop}"] if crop != size else []
    if bad:
        raise ValueError(f"weights folder {folder}/image_processor: {', '.join(bad)}; conditioning/wan_image "
                         f"preprocesses as CLIP does (mean {CLIP_MEAN}, std {CLIP_STD}, a centre crop to the image "
                         f"encoder's image_size {size})")


# ---------------------------------------------------------------------- loading one component


def _model_index(folder: Path) -> dict:
    path = folder / "model_index.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"weights folder {folder}: model_index.json is not JSON ({err})") from None


def _config(folder: Path, sub: str) -> dict:
    path = folder / sub / "config.json"
    if not path.is_file():
        raise ValueError(f"weights folder {folder}: {sub}/ has no config.json (a save_pretrained folder expected)")
    return json.loads(path.read_text())


def _converted(folder: Path, sub: str, classes: tuple[str, ...]) -> nn.Module:
    """A diffusers model subfolder loaded with ``from_pretrained`` (local, safetensors only) and converted."""
    import diffusers

    from . import from_diffusers

    return from_diffusers(_from_pretrained(diffusers, folder, sub, _config(folder, sub).get("_class_name"), classes))


def _from_pretrained(library, folder: Path, sub: str, cls: str | None, classes: tuple[str, ...]) -> nn.Module:
    """``library.<cls>.from_pretrained(folder/sub)`` (local, safetensors only) in eval mode, ``cls`` one of
    ``classes``; a ValueError naming the folder, the subfolder and what it holds otherwise."""
    if cls not in classes:
        raise ValueError(f"weights folder {folder}: {sub}/ holds a {cls}, the recipe expects {' or '.join(classes)}")
    loader = getattr(library, cls)
    try:
        if library.__name__ == "diffusers" and getattr(loader, "_keep_in_fp32_modules", None) and \
                not _diffusers_has_accelerate():
            model = _without_accelerate(loader, folder / sub)
        else:
            model = loader.from_pretrained(folder / sub, local_files_only=True, use_safetensors=True)
    except (OSError, ValueError, RuntimeError) as err:
        raise ValueError(f"weights folder {folder}: could not load {sub}/ as {cls} ({err})") from None
    return model.eval()


def _diffusers_has_accelerate() -> bool:
    """Whether diffusers itself uses ``accelerate`` (its flag, fixed when diffusers was imported: a package installed
    later in the same process is not seen by it)."""
    from diffusers.utils import is_accelerate_available

    return is_accelerate_available()


def _without_accelerate(loader, path: Path) -> nn.Module:
    """A diffusers model with ``_keep_in_fp32_modules`` (Wan's transformer), whose ``from_pretrained`` needs
    ``accelerate``: built from its config (random, then replaced) and loaded strictly from its safetensors file or
    shards (``*.safetensors.index.json``), each tensor in its stored dtype."""
    from safetensors.torch import load_file

    shards = sorted(path.glob("*.safetensors.index.json"))
    if shards:
        files = sorted(set(json.loads(shards[0].read_text())["weight_map"].values()))
    else:
        files = [p.name for p in sorted(path.glob("*.safetensors")) if ".fp16." not in p.name][:1]
    if not files:
        raise ValueError("no *.safetensors weights there")
    model = loader.from_config(loader.load_config(path))
    state = {k: v for f in files for k, v in load_file(str(path / f)).items()}
    model.load_state_dict(state, strict=True, assign=True)
    return model


def _transformers_class(folder: Path, sub: str, index: dict) -> str | None:
    entry = index.get(sub)
    if isinstance(entry, list) and len(entry) == 2 and entry[1]:
        return entry[1]
    path = folder / sub / "config.json"
    architectures = json.loads(path.read_text()).get("architectures") if path.is_file() else None
    return architectures[0] if architectures else None


def _transformers_model(folder: Path, sub: str, classes: tuple[str, ...], index: dict) -> nn.Module:
    import transformers

    _config(folder, sub)
    return _from_pretrained(transformers, folder, sub, _transformers_class(folder, sub, index), classes)


def _tokenizer(folder: Path, index: dict, sub: str = "tokenizer"):
    import transformers

    cls = _transformers_class(folder, sub, index)
    loader = getattr(transformers, cls, None) if cls else None
    try:
        return (loader or transformers.AutoTokenizer).from_pretrained(folder / sub, local_files_only=True)
    except (OSError, ValueError) as err:
        raise ValueError(f"weights folder {folder}: could not load {sub}/ ({err})") from None
