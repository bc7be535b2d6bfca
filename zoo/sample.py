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
import time
from pathlib import Path

import torch
from torch import nn

from zoo.cli_args import positive_int


__all__ = ["add_arguments", "load_weights", "main", "pipeline", "resolve_checkpoint", "sample_videos"]


def _sampler_key(key: str) -> str:
    import components

    key = key if "/" in key else f"sampler/{key}"
    if not components.has_component(key) or not key.startswith("sampler/"):
        known = ", ".join(k.split("/", 1)[1] for k in components.list_components("sampler/*"))
        raise ValueError(f"unknown sampler {key!r}; available: {known}")
    return key


def pipeline(model: nn.Module, name: str, preset: str, *, sampler: str | None = None,
             sampler_kwargs: dict | None = None):
    """``zoo.create_pipeline`` around ``model``, with ``sampler`` (registry key or short name) instead of the
    recipe's when given (the recipe's sampler knobs are then dropped); ``sampler_kwargs`` add knobs."""
    import components
    import zoo

    pipe = zoo.create_pipeline(name, preset, model=model)
    if sampler or sampler_kwargs:
        key = _sampler_key(sampler or pipe.sampling.sampler)
        knobs = dict(pipe.sampling.sampler_kwargs) if key == _sampler_key(pipe.sampling.sampler) else {}
        pipe.sampler = components.build(key, **{**knobs, **(sampler_kwargs or {})})
    return pipe


def sample_videos(model: nn.Module, name: str, preset: str, *, num: int = 4,
                  shape: tuple[int, int, int, int] | None = None, steps: int | None = None,
                  sampler: str | None = None, seed: int = 0, progress: bool = False,
                  first_stage: bool = False) -> torch.Tensor:
    """``num`` RGB clips ``(num, 3, T, H, W)`` (decoded for a latent recipe) from pure noise; ``shape`` = (C, T, H, W)
    in model space, default the preset's. A conditional recipe gets random example conditioning (a smoke sample).
    ``first_stage``: a cascade's first model alone (``model`` is that model)."""
    pipe = pipeline(model, name, preset, sampler=sampler)
    pipe = pipe.base if first_stage and hasattr(pipe, "base") else pipe
    _, t, h, w = shape or pipe.sample_shape
    cond = pipe.example_conditioning(num, num_frames=t, height=h, width=w)
    return pipe(num_frames=t, steps=steps, seed=seed, batch_size=num, height=h, width=w, progress=progress,
                decode=True, **cond)


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
    """Load a checkpoint's weights (see ``resolve_checkpoint``) into ``model``; returns its config. Never unpickles."""
    from safetensors.torch import load_file

    file, config = resolve_checkpoint(path)
    model.load_state_dict(load_file(file, device=str(next(model.parameters()).device)))
    return config


def _load_folder(name: str, directory: str, preset: str) -> dict:
    """``zoo.convert.folder.load_pretrained_folder`` (imported here: it pulls in diffusers / transformers)."""
    try:
        from zoo.convert.folder import load_pretrained_folder
    except ImportError as err:
        raise ValueError(f"--weights needs zoo.convert.folder, which is not available here ({err})") from err
    return load_pretrained_folder(name, directory, preset=preset)


# ---------------------------------------------------------------------- the `sample` command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="model (recipe) to sample, e.g. 'vdm'; see `python -m zoo list`")
    parser.add_argument("--preset", help="preset of the recipe (default: the checkpoint's, else tiny)")
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="model.safetensors or a checkpoint directory from `zoo train` (default: random init)")
    parser.add_argument("--frames", type=positive_int, help="frames per clip (default: the preset's)")
    parser.add_argument("--size", type=positive_int, help="height = width (default: the preset's)")
    parser.add_argument("--steps", type=positive_int, help="sampler steps (default: the recipe's)")
    parser.add_argument("--sampler", metavar="KEY",
                        help="registry sampler, e.g. euler, dpmpp_2m (default: the recipe's); "
                             "`python -m zoo list 'sampler/*'` lists them")
    parser.add_argument("--num", type=positive_int, default=1, help="clips to sample, tiled side by side (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed; also the init seed without a checkpoint")
    parser.add_argument("--out", default="out.gif", help="output file: .gif, .mp4 (video extra) or .png strip "
                                                         "(default: out.gif)")
    parser.add_argument("--fps", type=float, default=8.0, help="frames per second of the GIF/MP4 (default: 8)")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--prompt", help="text prompt (recipes whose encoders take text; see `describe`)")
    parser.add_argument("--image", metavar="PATH", help="conditioning image (SVD), RGB at the sampled pixel size")
    parser.add_argument("--video", metavar="PATH", help="input video file (Gen-1 structure, ControlVideo edges)")
    parser.add_argument("--resize", action="store_true",
                        help="resize --image / --video to the sampled size instead of failing on a size mismatch")
    parser.add_argument("--weights", metavar="DIR",
                        help="a local diffusers-format folder (unet/transformer, vae, text_encoder / image_encoder, "
                             "tokenizer) loaded through zoo.convert.folder; never a hub download")


def main(args: argparse.Namespace) -> int:
    import zoo
    from zoo.export import save_video

    if Path(args.out).suffix.lower() not in (".gif", ".mp4", ".png"):
        raise ValueError(f"--out must end in .gif, .mp4 or .png, got {args.out!r}")
    recipe = zoo.get_recipe(args.name)
    config = resolve_checkpoint(args.checkpoint)[1] if args.checkpoint else {}
    preset = args.preset or config.get("preset", "tiny")
    p = recipe.preset(preset)
    _sampler_key(args.sampler or recipe.sampling_for(preset).sampler)  # fail before building anything
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(args.seed)
    parts = _load_folder(args.name, args.weights, preset) if args.weights else {}
    model = parts.get("model") or zoo.create_model(args.name, preset, **config.get("train", {}).get("overrides", {}))
    model = model.to(device)
    if args.checkpoint:
        load_weights(model, args.checkpoint)
    shape = (p.channels, args.frames or p.frames, args.size or p.height, args.size or p.width)
    pipe = pipeline(model, args.name, preset, sampler=args.sampler)
    if parts:
        (pipe.base if hasattr(pipe, "base") else pipe).use_parts(parts)
    _, t, h, w = shape
    inputs = {k: getattr(args, k) for k in ("prompt", "image", "video") if getattr(args, k) is not None}
    cond = pipe.encode(**inputs, batch=args.num, num_frames=t, height=h, width=w, resize=args.resize,
                       generator=torch.Generator(device).manual_seed(args.seed)) if inputs else {}
    example = pipe.example_conditioning(args.num, num_frames=t, height=h, width=w,
                                        generator=torch.Generator().manual_seed(args.seed))
    unfed = {k: v for k, v in example.items() if k not in cond}
    if unfed:  # no user input feeds these: random conditioning of valid shapes (a smoke run), said out loud
        cond.update(unfed)
        print(f"note: random {', '.join(unfed)} conditioning (no input given for it; see --prompt / --image / "
              f"--video)")
    t0 = time.perf_counter()
    video = pipe(num_frames=t, steps=args.steps, seed=args.seed, batch_size=args.num, height=h, width=w,
                 progress=not args.no_progress, decode=True, **cond)
    path = save_video(video.float().cpu(), args.out, fps=args.fps)
    weights = args.checkpoint or (f"--weights {args.weights}" if args.weights else "random init (no --checkpoint)")
    print(f"wrote {path}: {args.num} x {tuple(video.shape[1:])} from {args.name}/{preset} [{weights}] in "
          f"{time.perf_counter() - t0:.1f}s")
    return 0
