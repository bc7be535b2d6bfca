"""Timing and memory primitives: what one number means and how it was taken (docs/perf.md §1, §6, §7).

* **GPU** (``device.type == "cuda"``): ``triton.testing.do_bench``-style. Each sample is one call bracketed by CUDA
  events; before every sample a 256 MiB buffer is zeroed (outside the events) so the L2 cache (50 MB on H100) holds
  nothing of the working set. No ``synchronize()`` sits inside the timed region (a per-call sync inflates
  microsecond kernels 10x, flashinfer-bench#195); the events are read once after all samples.
* **CPU**: ``time.perf_counter`` around a block of back-to-back calls, the block sized to last at least
  ``block_ms`` so timer resolution and Python call overhead are amortised; the per-call time is block / calls.
* Warm-up calls run first (they cover cuDNN plan creation, autotune and lazy initialisation), then the **median**
  over ``repeats`` samples is reported with the inter-quartile range.
* **Ratios** (A vs B): interleaved runs — A, B, A, B … with the order flipped every round — and the **median of the
  per-round ratios**, so drift and a concurrent process hit both sides alike (docs/perf.md §7 method). Each run is a
  block of back-to-back calls (``block_ms`` long; on GPU between two CUDA events, no L2 flush) so that host-side
  cost — e.g. the dispatcher's Python overhead on a launch-bound call — is part of what is compared, not hidden
  behind a queued flush kernel.
* **Peak memory**: GPU ``torch.cuda.max_memory_allocated`` minus the allocation before the call (xformers'
  ``mem_use_mb``). CPU has no allocator peak counter; we reset the kernel's resident-set high-water mark
  (``/proc/self/clear_refs`` ← 5) and report ``VmHWM`` after the call minus ``VmRSS`` before it: the peak extra
  resident memory of the whole process during the call (includes allocator caching; None where Linux refuses).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch


_L2_FLUSH_BYTES = 256 * 2**20
_flush_buffers: dict[int, torch.Tensor] = {}


@dataclass
class Timing:
    """Per-call milliseconds: the median over ``samples`` and its quartiles."""

    ms: float
    q1: float
    q3: float
    samples: list[float] = field(default_factory=list)
    calls_per_sample: int = 1


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q2, q1, q3


def _flush_l2(device: torch.device) -> None:
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _flush_buffers:
        _flush_buffers[index] = torch.empty(_L2_FLUSH_BYTES, dtype=torch.uint8, device=device)
    _flush_buffers[index].zero_()


def _cuda_samples(fn: Callable[[], object], device: torch.device, count: int, flush_l2: bool) -> list[float]:
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(count)]
    for start, end in events:
        if flush_l2:
            _flush_l2(device)
        start.record()
        fn()
        end.record()
    torch.cuda.synchronize(device)
    return [start.elapsed_time(end) for start, end in events]


def _cpu_block(fn: Callable[[], object], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) * 1e3 / calls


def _cuda_block(fn: Callable[[], object], device: torch.device, calls: int) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(calls):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / calls


def _block(fn: Callable[[], object], device: torch.device, calls: int) -> float:
    return _cuda_block(fn, device, calls) if device.type == "cuda" else _cpu_block(fn, calls)


def calls_for(fn: Callable[[], object], device: torch.device, block_ms: float) -> int:
    """How many back-to-back calls make a block of at least ``block_ms`` (from one timed call)."""
    one = _block(fn, device, 1)
    return max(1, min(10_000, int(block_ms / max(one, 1e-4)) + 1))


def measure(
    fn: Callable[[], object],
    device: torch.device,
    *,
    warmup: int = 2,
    repeats: int = 10,
    block_ms: float = 20.0,
    flush_l2: bool = True,
) -> Timing:
    """Median per-call time of ``fn()`` in milliseconds (see the module docstring for the method)."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    if device.type == "cuda":
        samples = _cuda_samples(fn, device, repeats, flush_l2)
        calls = 1
    else:
        calls = calls_for(fn, device, block_ms)
        samples = [_cpu_block(fn, calls) for _ in range(repeats)]
    ms, q1, q3 = _quartiles(samples)
    return Timing(ms, q1, q3, samples, calls)


def interleaved(
    fns: dict[str, Callable[[], object]],
    device: torch.device,
    *,
    rounds: int = 11,
    warmup: int = 1,
    block_ms: float = 20.0,
) -> dict[str, list[float]]:
    """Per-round per-call milliseconds of every function, run interleaved (order reversed every other round)."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    synchronize(device)
    calls = {name: calls_for(fns[name], device, block_ms) for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            times[name].append(_block(fns[name], device, calls[name]))
    return times


def ratio_stats(numerator: list[float], denominator: list[float]) -> tuple[float, float, float]:
    """Median and quartiles of the per-round ratios ``numerator[i] / denominator[i]``."""
    ratios = [a / b for a, b in zip(numerator, denominator) if b > 0]
    return _quartiles(ratios)


def _proc_status_kib(field_name: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_rss_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_memory_mb(fn: Callable[[], object], device: torch.device) -> tuple[float | None, str]:
    """Peak extra memory of one call of ``fn`` in MiB and a label saying what was measured."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20, "cuda max_memory_allocated delta"
    if not _reset_rss_peak():
        return None, "not measured (cannot reset the RSS high-water mark)"
    before = _proc_status_kib("VmRSS")
    fn()
    peak = _proc_status_kib("VmHWM")
    if before is None or peak is None:
        return None, "not measured (no /proc/self/status)"
    return max(0, peak - before) / 1024, "process RSS high-water mark minus RSS before (includes allocator caching)"
