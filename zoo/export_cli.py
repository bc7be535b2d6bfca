"""Export a trained run as a pipeline folder (``python -m zoo export RUN --out DIR``) that ``zoo.from_pretrained``
loads.

RUN is a ``zoo train`` run: its ``--out`` folder or its ``checkpoints/`` folder (both mean the newest valid
checkpoint) or one checkpoint directory. The folder holds the run's recipe and preset, the net built with the run's
overrides and the checkpoint's (EMA) weights, and the pipeline's other parts (``zoo.pretrained.export_run``);
safetensors and JSON only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zoo.cli_args import positive_int


__all__ = ["add_arguments", "main"]

_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN",
                        help="a `zoo train` run: its --out folder, its checkpoints/ folder or one checkpoint directory")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder to write (new, empty, or a pipeline saved before, which is replaced)")
    parser.add_argument("--sampler", metavar="KEY", help="sampler the saved plan samples with (default: the recipe's)")
    parser.add_argument("--steps", type=positive_int, help="default sampler steps of the saved plan (default: the "
                                                           "recipe's)")
    parser.add_argument("--weights", metavar="DIR",
                        help="the diffusers-format folder a fine-tuned run started from, if it moved (default: the "
                             "one its config.json records); a --lora run's adapters are merged into its net")
    parser.add_argument("--dtype", choices=sorted(_DTYPES), help="precision of the saved weights (default: the "
                                                                 "checkpoint's)")


def main(args: argparse.Namespace) -> int:
    import warnings

    import torch

    from zoo.cli_args import UsageError
    from zoo.pretrained import INDEX, export_run
    from zoo.sample import check_sampler, resolve_checkpoint

    # ---- refuse what can be refused before a model is built
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out}: is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / INDEX).is_file():
        raise UsageError(f"--out {args.out}: a non-empty folder that is not a saved pipeline (no {INDEX}); give a "
                         "new or empty folder")
    if not Path(args.run).exists():
        raise UsageError(f"RUN {args.run}: no such file or folder")
    try:
        file, config = resolve_checkpoint(args.run)
    except ValueError as err:
        raise UsageError(f"RUN {args.run}: {err}") from None
    if not config.get("model"):
        raise UsageError(f"RUN {args.run}: {file} has no config.json beside it naming its recipe (a checkpoint "
                         "written by `python -m zoo train` expected)")
    check_sampler(args.sampler)
    if args.weights is not None and not Path(args.weights).is_dir():
        raise UsageError(f"--weights {args.weights}: no such folder (the diffusers-format folder the run started from)")

    overrides = {k: v for k, v in dict(sampler=args.sampler, steps=args.steps).items() if v is not None}
    dtype = getattr(torch, _DTYPES[args.dtype]) if args.dtype else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        path = export_run(file.parent if file.name == "model.safetensors" else file, out, dtype=dtype,
                          weights=args.weights, **overrides)
    for warning in caught:
        print(f"note: {warning.message}", file=sys.stderr)
    files = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())
    size = sum((path / f).stat().st_size for f in files)
    print(f"exported {config['model']}/{config.get('preset', 'tiny')} (step {config.get('step', '?')}, {file}) to "
          f"{path}: {len(files)} files, {size / 2**20:.1f} MiB; load it with zoo.from_pretrained({str(path)!r})")
    return 0
