"""Generate a clip and extend it autoregressively (``python -m zoo extend NAME --preset P --frames N --extend-by K
--context C --guidance reconstruction --out out.gif``).

The recipe's pipeline (``zoo.create_pipeline``) samples ``--frames`` frames, then ``components.diffusion.extend_video``
appends ``--extend-by`` frames in windows of ``--frames`` frames whose first ``--context`` frames are the last ones
generated so far, conditioned with reconstruction guidance (weight ``--weight``, VDM's w_r) or replacement. Without
``--checkpoint`` the weights are the random initialisation, which only shows that things run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from zoo.cli_args import add_video_output_arguments, positive_int


__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="model (recipe), e.g. 'vdm'; see `python -m zoo list`")
    parser.add_argument("--preset", help="preset of the recipe (default: the checkpoint's, else tiny)")
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="model.safetensors or a checkpoint directory from `zoo train` (default: random init)")
    parser.add_argument("--frames", type=positive_int,
                        help="frames generated first, also the window of every extension step (default: the preset's)")
    parser.add_argument("--extend-by", type=positive_int, required=True, help="frames to append in total")
    parser.add_argument("--context", type=positive_int, required=True,
                        help="known frames per window (the last frames generated so far); must be < --frames")
    parser.add_argument("--guidance", choices=("reconstruction", "replacement"), default="reconstruction",
                        help="conditioning on the context frames (default: reconstruction)")
    parser.add_argument("--weight", type=float, default=9.0,
                        help="reconstruction guidance weight w_r (default 9, VDM's Kinetics-600 setting)")
    parser.add_argument("--steps", type=positive_int, help="sampler steps (default: the recipe's)")
    add_video_output_arguments(parser)
    parser.add_argument("--data", metavar="SOURCE",
                        help="extend a held-out real clip instead of a generated one: the first validation clip of "
                             "a shipped clip name (bigbuckbunny, bikes, carphone) or a video file/folder")


def main(args: argparse.Namespace) -> int:
    import zoo
    from zoo.cli_args import UsageError
    from zoo.export import check_video_path, save_video

    check_video_path(args.out, fps=args.fps)
    recipe = zoo.get_recipe(args.name)
    config = {}
    if args.checkpoint:
        from zoo.sample import checkpoint_config

        config = checkpoint_config(args.checkpoint, args.name, args.preset)
    preset = args.preset or config.get("preset", "tiny")
    if args.data:
        from zoo.data import SHIPPED_CLIPS

        if args.data not in SHIPPED_CLIPS and not Path(args.data).exists():
            raise UsageError(f"--data {args.data}: no such file or folder, nor a shipped clip name "
                             f"({', '.join(SHIPPED_CLIPS)})")
    frames = args.frames or recipe.preset(preset).frames
    if not args.context < frames:
        raise UsageError(f"--context ({args.context}) must be smaller than --frames ({frames})")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(args.seed)
    pipe = zoo.create_pipeline(args.name, preset, **config.get("train", {}).get("overrides", {}))
    if args.checkpoint:
        from zoo.sample import load_weights

        try:
            load_weights(pipe.model, args.checkpoint)
        except ValueError as err:  # weights of another shape (no config.json said so): name the argument
            raise UsageError(f"--checkpoint {args.checkpoint}: {err}") from None
    pipe.model.to(device).eval()
    generator = torch.Generator(device).manual_seed(args.seed)
    c, _, h, w = pipe.sample_shape
    check_video_path(args.out, fps=args.fps, frame_size=(h, w))  # an odd MP4 size is refused before sampling
    t0 = time.perf_counter()
    first = None  # None: pipe.extend samples the first window from noise
    if args.data:
        from zoo.data import data_source

        first = data_source(args.data, channels=c, frames=frames, size=h, split="validation").all_clips(1).to(device)
    video = pipe.extend(first, new_frames=args.extend_by, context_frames=args.context, window=frames,
                        steps=args.steps, guidance=args.guidance, weight=args.weight, generator=generator)
    path = save_video(video.float().cpu(), args.out, fps=args.fps)
    weights = args.checkpoint or "random init (no --checkpoint)"
    print(f"wrote {path}: {frames} + {args.extend_by} frames of {args.name}/{preset} ({args.guidance}, context "
          f"{args.context}) [{weights}] in {time.perf_counter() - t0:.1f}s")
    return 0
