"""Sample videos from a recipe (``python -m zoo sample NAME --preset tiny --frames 8 --steps 25 --out out.gif``).

The recipe's sampling defaults (schedule, parameterization, sampler, steps) apply unless overridden; the VP network
is wrapped as a VE-space denoiser (``denoiser/vp``) and run by a registry sampler (``sampler/KEY``). Without
``--checkpoint`` the weights are the random initialisation, which is only useful to check that things run.

    pipe = pipeline(model, "vdm", "demo", sampler="dpmpp_2m")        # zoo.create_pipeline, sampler swapped
    video = sample_videos(model, "vdm", "demo", num=4, seed=0)     # (4, C, T, H, W), data range ~[-1, 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

from zoo.cli_args import add_video_output_arguments, positive_int


__all__ = ["add_arguments", "check_sampler", "checkpoint_config", "encoder_inputs", "load_weights", "main", "pipeline",
           "read_inputs", "resolve_checkpoint", "sample_videos"]


def pipeline(model: nn.Module, name: str, preset: str, *, sampler: str | None = None,
             sampler_kwargs: dict | None = None, **plan_overrides):
    """``zoo.create_pipeline`` around ``model`` with the plan's overrides (``zoo.resolve``): ``sampler`` (registry key
    or short name) instead of the recipe's (its knobs then dropped), ``sampler_kwargs`` on top, and any other plan
    override (``steps``, ``guidance``, ``attention_backend``, ...)."""
    import zoo

    return zoo.create_pipeline(name, preset, model=model, sampler=sampler, sampler_kwargs=sampler_kwargs,
                               **plan_overrides)


def sample_videos(model: nn.Module, name: str, preset: str, *, num: int = 4,
                  shape: tuple[int, int, int, int] | None = None, steps: int | None = None,
                  sampler: str | None = None, seed: int = 0, progress: bool = False,
                  first_stage: bool = False) -> torch.Tensor:
    """``num`` RGB clips ``(num, 3, T, H, W)`` in [-1, 1] (decoded for a latent recipe) from pure noise; ``shape`` =
    (C, T, H, W) in model space, default the preset's. A conditional recipe gets random example conditioning (a smoke
    sample). ``first_stage``: a cascade's first model alone (``model`` is that model; ``shape`` its own size)."""
    from dataclasses import replace

    from zoo.pipeline import Pipeline

    pipe = pipeline(model, name, preset, sampler=sampler)
    if first_stage and pipe.stages:
        c, *output = pipe.sample_shape
        first_size = pipe.stage_sizes(*output)[0]
        pipe = Pipeline(replace(pipe.plan, stages=()), model)
        shape = shape or (c, *first_size)
    _, t, h, w = shape or pipe.sample_shape
    cond = pipe.example_conditioning(num, num_frames=t, height=h, width=w)
    f = pipe.spatial_factor
    return pipe(num_frames=pipe.pixel_frames(t), num_inference_steps=steps, seed=seed, num_videos_per_prompt=num, height=h * f,
                width=w * f, progress=progress, decode=True, **cond)


def resolve_checkpoint(path: str | Path) -> tuple[Path, dict]:
    """``(weights file, config)`` of a checkpoint: a ``.safetensors`` file, a checkpoint directory of ``zoo train``,
    its ``checkpoints/`` folder or the run's ``--out`` folder (the latter two mean the newest valid checkpoint; see
    ``zoo.checkpoint.resolve``). A broken checkpoint raises ``ValueError`` naming the file and the reason."""
    from zoo.checkpoint import resolve

    path = resolve(path)  # validated against its manifest; a folder of checkpoints gives its newest valid one
    file = path / "model.safetensors" if path.is_dir() else path
    config = file.parent / "config.json"
    return file, (json.loads(config.read_text()) if config.is_file() else {})


def load_weights(model: nn.Module, path: str | Path) -> dict:
    """Load a checkpoint's weights (see ``resolve_checkpoint``) into ``model``; returns its config. Never unpickles.
    Weights that do not fit ``model`` (another recipe or preset) raise one ``ValueError`` naming the file, how many
    tensors differ and the first of them, instead of ``load_state_dict``'s list of every one."""
    from safetensors.torch import load_file

    file, config = resolve_checkpoint(path)
    state = load_file(file, device=str(next(model.parameters()).device))
    from zoo.checkpoint import state_mismatch

    mismatch = state_mismatch(model.state_dict(), state)
    if mismatch:
        raise ValueError(f"checkpoint {file} does not fit this model: {mismatch}; it was trained as "
                         f"{_trained_as(config) or 'an unknown recipe (no config.json beside it)'}")
    model.load_state_dict(state)
    return config


def _trained_as(config: dict) -> str | None:
    """``"NAME/PRESET"`` a checkpoint's ``config.json`` records (``zoo train``), or None."""
    return f"{config['model']}/{config.get('preset', '?')}" if config.get("model") else None


def checkpoint_config(path: str | Path, name: str, preset: str | None, *, flag: str = "--checkpoint") -> dict:
    """The config of the checkpoint ``path`` (``resolve_checkpoint``), refused in one line (``UsageError``) before
    any weights are read when it is broken or its ``config.json`` records another recipe or preset than
    ``name`` / ``preset`` (``preset`` None: any)."""
    from zoo.cli_args import UsageError

    try:
        file, config = resolve_checkpoint(path)
    except ValueError as err:
        raise UsageError(f"{flag} {path}: {err}") from None
    trained = _trained_as(config)
    if trained and (config["model"] != name or (preset is not None and config.get("preset") != preset)):
        asked = f"{name}/{preset or config.get('preset')}"
        raise UsageError(f"{flag} {path}: {file.parent if file.name == 'model.safetensors' else file} holds "
                         f"{trained} weights (its config.json), not {asked}; sample it with `python -m zoo sample "
                         f"{config['model']} --preset {config.get('preset')} {flag} {path}`")
    return config


def _load_folder(name: str, directory: str, preset: str) -> dict:
    """``zoo.convert.folder.load_pretrained_folder`` (imported here: it pulls in diffusers / transformers)."""
    try:
        from zoo.convert.folder import load_pretrained_folder
    except ImportError as err:
        raise ValueError(f"--weights needs zoo.convert.folder, which is not available here ({err})") from err
    return load_pretrained_folder(name, directory, preset=preset)


# ---------------------------------------------------------------------- the `sample` command

_FLAGS = {"prompt": "--prompt", "image": "--image", "video": "--video"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="model (recipe) to sample, e.g. 'vdm'; see `python -m zoo list`")
    parser.add_argument("--preset", help="preset of the recipe (default: the checkpoint's, else tiny)")
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="model.safetensors or a checkpoint directory from `zoo train` (default: random init)")
    parser.add_argument("--frames", type=positive_int,
                        help="frames per written clip (default: the preset's; 1 + 4k through a causal video VAE: Wan)")
    parser.add_argument("--size", type=positive_int,
                        help="height = width of the written video in pixels, for every recipe; a latent recipe "
                             "samples latents of size / its autoencoder's spatial factor, which must divide it "
                             "(default: the preset's)")
    parser.add_argument("--steps", type=positive_int, help="sampler steps (default: the recipe's)")
    parser.add_argument("--sampler", metavar="KEY",
                        help="registry sampler, e.g. euler, dpmpp_2m (default: the recipe's); "
                             "`python -m zoo list 'sampler/*'` lists them")
    parser.add_argument("--num", type=positive_int, default=1, help="clips to sample, tiled side by side (default: 1)")
    add_video_output_arguments(parser)
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                        help="precision of every part (model, autoencoder, encoders); the sampler's arithmetic and the "
                             "starting noise stay fp32 (default: float32)")
    parser.add_argument("--attention-backend", metavar="NAME",
                        help="attention backend of every attention module: auto, math, sdpa, sdpa_flash, "
                             "sdpa_efficient, sdpa_cudnn, flex, xformers (default: the preset's, else auto)")
    parser.add_argument("--attention", metavar="KEY[:knob=value,...]",
                        help="swap every full spacetime self-attention of the net (the DiT blocks' attn, Wan's "
                             "included) for a sparse video attention with the same weights, training-free: "
                             "sliding_tile, radial, sparse_videogen, video_sparse; knobs as JSON values, e.g. "
                             "sliding_tile:tile=[1,2,2],window=[3,1,1] (docs/components/sparse_attention.md)")
    parser.add_argument("--cache", metavar="KEY[:knob=value,...]",
                        help="a step cache reusing computation across denoising steps: first_block, teacache, "
                             "magcache, taylorseer (DiT-family nets) or pab (every net), e.g. "
                             "first_block:threshold=0.1 (docs/caches.md); the summary reports network evaluations")
    parser.add_argument("--context-parallel", metavar="ulysses|ring|ulysses=U,ring=R",
                        help="under torchrun: shard the DiT's token sequence across the ranks (Ulysses all-to-all, "
                             "Ring attention, or a U x R mesh), and split a Wan VAE's decode by latent frames; "
                             "writes the frames one process would (docs/context_parallel.md)")
    parser.add_argument("--cfg-parallel", action="store_true",
                        help="under torchrun: the conditional and unconditional branches of guidance on two ranks "
                             "(with --context-parallel: 2 x U x R ranks)")
    parser.add_argument("--prompt", help="text prompt (recipes whose encoders take text; see `describe`)")
    parser.add_argument("--image", metavar="PATH", help="conditioning image (SVD), RGB at the sampled pixel size")
    parser.add_argument("--video", metavar="PATH", help="input video file (Gen-1 structure, ControlVideo edges)")
    parser.add_argument("--resize", action="store_true",
                        help="resize --image / --video to the sampled size instead of failing on a size mismatch")
    parser.add_argument("--weights", metavar="DIR",
                        help="a local diffusers-format folder (unet/transformer, vae, text_encoder / image_encoder, "
                             "tokenizer) loaded through zoo.convert.folder; never a hub download")


def check_sampler(name: str | None) -> None:
    """``UsageError`` with the closest registry samplers for a ``--sampler`` that is not one."""
    import components
    from components.registry import did_you_mean
    from zoo.cli_args import UsageError

    if name is None:
        return
    key = name if "/" in name else f"sampler/{name}"
    if key.startswith("sampler/") and components.has_component(key):
        return
    known = [k.split("/", 1)[1] for k in components.list_components("sampler/*")]
    raise UsageError(f"--sampler {name!r}: unknown sampler. {did_you_mean(key.split('/', 1)[-1], known, cutoff=0.4)} "
                     f"Available: {', '.join(known)}")


def encoder_inputs(recipe) -> dict[str, tuple[str, ...]]:
    """Conditioning keyword -> the user inputs (prompt / image / video) its declared encoder (``Recipe.encoders``)
    takes, read from the encoder class's ``forward`` without building it."""
    import inspect

    import components

    inputs = {}
    for keyword, value in recipe.encoders.items():
        key = value if isinstance(value, str) else value[0]
        params = inspect.signature(components.get_component(key).obj.forward).parameters
        inputs[keyword] = tuple(n for n in params if n in _FLAGS)
    return inputs


def read_inputs(image: str | None, video: str | None) -> dict:
    """``--image`` / ``--video`` files read into tensors now, before any model is built: a missing, unreadable or
    wrong kind of file is one ``UsageError`` naming the argument and the file."""
    from components.conditioning.images import as_image, as_video
    from zoo.cli_args import UsageError

    given = {}
    if image is not None:
        path = Path(image)
        if not path.is_file():
            raise UsageError(f"--image {image}: no such file")
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                im.load()
                given["image"] = as_image(im.convert("RGB"))
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise UsageError(f"--image {image}: not an image file Pillow can read "
                             f"({type(err).__name__}: {err}); give a PNG or JPEG (a video goes to --video)") from None
    if video is not None:
        path = Path(video)
        if not path.is_file():
            raise UsageError(f"--video {video}: no such file")
        try:
            import av  # noqa: F401
        except ImportError:
            raise UsageError(f"--video {video}: reading a video needs PyAV, the `video` extra: "
                             "pip install 'video-diffusion-zoo[video]'") from None
        try:
            given["video"] = as_video(str(path))
        except Exception as err:  # PyAV's errors name neither the file nor the argument; any failure here is the file's
            raise UsageError(f"--video {video}: not a video file PyAV can decode "
                             f"({type(err).__name__}: {err})") from None
        if given["video"].shape[2] == 0:
            raise UsageError(f"--video {video}: holds no video frames")
    return given


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    import zoo
    from zoo.cli_args import UsageError
    from zoo.export import check_video_path, save_video

    # ---- everything that can be refused is refused here, before a model is built or a file read twice
    check_video_path(args.out, fps=args.fps)
    recipe = zoo.get_recipe(args.name)
    config = checkpoint_config(args.checkpoint, args.name, args.preset) if args.checkpoint else {}
    preset = args.preset or config.get("preset", "tiny")
    p = recipe.preset(preset)
    check_sampler(args.sampler)
    try:  # resolved once: every later step builds from this plan (sampler and preset are checked above)
        plan = zoo.resolve(recipe, preset, sampler=args.sampler, steps=args.steps,
                           attention_backend=args.attention_backend)
    except ValueError as err:
        if args.attention_backend is None:
            raise
        raise UsageError(f"--attention-backend {args.attention_backend}: {err}") from None
    sparse = _attention_spec(args.attention)
    step_cache = _cache_spec(args.cache)
    if args.weights and not Path(args.weights).is_dir():
        raise UsageError(f"--weights {args.weights}: no such folder (a local diffusers-format folder)")
    lora = (config.get("train") or {}).get("lora")
    if lora and not args.weights:
        raise UsageError(f"--checkpoint {args.checkpoint}: holds LoRA adapters (rank {lora}) trained on --weights "
                         f"{config['train'].get('weights')}; give --weights DIR (that folder) to apply them")
    wanted = encoder_inputs(recipe)
    offered = sorted({n for names in wanted.values() for n in names})
    for arg in ("prompt", "image", "video"):
        if getattr(args, arg) is not None and arg not in offered:
            takes = ", ".join(_FLAGS[n] for n in offered) or "no inputs (it samples unconditionally)"
            raise UsageError(f"{_FLAGS[arg]}: {args.name} takes no {arg}; it takes {takes}")
    given = {k for k in _FLAGS if getattr(args, k) is not None}
    unfed = {kw: names for kw, names in wanted.items() if not set(names) <= given}  # keyword -> its inputs
    real = args.weights or args.checkpoint
    if unfed and real:  # real weights conditioned on random inputs make a meaningless video: refuse
        flags = sorted({_FLAGS[n] for names in unfed.values() for n in names if n not in given})
        source = f"--weights {args.weights}" if args.weights else f"--checkpoint {args.checkpoint}"
        raise UsageError(f"{args.name} with real weights ({source}) needs {' and '.join(flags)} for its "
                         f"{', '.join(unfed)} conditioning; random conditioning is only for random-weight smoke runs "
                         "(no --weights / --checkpoint)")
    inputs = read_inputs(args.image, args.video)
    if args.prompt is not None:
        inputs["prompt"] = args.prompt

    # ---- the model and its pipeline
    dev = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dev = _join_ranks(args, dev)
    torch.manual_seed(args.seed)
    parts = _load_folder(args.name, args.weights, preset) if args.weights else {}
    dtype = getattr(torch, args.dtype)
    model = parts.get("model") or zoo.create_model(args.name, preset, device=dev, dtype=dtype,  # built in place
                                                   **config.get("train", {}).get("overrides", {}))
    model = model.to(dev)
    if args.checkpoint:
        try:
            if lora:  # a `zoo train --lora` run: its adapters on the --weights net
                from zoo.lora import load_lora_checkpoint

                load_lora_checkpoint(model, args.checkpoint, config)
            else:
                load_weights(model, args.checkpoint)
        except ValueError as err:  # weights of another shape (no config.json said so): name the argument
            raise UsageError(f"--checkpoint {args.checkpoint}: {err}") from None
    if sparse is not None:
        from components.attention import swap_spacetime_attention

        try:
            swap_spacetime_attention(model, sparse[0], **sparse[1])
        except (ValueError, TypeError) as err:
            raise UsageError(f"--attention {args.attention}: {err}") from None
    pipe = zoo.create_pipeline(plan, model=model)
    if parts:
        pipe.use_parts(parts)
    if dtype != torch.float32:
        pipe.to(dtype=dtype)
    rank = _set_context_parallel(args, model, step_cache)
    _set_frame_parallel_decode(args, pipe)

    # ---- sizes: --size is decoded pixels for every recipe; the model samples size / spatial factor
    factor = pipe.spatial_factor
    frames = args.frames or pipe.pixel_frames(p.frames)  # decoded frames; t: the model's (latent) frames
    try:
        t = pipe.model_frames(frames, "--frames")
    except ValueError as err:
        raise UsageError(str(err)) from None
    height, width = (args.size, args.size) if args.size else (p.height * factor, p.width * factor)
    if height % factor:
        raise UsageError(f"--size {args.size}: {args.name}/{preset} samples latents at 1/{factor} of the pixel size "
                         f"(its autoencoder's spatial factor {factor}), so --size must be a multiple of {factor}; "
                         f"e.g. {max(factor, height // factor * factor)} or {(height // factor + 1) * factor}")
    if recipe.stages:
        from zoo.stages import stage_sizes

        try:
            stage_sizes(recipe.stages, t, height, width)
        except ValueError as err:
            raise UsageError(f"--frames {t} / --size {height}: {err}") from None
    check_video_path(args.out, fps=args.fps, frame_size=(height, args.num * width + args.num - 1))
    # SIZES HANDOFF, the one place the two conventions meet: pipe(height=, width=) takes decoded pixels (`pixels`);
    # pipe.encode() and pipe.example_conditioning() take model-space sizes, latent pixels for a latent recipe (`hw`).
    pixels = dict(height=height, width=width)
    hw = dict(height=height // factor, width=width // factor)

    # ---- conditioning: the user's inputs, random example conditioning only where nothing feeds a keyword
    cond = pipe.encode(**inputs, batch=args.num, num_frames=t, **hw, resize=args.resize,
                       generator=torch.Generator(dev).manual_seed(args.seed), skip=tuple(unfed)) if inputs else {}
    example = pipe.example_conditioning(args.num, num_frames=t, **hw, generator=torch.Generator().manual_seed(args.seed))
    random_cond = {k: v for k, v in example.items() if k not in cond}
    flagless = [k for k in random_cond if k not in wanted]  # no argument of `zoo sample` feeds these
    if flagless and config.get("train", {}).get("cond") == "none":  # trained without them (`zoo train --cond none`)
        random_cond = {k: v for k, v in random_cond.items() if k not in flagless}
        flagless = []
    if random_cond:
        cond.update(random_cond)
        fed = [k for k in random_cond if k in wanted]
        if fed:
            missing = sorted({_FLAGS[n] for k in fed for n in wanted[k] if n not in given})
            _note(f"random-weight smoke run: random {', '.join(fed)} conditioning (no {' / '.join(missing)} given)")
        if flagless:
            _note(f"random {', '.join(flagless)} conditioning (no argument of `zoo sample` sets it)")

    # ---- sample and write
    t0 = time.perf_counter()
    video = pipe(num_frames=frames, num_inference_steps=args.steps, seed=args.seed, num_videos_per_prompt=args.num,
                 **pixels, progress=not args.no_progress, decode=True, cache=step_cache, **cond)
    if rank:  # every rank holds the same frames; rank 0 writes them
        return 0
    path = save_video(video.float().cpu(), args.out, fps=args.fps)
    weights = args.checkpoint or (f"--weights {args.weights}" if args.weights else "random init (no --checkpoint)")
    latent = f", latent {hw['height']}x{hw['width']} (factor {factor})" if factor > 1 else ""
    print(f"wrote {path}: {args.num} x {tuple(video.shape[1:])} from {args.name}/{preset} at {height}x{width} px"
          f"{latent} [{weights}] in {time.perf_counter() - t0:.1f}s")
    if step_cache is not None:
        stats = pipe.last_run_stats
        print(f"cache {args.cache}: {stats['full']} full network evaluations of {stats['calls']} "
              f"({stats['cached']} shortened by the cache)")
    if sparse is not None:
        print(f"attention {sparse[0]}: measured density {attention_density(model):.3f} (fraction of query-key pairs "
              "computed, mean over the swapped modules' last calls)")
    return 0


def _join_ranks(args: argparse.Namespace, dev: torch.device) -> torch.device:
    """With ``--context-parallel`` / ``--cfg-parallel``: join torchrun's process group (nccl on CUDA, else gloo);
    this rank's device."""
    if not (args.context_parallel or args.cfg_parallel):
        return dev
    import os
    from datetime import timedelta

    import torch.distributed as dist

    from zoo.cli_args import UsageError

    if "RANK" not in os.environ and not dist.is_initialized():
        raise UsageError("--context-parallel / --cfg-parallel: run under torchrun, e.g. torchrun --nproc_per_node 2 "
                         "-m zoo sample NAME --context-parallel ulysses")
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=timedelta(minutes=10))
    return dev


def _set_context_parallel(args: argparse.Namespace, model: nn.Module, step_cache) -> int:
    """Put ``model`` on the ``--context-parallel`` / ``--cfg-parallel`` mesh; this rank (0 without them)."""
    if not (args.context_parallel or args.cfg_parallel):
        return 0
    import torch.distributed as dist

    from components.attention import init_context_parallel, set_context_parallel
    from zoo.cli_args import UsageError

    flag = f"--context-parallel {args.context_parallel}" if args.context_parallel else "--cfg-parallel"
    if step_cache is not None and args.context_parallel:
        raise UsageError(f"{flag}: a step cache decides from one rank's tokens (ranks would diverge); drop --cache "
                         f"{args.cache}")
    try:
        cp = init_context_parallel(args.context_parallel or "ulysses=1", cfg_parallel=args.cfg_parallel)
        set_context_parallel(model, cp)
    except ValueError as err:
        raise UsageError(f"{flag}: {err}") from None
    return dist.get_rank()


def _set_frame_parallel_decode(args: argparse.Namespace, pipe) -> None:
    """Under ``--context-parallel`` / ``--cfg-parallel``: a Wan causal VAE decodes its latent frames split over every
    rank, each warming up on the frames before its chunk (exact; components/nets/vae_frame_parallel.py), and
    all-gathers them, so rank 0 writes the frames of one process."""
    if not (args.context_parallel or args.cfg_parallel):
        return
    from components.nets.vae_frame_parallel import set_frame_parallel_decode, splits_frames

    space = pipe.latent_space
    if space is not None and splits_frames(space.autoencoder):
        set_frame_parallel_decode(space.autoencoder)


def _attention_spec(spec: str | None) -> tuple[str, dict] | None:
    """``--attention KEY[:knob=value,...]`` -> ``(key, knobs)``, refused in one line (``UsageError``) unless KEY is
    a sparse video attention (a registered variant of ``attention/spacetime``)."""
    if spec is None:
        return None
    import components
    from components.attention import SpacetimeAttention, parse_attention_spec
    from components.registry import did_you_mean
    from zoo.cli_args import UsageError

    try:
        key, knobs = parse_attention_spec(spec)
    except ValueError as err:
        raise UsageError(str(err)) from None
    sparse = [k for k in components.list_components(kind="attention")
              if isinstance(components.get_component(k).obj, type)
              and issubclass(components.get_component(k).obj, SpacetimeAttention) and k != "attention/spacetime"]
    if key not in sparse:
        names = [k.split("/", 1)[1] for k in sparse]
        raise UsageError(f"--attention {spec}: KEY must be one of {names}, got {key.split('/', 1)[1]!r}. "
                         f"{did_you_mean(key.split('/', 1)[1], names)}")
    return key, knobs


def _cache_spec(spec: str | None):
    """``--cache KEY[:knob=value,...]`` -> a built ``cache/*`` (components/caches), refused in one line
    (``UsageError``) for an unknown key or knob or a knob out of its range."""
    if spec is None:
        return None
    import components
    from components.caches import as_cache
    from zoo.cli_args import UsageError

    try:
        return as_cache(spec)
    except (KeyError, TypeError, ValueError) as err:
        names = ", ".join(k.split("/", 1)[1] for k in components.list_components("cache/*"))
        raise UsageError(f"--cache {spec}: {err} (caches: {names})") from None


def attention_density(model: nn.Module) -> float:
    """Mean ``last_density`` of the sparse attention modules of ``model`` that have run (nan if none has)."""
    values = [m.last_density for m in model.modules() if getattr(m, "last_density", None) is not None]
    return sum(values) / len(values) if values else float("nan")
