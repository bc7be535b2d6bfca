"""Step caches, measured: network evaluations saved, CPU time against the uncached run, quality cost.

    python -m benchmarks.step_caches                       # CPU, 1 thread: latte + wan2_1_t2v_1_3b tiny presets
    python -m benchmarks.step_caches --device cuda --dtype bfloat16 --recipes wan2_1_t2v_1_3b --preset paper \\
        --frames 21 --height 60 --width 104 --steps 50      # GPU: Wan 2.1 1.3B at 480p's token count (21·30·52)

For every ``cache/*`` configuration in ``CONFIGS`` and every recipe: the same seeded call without and with the cache,
interleaved ``--repeats`` times in one process (median times); ``full`` / ``calls`` from ``pipe.last_run_stats``; PSNR
and SSIM (zoo/image_quality.py) of the cached model-space sample against the uncached one from the same noise, each
scaled to [0, 1] by the uncached sample's range. Weights: the preset's random init moved by N(0, 0.05²) per
parameter (zoo.testing ``_perturb``): untrained, so the rows measure the mechanism (a trained run:
``python -m benchmarks.speed_quality --checkpoint RUN``, which reuses ``CONFIGS``). MagCache is calibrated first on
the same call (``calibrate=True``).
Writes a markdown table (docs/benchmarks/cpu/step_caches.md is this command's output).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


CONFIGS = {
    "first_block": "first_block:threshold=0.05",
    "first_block_fast": "first_block:threshold=0.1",
    "teacache": "teacache:threshold=0.1",
    "magcache": None,  # calibrated per recipe: magcache with its calibrated ratios, threshold 0.06, K = 3
    "taylorseer": "taylorseer:cache_interval=3,disable_cache_before_step=2",
    "pab": "pab:spatial_skip=2,temporal_skip=4,cross_skip=6,timestep_range=[100,800]",
}


def scaled(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``x`` mapped to [0, 1] by the reference's range (``ref.min()`` -> 0, ``ref.max()`` -> 1), clamped."""
    lo, hi = ref.min(), ref.max()
    return ((x - lo) / (hi - lo)).clamp(0, 1)


def measure(recipe: str, preset: str, *, steps: int, repeats: int, device: str, dtype: torch.dtype,
            sizes: dict) -> list[dict]:
    import components
    import zoo
    from zoo.image_quality import psnr, ssim
    from zoo.testing.tiny_pipelines import _perturb

    pipe = zoo.create_pipeline(recipe, preset, device=device, dtype=dtype)
    torch.manual_seed(0)
    _perturb(pipe.model)  # off the zero-initialised output layer, so the net's output (and a cache's error) matter
    cond = pipe.example_conditioning(**{k: v for k, v in sizes.items() if v})
    cond = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in cond.items()}
    size = {"num_frames": sizes.get("num_frames"), "height": sizes.get("height"), "width": sizes.get("width")}
    size = {k: (pipe.pixel_frames(v) if k == "num_frames" else v * pipe.spatial_factor) for k, v in size.items() if v}

    def call(cache):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = pipe(num_inference_steps=steps, seed=0, cache=cache, guidance=False, **size, **cond)
        if device == "cuda":
            torch.cuda.synchronize()
        return out.float().cpu(), time.perf_counter() - t0, dict(pipe.last_run_stats)

    calibration = components.build("cache/magcache", calibrate=True)
    call(calibration)
    configs = dict(CONFIGS, magcache={"type": "magcache", "mag_ratios": calibration.calibrated_ratios})
    reference, _, _ = call(None)
    rows = []
    for name, spec in configs.items():
        base_times, times = [], []
        for _ in range(repeats):  # interleaved: uncached, cached, uncached, cached, ...
            base_times.append(call(None)[1])
            out, seconds, stats = call(spec)
            times.append(seconds)
        a, b = scaled(out, reference), scaled(reference, reference)
        rows.append(dict(recipe=f"{recipe}/{preset}", cache=name, spec=str(spec if isinstance(spec, str) else
                                                                          "magcache:calibrated"),
                         full=stats["full"], calls=stats["calls"],
                         time_ratio=statistics.median(times) / statistics.median(base_times),
                         psnr=psnr(a, b), ssim=ssim(a, b)))
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| recipe | cache | full / calls | evaluations saved | time vs uncached | PSNR (dB) | SSIM |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['recipe']} | `{r['spec']}` | {r['full']} / {r['calls']} | "
                     f"{1 - r['full'] / r['calls']:.0%} | {r['time_ratio']:.2f}× | {r['psnr']:.1f} | {r['ssim']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.step_caches", description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="+", default=["latte", "wan2_1_t2v_1_3b"])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--frames", type=int, help="model-space frames (default: the preset's)")
    parser.add_argument("--height", type=int, help="model-space height (latent pixels)")
    parser.add_argument("--width", type=int, help="model-space width (latent pixels)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = dict(num_frames=args.frames, height=args.height, width=args.width)
    rows = []
    for recipe in args.recipes:
        rows += measure(recipe, args.preset, steps=args.steps, repeats=args.repeats, device=args.device,
                        dtype=getattr(torch, args.dtype), sizes=sizes)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
