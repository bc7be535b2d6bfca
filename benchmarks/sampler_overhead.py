"""Sampler overhead per step: the zoo's samplers vs diffusers' ``scheduler.step`` in the same loop (docs/perf.md §7).

Both sides run a full N-step sampling loop around a no-op denoiser, so the time is pure sampler bookkeeping and
update arithmetic. Method: ``torch.set_num_threads(1)``, interleaved A/B pairs (ours, then diffusers), the
speed-up is the median of the per-pair ratios diffusers/ours, with its quartiles. Three variants of ours:

- ``raw``: the sampler over a no-op VE denoiser (the sampler's own cost);
- ``vp``: the same through ``denoiser/vp`` (VP scaling, σ -> t, parameterization), what a VP network pays —
  diffusers' loop includes its equivalent (``scale_model_input``, timestep lookup, ε -> x0).

A tiny denoiser (two 3×3×3 convs, 4 -> 32 -> 4 channels) on the same latent gives the scale: overhead as a percent
of one of its forward passes. ``python -m benchmarks.sampler_overhead [--quick]`` prints the table.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import torch
from torch import nn

import components


SAMPLERS = {  # ours, diffusers scheduler class, its constructor keywords
    "euler": ("sampler/euler", "EulerDiscreteScheduler", {}),
    "ddim": ("sampler/ddim", "DDIMScheduler", {"clip_sample": False}),
    "dpmpp_2m": ("sampler/dpmpp_2m", "DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "unipc": ("sampler/unipc", "UniPCMultistepScheduler", {}),
    "deis": ("sampler/deis", "DEISMultistepScheduler", {}),
}
SHAPES = {"16x32x32x4": (1, 4, 16, 32, 32), "13x16x60x90": (1, 16, 13, 60, 90)}
SD = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)


def _noop_ve(x, sigma):
    return x


def _noop_vp(z, t):
    return z


def _ours(key: str, denoiser, x: torch.Tensor, sigmas: torch.Tensor):
    sample = components.build(key)
    return lambda: sample(denoiser, x, sigmas)


def _diffusers(cls_name: str, kwargs: dict, x: torch.Tensor, steps: int):
    import diffusers

    scheduler = getattr(diffusers, cls_name)(timestep_spacing="trailing", **SD, **kwargs)

    def loop():
        scheduler.set_timesteps(steps)
        sample = x
        for t in scheduler.timesteps:
            out = _noop_vp(scheduler.scale_model_input(sample, t), t)
            sample = scheduler.step(out, t, sample).prev_sample
        return sample

    return loop


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _pairs(a, b, pairs: int) -> tuple[list[float], list[float]]:
    a(), b()  # warm-up
    ta, tb = [], []
    for _ in range(pairs):
        ta.append(_time(a))
        tb.append(_time(b))
    return ta, tb


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return q[0], statistics.median(values), q[2]


class _TinyDenoiser(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv3d(channels, 32, 3, padding=1), nn.SiLU(), nn.Conv3d(32, channels, 3, padding=1))

    def forward(self, x):
        return self.net(x)


def run(quick: bool = False) -> list[dict]:
    """One record per (shape, sampler, variant): per-step µs of ours and diffusers, speed-up, % of a tiny denoiser."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(quick)
    finally:
        torch.set_num_threads(threads)


def _run(quick: bool) -> list[dict]:
    import diffusers

    steps, pairs = (10, 5) if quick else (25, 15)
    shapes = {"16x32x32x4": SHAPES["16x32x32x4"]} if quick else SHAPES
    records = []
    for shape_name, shape in shapes.items():
        x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        tiny = _TinyDenoiser(shape[1]).eval()
        with torch.no_grad():
            tiny(x)  # warm-up
            tiny_ms = 1e3 * statistics.median(_time(functools.partial(tiny, x)) for _ in range(3 if quick else 7))
        ref_sched = diffusers.EulerDiscreteScheduler(timestep_spacing="trailing", **SD)
        ref_sched.set_timesteps(steps)
        sigmas = ref_sched.sigmas.float()
        vp = components.build("denoiser/vp", model=_noop_vp, schedule="schedule/scaled_linear")
        for name, (key, cls_name, kwargs) in SAMPLERS.items():
            theirs = _diffusers(cls_name, kwargs, x, steps)
            for variant, den in (("raw", _noop_ve), ("vp", vp)):
                ta, tb = _pairs(_ours(key, den, x, sigmas), theirs, pairs)
                ratios = [b / a for a, b in zip(ta, tb)]
                lo, med, hi = _quartiles(ratios)
                ours_us = 1e6 * statistics.median(ta) / steps
                records.append({
                    "name": f"{name}/{variant}/{shape_name}", "key": key, "sampler": name, "variant": variant,
                    "shape": list(shape), "steps": steps, "pairs": pairs, "threads": 1,
                    "us": ours_us, "diffusers_us": 1e6 * statistics.median(tb) / steps,
                    "speedup": med, "speedup_q1": lo, "speedup_q3": hi,
                    "tiny_denoiser_ms": tiny_ms, "overhead_pct_of_tiny": 100 * ours_us / (1e3 * tiny_ms),
                })
    return records


def _table(records: list[dict]) -> str:
    head = f"{'case':<32}{'ours µs/step':>14}{'diffusers µs/step':>19}{'speed-up (IQR)':>22}{'% tiny denoiser':>17}"
    lines = [head, "-" * len(head)]
    for r in records:
        iqr = f"{r['speedup']:.1f}× ({r['speedup_q1']:.1f}–{r['speedup_q3']:.1f})"
        lines.append(f"{r['name']:<32}{r['us']:>14.1f}{r['diffusers_us']:>19.1f}{iqr:>22}"
                     f"{r['overhead_pct_of_tiny']:>16.2f}%")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small latent, 10 steps, 5 pairs")
    print(_table(run(quick=parser.parse_args().quick)))
