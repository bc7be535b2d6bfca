"""Speed against quality of every step cache and every sparse attention, on a trained DiT (or a tiny random recipe).

    OMP_NUM_THREADS=1 python -m benchmarks.speed_quality --checkpoint RUN --fvd-clips 8   # a `zoo train` run
    OMP_NUM_THREADS=1 python -m benchmarks.speed_quality --recipe wan2_1_t2v_1_3b        # tiny Wan, untrained

One table (docs/benchmarks/cpu/speed_quality.md is this command's output). The reference is the run's own dense,
uncached sample of ``--batch`` clips from one seed; each row samples the same noise with one change:

* a step cache (``benchmarks.step_caches.CONFIGS``; MagCache calibrated on the reference call first): network
  evaluations saved, ``1 − full / calls`` from ``pipe.last_run_stats``;
* a sparse attention swapped into a copy of the trained net (``swap_spacetime_attention``, training-free; VSA's gate
  stays at its zero init, so VSA is its fine branch alone): the measured density (kept query–key pairs, mean over
  every attention call of the run) and the attention FLOPs saved, ``1 − Σ flops(x) / Σ dense flops(x)`` of the
  measured density's pairs (core only; SVG's profiling rows and VSA's coarse stage added from the variants' counts).

Columns: CPU time of the whole sampling call against the reference's, interleaved ``--repeats`` times in one process
(medians; run it with 1 thread); PSNR / SSIM (zoo/image_quality.py) of the model-space sample against the
reference's, both scaled to [0, 1] by the reference's range, and of the decoded clips in [−1, 1] (data range 2);
FVD (zoo.metrics, I3D on CPU) of the decoded clips against the held-out real clips of the run's ``--data`` (its
validation split, every window at stride 1) passed through the same autoencoder (encode → decode), with
its bootstrap standard error. The ``dense`` row's FVD is the trained model's own; ``floor`` is the training clips,
encoded and decoded, against the same held-out clips.

A run's autoencoder is rebuilt as the trainer built it (its seed, then the net, then the pipeline) and checked
against the run's latent cache (the first training window re-encoded must equal its cached latents): the tiny
presets' autoencoders are random, so decoded frames are a fixed random map of the latents, the same on both sides of
every comparison.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from benchmarks.sparse_attention import RECIPE_KNOBS
from benchmarks.step_caches import CONFIGS, scaled


# the sparse variants' knobs per token grid (T, H, W) of the trained runs; any other grid (the tiny Wan's 5 × 4 × 4)
# uses sparse_attention.RECIPE_KNOBS. Radial over so few frames cannot be very sparse: the sink frame and the query's
# own frame are always kept, so decay_factor 0.25 narrows the bands of the others.
KNOBS = {
    (4, 8, 8): {  # sora_dit at 8 × 16 × 16 latents, (2, 2, 2) patches: 256 tokens
        "sliding_tile": {"tile": [1, 2, 2], "window": [3, 3, 3]},
        "radial": {"block_size": 8, "decay_factor": 0.25},
        "sparse_videogen": {"num_samples": 16},
        "video_sparse": {"tile": [1, 4, 4], "sparsity": 0.5},
    },
    (5, 8, 8): {  # wan2_1_t2v_1_3b at 5 × 16 × 16 latents (17 frames at 128 px), (1, 2, 2) patches: 320 tokens
        "sliding_tile": {"tile": [1, 2, 2], "window": [3, 3, 3]},
        "radial": {"block_size": 8, "decay_factor": 0.25},
        "sparse_videogen": {"num_samples": 16},
        "video_sparse": {"tile": [1, 4, 4], "sparsity": 0.5},
    },
}
# the control row: every token attends to itself only (STA with one-token tiles and a one-tile window), the most a
# sparse attention could change this net's sample; a variant's quality cost is bounded by this row's
CONTROL = ("sliding_tile", {"tile": [1, 1, 1], "window": [1, 1, 1]})


@dataclass
class Bench:
    """The model under test: its pipeline (the reference), the call's keywords and where it came from."""

    name: str
    preset: str
    pipe: object
    call: dict
    grid: tuple[int, int, int]
    trained: bool
    data: str | None = None
    pixel_shape: tuple[int, int, int, int] = (3, 1, 1, 1)
    initial: object = None  # a run's initial weights (the trainer's seed), sampled as the FVD's untrained reference
    notes: list[str] = field(default_factory=list)


def load_run(run: str | Path, *, batch: int, steps: int) -> Bench:
    """A ``zoo train`` run (its ``--out`` folder or a checkpoint directory) as a ``Bench``: the net with the
    checkpoint's weights, the autoencoder rebuilt from the run's seed and checked against its latent cache, the
    sample size the run trained at. ValueError naming ``--checkpoint`` for a broken or foreign checkpoint."""
    import zoo
    from zoo.sample import load_weights, resolve_checkpoint

    try:
        file, config = resolve_checkpoint(run)
    except (ValueError, FileNotFoundError) as err:
        raise ValueError(f"--checkpoint {run}: {err}") from None
    if not config.get("model"):
        raise ValueError(f"--checkpoint {run}: {file} has no config.json beside it naming its recipe (a `zoo train` "
                         "checkpoint has one)")
    train = config.get("train", {})
    name, preset = config["model"], config.get("preset", "tiny")
    torch.manual_seed(train.get("seed", 0))  # as the trainer: seed, net, then the pipeline (and its autoencoder)
    model = zoo.create_model(name, preset, **train.get("overrides", {})).eval()
    pipe = zoo.create_pipeline(name, preset, model=model)
    initial = copy.deepcopy(model)
    try:
        load_weights(model, run)
    except ValueError as err:
        raise ValueError(f"--checkpoint {run}: {err}") from None
    _, t, h, w = config.get("sample_shape") or pipe.sample_shape
    t, h, w = train.get("frames") or t, train.get("size") or h, train.get("size") or w
    bench = _bench(name, preset, pipe, (t, h, w), batch=batch, steps=steps, trained=True)
    bench.data, bench.initial = train.get("data"), initial
    if pipe.latent_space is not None and bench.data not in (None, "synthetic"):
        bench.notes.append(_check_autoencoder(pipe, Path(file).parent, train, bench))
    return bench


def untrained(name: str, preset: str, *, batch: int, steps: int, frames: int | None, size: int | None) -> Bench:
    """A recipe's preset with its random init moved by N(0, 0.05²) per parameter (as benchmarks.step_caches): the
    numbers then measure the mechanism, not a model."""
    import zoo
    from zoo.testing.tiny_pipelines import _perturb

    torch.manual_seed(0)
    pipe = zoo.create_pipeline(name, preset)
    _perturb(pipe.model)
    pipe.model.eval()
    _, t, h, w = pipe.sample_shape
    return _bench(name, preset, pipe, (frames or t, size or h, size or w), batch=batch, steps=steps, trained=False)


def _bench(name, preset, pipe, latent: tuple[int, int, int], *, batch: int, steps: int, trained: bool) -> Bench:
    import components

    t, h, w = latent
    f = pipe.spatial_factor
    cond = pipe.example_conditioning(batch, num_frames=t, height=h, width=w,
                                     generator=torch.Generator().manual_seed(0))
    call = dict(num_frames=pipe.pixel_frames(t), height=h * f, width=w * f, num_inference_steps=steps, seed=0,
                guidance=False, num_videos_per_prompt=batch, **cond)
    patch = components.config_of(pipe.model).get("patch_size") or (1, 1, 1)
    grid = (t // patch[0], h // patch[1], w // patch[2])
    return Bench(name, preset, pipe, call, grid, trained, pixel_shape=(3, pipe.pixel_frames(t), h * f, w * f))


def _check_autoencoder(pipe, run_dir: Path, train: dict, bench: Bench) -> str:
    """The first training window re-encoded here must equal the run's cached latents (same clip, same autoencoder)."""
    from safetensors import safe_open

    from zoo.data import data_source

    cache = Path(train["latent_cache"]) if train.get("latent_cache") not in (None, "auto", "off") else None
    for candidate in (cache, run_dir.parent.parent / "latents.safetensors", Path(train.get("out") or run_dir) /
                      "latents.safetensors"):
        if candidate is not None and candidate.is_file():
            break
    else:
        return "autoencoder not checked: the run has no latent cache"
    with safe_open(str(candidate), framework="pt") as f:
        cached = f.get_tensor("latents")[:1]
    _, frames, size, _ = bench.pixel_shape
    clip = data_source(bench.data, channels=3, frames=frames, size=size, seed=train.get("seed", 0), split="train",
                       stride=frames)[0]
    with torch.no_grad():
        mine = pipe.latent_space.encode(clip[None]).float()
    err = (mine - cached).abs().max().item()
    if err > 1e-4 * max(1.0, cached.abs().max().item()):  # fp32 re-encoding of one clip: ~1e-6, not a new VAE's ~1
        raise ValueError(f"--checkpoint: the autoencoder rebuilt from the run's seed does not reproduce its latent "
                         f"cache {candidate} (max |Δ| = {err:.3g}); the run was trained through another autoencoder")
    return f"autoencoder checked: the first training window re-encoded equals {candidate.name} (max |Δ| = {err:.1e})"


def _sample(pipe, call: dict, cache=None) -> tuple[torch.Tensor, float, dict]:
    start = time.perf_counter()
    with torch.no_grad():
        out = pipe(cache=cache, **call)
    return out.float(), time.perf_counter() - start, dict(pipe.last_run_stats)


def _interleaved(reference, variant, repeats: int) -> tuple[float, tuple]:
    """``(median variant time / median reference time, the variant's last result)``, calls alternated."""
    base, times, last = [], [], None
    for _ in range(repeats):
        base.append(reference()[1])
        last = variant()
        times.append(last[1])
    return statistics.median(times) / statistics.median(base), last


def _quality(out: torch.Tensor, ref: torch.Tensor, out_rgb, ref_rgb) -> dict:
    from zoo.image_quality import psnr, ssim

    a, b = scaled(out, ref), scaled(ref, ref)
    row = dict(psnr=psnr(a, b), ssim=ssim(a, b))
    if out_rgb is not None:
        x, y = out_rgb.clamp(-1, 1), ref_rgb.clamp(-1, 1)
        row.update(psnr_rgb=psnr(x, y, data_range=2.0), ssim_rgb=ssim(x, y, data_range=2.0))
    return row


def _record_density(model) -> list:
    """Wrap each sparse attention's ``sparse_core`` (an instance attribute) to log, per call, ``(last_density,
    sparse FLOPs, dense FLOPs)`` of the attention core: the measured density's pairs plus the variant's own extra
    work (``flops(x) − density(x) · dense``: SVG's profiling rows, VSA's coarse stage)."""
    from components.attention.spacetime import SpacetimeAttention
    from components.attention.sparse_spacetime import SparseSpacetimeAttention

    log = []
    for module in model.modules():
        if isinstance(module, SparseSpacetimeAttention):
            def wrapped(q, k, v, grid, m=module, core=module.sparse_core):
                out = core(q, k, v, grid)
                shape = (q.shape[0], m.dim, *grid)
                dense = SpacetimeAttention.flops(m, shape)
                extra = m.flops(shape) - m.density(shape) * dense
                log.append((m.last_density, m.last_density * dense + extra, dense))
                return out
            module.sparse_core = wrapped
    return log


def measure(bench: Bench, *, repeats: int, caches: bool = True, sparse: bool = True) -> list[dict]:
    """Every row of the table for one model (see the module docstring); decoded clips kept under ``"rgb"``."""
    import components
    import zoo
    from components.attention import swap_spacetime_attention

    pipe, call = bench.pipe, bench.call
    decode = pipe.latent_space is not None
    reference, ref_time, ref_stats = _sample(pipe, call)
    ref_rgb = pipe.decode(reference) if decode else None
    rows = [dict(row="dense, uncached", kind="reference", saved=0.0, time_ratio=1.0, psnr=float("inf"), ssim=1.0,
                 psnr_rgb=float("inf"), ssim_rgb=1.0, rgb=ref_rgb if decode else reference.clamp(-1, 1),
                 seconds=ref_time, calls=ref_stats["calls"])]
    if bench.initial is not None:  # not a speed lever: where the untrained net stands on every quality column
        init_pipe = zoo.create_pipeline(bench.name, bench.preset, model=bench.initial)
        if decode:
            init_pipe.autoencoder = pipe.autoencoder
        out = _sample(init_pipe, call)[0]
        rgb = pipe.decode(out) if decode else None
        rows.append(dict(row="initial weights (untrained)", kind="untrained", saved=None, time_ratio=None,
                         rgb=rgb if decode else out.clamp(-1, 1), **_quality(out, reference, rgb, ref_rgb)))
    if caches:
        calibration = components.build("cache/magcache", calibrate=True)
        _sample(pipe, call, calibration)
        configs = dict(CONFIGS, magcache={"type": "magcache", "mag_ratios": calibration.calibrated_ratios})
        for spec in configs.values():
            label = spec if isinstance(spec, str) else "magcache:calibrated"
            try:
                ratio, (out, _, stats) = _interleaved(lambda: _sample(pipe, call), lambda s=spec: _sample(pipe, call, s),
                                                      repeats)
            except (ValueError, TypeError) as err:  # a cache this net cannot take is a row saying why
                rows.append(dict(row=label, kind="cache", error=f"{type(err).__name__}: {err}"))
                continue
            rgb = pipe.decode(out) if decode else None
            rows.append(dict(row=label, kind="cache", saved=1 - stats["full"] / stats["calls"], time_ratio=ratio,
                             rgb=rgb if decode else out.clamp(-1, 1), **_quality(out, reference, rgb, ref_rgb)))
    if sparse:
        for variant, knobs in [*KNOBS.get(bench.grid, RECIPE_KNOBS).items(), CONTROL]:
            label = f"{variant}:" + ",".join(f"{k}={v}".replace(" ", "") for k, v in knobs.items())
            label = f"control (self only) {label}" if (variant, knobs) == CONTROL else label
            try:
                model = swap_spacetime_attention(copy.deepcopy(pipe.model), variant, **knobs)
            except (ValueError, TypeError) as err:
                rows.append(dict(row=label, kind="sparse", error=f"{type(err).__name__}: {err}"))
                continue
            log = _record_density(model)
            sparse_pipe = zoo.create_pipeline(bench.name, bench.preset, model=model)
            if decode:
                sparse_pipe.autoencoder = pipe.autoencoder
            try:
                ratio, (out, _, _) = _interleaved(lambda: _sample(pipe, call), lambda p=sparse_pipe: _sample(p, call),
                                                  repeats)
            except (ValueError, TypeError) as err:
                rows.append(dict(row=label, kind="sparse", error=f"{type(err).__name__}: {err}"))
                continue
            if not log:
                rows.append(dict(row=label, kind="sparse", error="no spacetime attention was swapped"))
                continue
            rgb = pipe.decode(out) if decode else None
            density = sum(d for d, _, _ in log) / len(log)
            flops_saved = 1 - sum(f for _, f, _ in log) / sum(d for _, _, d in log)
            rows.append(dict(row=label, kind="sparse", saved=flops_saved, density=density, time_ratio=ratio,
                             rgb=rgb if decode else out.clamp(-1, 1), **_quality(out, reference, rgb, ref_rgb)))
    return rows


def held_out_clips(bench: Bench) -> tuple[torch.Tensor, torch.Tensor]:
    """(held-out, training) windows of the run's data at the sampled pixel size, each passed through the autoencoder
    (encode → decode), so the random autoencoder is on both sides of the FVD. Held out: every validation window at
    stride 1 (a shipped clip's validation part holds only 2–3 non-overlapping windows; overlapping ones are
    correlated, but give the covariance more than one or two directions); training: the non-overlapping windows."""
    from zoo.data import data_source

    _, frames, size, _ = bench.pixel_shape
    windows = data_source(bench.data, channels=3, frames=frames, size=size, split="validation")
    held = torch.stack([windows[i] for i in range(len(windows))])
    train = data_source(bench.data, channels=3, frames=frames, size=size, split="train", stride=frames).all_clips()
    space = bench.pipe.latent_space
    if space is None:
        return held, train
    with torch.no_grad():
        return tuple(torch.cat([space.decode(space.encode(c)) for c in x.split(4)]) for x in (held, train))


def add_fvd(rows: list[dict], bench: Bench, *, bootstrap: int = 100) -> dict:
    """FVD ± bootstrap se of every row's decoded clips against the held-out clips; returns the floor's record."""
    from zoo.eval import score_batches
    from zoo.metrics import video_distances

    held, train = held_out_clips(bench)
    real = score_batches([held])["stats"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # N ≪ 400: rank-deficient covariances, said once in the doc
        floor = video_distances(real, score_batches([train])["stats"], bootstrap=bootstrap)
        for row in rows:
            if "rgb" in row:
                row.update({k: v for k, v in video_distances(real, score_batches([row["rgb"]])["stats"],
                                                             bootstrap=bootstrap).items()
                            if k in ("fvd", "fvd_se", "n_real", "n_generated", "caveat")})
    return dict(floor, held_out=len(held), training=len(train))


def _num(value, fmt: str) -> str:
    return "—" if value is None else ("∞" if value == float("inf") else fmt.format(value))


def table(rows: list[dict], model: str) -> str:
    lines = ["| model | change | evaluations saved / attention FLOPs saved | density | time vs reference | "
             "PSNR latent (dB) | SSIM latent | PSNR decoded (dB) | SSIM decoded | FVD ± se |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {model} | `{r['row']}` | {r['error']} | | | | | | | |")
            continue
        saved = "—" if r["saved"] is None or r["kind"] == "reference" else (
            f"{r['saved']:.0%} ({'evals' if r['kind'] == 'cache' else 'FLOPs'})")
        fvd = "—" if r.get("fvd") is None else f"{r['fvd']:.1f} ± {_num(r.get('fvd_se'), '{:.1f}')}"
        lines.append(f"| {model} | `{r['row']}` | {saved} | {_num(r.get('density'), '{:.3f}')} | "
                     f"{_num(r['time_ratio'], '{:.2f}×')} | {_num(r['psnr'], '{:.1f}')} | {r['ssim']:.3f} | "
                     f"{_num(r.get('psnr_rgb'), '{:.1f}')} | {_num(r.get('ssim_rgb'), '{:.3f}')} | {fvd} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed_quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", metavar="RUN", help="a `zoo train` run (--out folder or checkpoint directory)")
    parser.add_argument("--recipe", help="without --checkpoint: a recipe's preset, untrained (default: wan2_1_t2v_1_3b)")
    parser.add_argument("--preset", default="tiny", help="preset of --recipe (default: tiny)")
    parser.add_argument("--frames", type=int, help="--recipe: model-space frames (default: the preset's)")
    parser.add_argument("--size", type=int, help="--recipe: model-space height = width (default: the preset's)")
    parser.add_argument("--batch", type=int, default=8, help="clips per call, from one seed (default: 8)")
    parser.add_argument("--steps", type=int, default=20, help="sampler steps (default: 20)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timing repeats (default: 3)")
    parser.add_argument("--fvd", action="store_true", help="FVD of the --batch clips (I3D on CPU: ~2 s per clip)")
    parser.add_argument("--only", choices=("caches", "sparse"), help="one half of the table")
    parser.add_argument("--json", metavar="PATH", help="also write the rows (without clips) as JSON")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    args = parser.parse_args(argv)
    for flag in ("batch", "steps", "repeats", "threads"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be a positive integer, got {getattr(args, flag)}")
    if args.checkpoint and args.recipe:
        parser.error("give --checkpoint RUN or --recipe NAME, not both")
    torch.set_num_threads(args.threads)
    try:
        if args.checkpoint:
            bench = load_run(args.checkpoint, batch=args.batch, steps=args.steps)
        else:
            bench = untrained(args.recipe or "wan2_1_t2v_1_3b", args.preset, batch=args.batch, steps=args.steps,
                              frames=args.frames, size=args.size)
    except ValueError as err:
        parser.error(str(err))
    if args.fvd and not (bench.trained and bench.data not in (None, "synthetic")):
        parser.error("--fvd needs --checkpoint of a run trained on real clips (its held-out clips are the reference)")
    start = time.perf_counter()
    rows = measure(bench, repeats=args.repeats, caches=args.only != "sparse", sparse=args.only != "caches")
    floor = add_fvd(rows, bench) if args.fvd else None
    model = f"{bench.name}/{bench.preset}" + (" (trained)" if bench.trained else " (untrained)")
    for note in bench.notes:
        print(note)
    print(f"{model}: token grid {bench.grid}, {args.batch} clips of {bench.pixel_shape} px, {args.steps} steps, "
          f"{args.repeats} interleaved repeats, {time.perf_counter() - start:.0f} s")
    if floor:
        print(f"FVD floor (training windows vs held-out, both through the autoencoder): {floor['fvd']:.1f} ± "
              f"{_num(floor.get('fvd_se'), '{:.1f}')}; {floor['held_out']} held-out clips, {floor['training']} "
              f"training clips")
    print(table(rows, model))
    if args.json:
        keep = [{k: v for k, v in r.items() if k != "rgb"} for r in rows]
        Path(args.json).write_text(json.dumps(dict(model=model, grid=bench.grid, rows=keep, floor=floor,
                                                   notes=bench.notes), indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
