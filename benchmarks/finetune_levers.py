"""Peak memory and step time of each fine-tuning memory lever (docs/training.md, "Memory levers for fine-tuning").

    python -m benchmarks.finetune_levers --size 8 --frames 3      # the tiny SVD folder at its tiny size
    python -m benchmarks.finetune_levers --size 32 --frames 8     # the same folder on larger clips ("small")

Each lever runs in its own fresh process: ``Trainer`` on a tiny random SVD folder (``zoo.testing.tiny_folders``) and
the shipped ``carphone`` clip. The baseline is taken once the model, its EMA copy, the frozen parts and the data
(the latent cache) are loaded and *before the first training step*, so what the steps add is counted whole:
gradients, AdamW moments, activations kept for the backward pass and every temporary.

Peak memory, exactly (CPU): ``torch.profiler`` with ``profile_memory=True`` around the first ``--profiled`` steps
(default 2: the first step allocates the AdamW moments after its backward pass, the second is the steady state with
moments, last step's gradients and this step's activations alive together). c10's CPU allocator reports every
allocation and free made while profiling with its running total of the bytes allocated since profiling began and
still alive (``Total Allocated`` of the ``[memory]`` events); the peak is the largest. Frees of tensors allocated
before the baseline are not reported, so nothing made before it is ever subtracted. It counts tensor memory (what
PyTorch allocates), not the Python heap or oneDNN's own scratch. (The resident set is no cross-check here: the
profiler's own event buffers grow it by more than these steps allocate.) On CUDA: ``torch.cuda.max_memory_allocated``
after ``reset_peak_memory_stats`` at the baseline, minus the memory allocated at it.

Analytic split: a trained parameter's gradient (4 bytes) and AdamW moments (2 × 4 bytes) are 12 bytes that training
adds (its fp32 weight and EMA copy are resident before the baseline: ``resident``), so ``state`` = 12 × trainable and
``activations`` = peak − state (activations kept for the backward pass plus the temporaries alive at the peak).

Step time: the median over ``--steps`` timed steps (no profiler) after the profiled steps, which are the warm-up;
``--threads`` torch threads (default 2); wall-clock seconds and CPU seconds (``time.process_time``: every thread of
the process, what a loaded machine inflates least; ``OMP_WAIT_POLICY=PASSIVE`` so that idle OpenMP threads sleep
instead of spinning). The machine's load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


LEVERS = {
    "full fine-tune (fp32)": {},
    "full + gradient checkpointing": {"gradient_checkpointing": True},
    "LoRA r=4": {"lora": 4},
    "LoRA + gradient checkpointing": {"lora": 4, "gradient_checkpointing": True},
    "LoRA + bf16 autocast": {"lora": 4, "precision": "bf16"},
    "LoRA + frozen parts bf16": {"lora": 4, "frozen_dtype": "bf16"},
    "LoRA + checkpointing + bf16 + frozen bf16": {"lora": 4, "gradient_checkpointing": True, "precision": "bf16",
                                                  "frozen_dtype": "bf16"},
    "LoRA, no latent cache": {"lora": 4, "latent_cache": None},
}
MIB = 2**20


def _resident_bytes(*modules) -> int:
    """Bytes of the distinct tensor storages (parameters and buffers) of ``modules``: a LoRA run's EMA shares the
    frozen net's tensors, so they count once."""
    seen, total = set(), 0
    for module in modules:
        if module is None:
            continue
        for t in [*module.parameters(), *module.buffers()]:
            storage = t.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
    return total


def _profiled_peak(trainer, steps: int) -> int:
    """Largest ``Total Allocated`` (bytes allocated since profiling began and alive) over ``steps`` training steps."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        for _ in range(steps):
            trainer.train_step()
        trainer.flush()
    trace = Path(tempfile.mkdtemp()) / "trace.json"
    prof.export_chrome_trace(str(trace))
    events = json.loads(trace.read_text())["traceEvents"]
    trace.unlink()
    return max((e["args"]["Total Allocated"] for e in events if e.get("name") == "[memory]"), default=0)


def run_one(folder: str, lever: dict, size: int, frames: int, steps: int, batch: int, profiled: int,
            threads: int) -> dict:
    import torch

    from zoo.train import TrainConfig, Trainer

    torch.set_num_threads(threads)
    config = TrainConfig(model="svd", preset="tiny", data="carphone", weights=folder, steps=profiled + steps,
                         batch_size=batch, size=size, frames=frames, out=tempfile.mkdtemp(), progress=False, **lever)
    trainer = Trainer(config)  # weights, EMA, frozen parts, the data (latent cache written): the baseline
    pipe = trainer.pipe
    resident = _resident_bytes(trainer.model, trainer.ema, pipe.autoencoder, *pipe.encoders().values())
    cuda = trainer.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated()
    if cuda:
        for _ in range(profiled):
            trainer.train_step()
        trainer.flush()
        peak = torch.cuda.max_memory_allocated() - base_cuda
    else:
        peak = _profiled_peak(trainer, profiled)
    times, cpu = [], []
    for _ in range(steps):
        t0, c0 = time.perf_counter(), time.process_time()
        trainer.train_step()
        trainer.flush()  # reads the loss: the step is done
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    trainable = sum(p.numel() for p in trainer._trainable())
    return {"peak": peak, "resident": resident, "state": 12 * trainable,
            "trainable": trainable, "step_s": statistics.median(times), "steps": times,
            "cpu_s": statistics.median(cpu)}


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8, help="latent height = width (pixels: 2x for tiny SVD)")
    parser.add_argument("--frames", type=int, default=3, help="latent frames (= video frames for SVD)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps (median reported), at least 3")
    parser.add_argument("--profiled", type=int, default=2, help="steps whose memory is profiled (the warm-up)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", action="append", help="run only these levers (by name; repeatable)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps < 3 or args.profiled < 2:
        parser.error(f"--steps must be >= 3 and --profiled >= 2, got {args.steps} and {args.profiled}")
    if args.one:
        print(json.dumps(run_one(args.folder, LEVERS[args.one], args.size, args.frames, args.steps,
                                 args.batch_size, args.profiled, args.threads)))
        return 0
    from zoo.testing.tiny_folders import tiny_weights_folder

    folder = str(tiny_weights_folder("svd", Path(tempfile.mkdtemp()) / "svd-tiny"))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "OMP_WAIT_POLICY": "PASSIVE"}  # idle OpenMP threads sleep: no spinning on a shared machine
    print(f"svd tiny folder, carphone, latents {args.frames}x{args.size}x{args.size}, batch {args.batch_size}, "
          f"{args.threads} threads, {args.profiled} profiled + {args.steps} timed steps; load average at start "
          f"{_load()} (1/5/15 min)", flush=True)
    print("| lever | trainable params | resident weights (MiB) | peak added (MiB) | grads + AdamW (MiB) | "
          "activations + temporaries (MiB) | step (s) | CPU (s) |\n|---|---|---|---|---|---|---|---|", flush=True)
    for name in args.only or LEVERS:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.finetune_levers", "--one", name, "--folder", folder,
                               "--size", str(args.size), "--frames", str(args.frames), "--steps", str(args.steps),
                               "--profiled", str(args.profiled), "--batch-size", str(args.batch_size),
                               "--threads", str(args.threads)], capture_output=True, text=True, env=env)
        if proc.returncode:
            print(f"| {name} | failed: {proc.stderr.strip().splitlines()[-1]} | | | | | | |", flush=True)
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['trainable']:,} | {r['resident'] / MIB:.1f} | {r['peak'] / MIB:.1f} | "
              f"{r['state'] / MIB:.2f} | {(r['peak'] - r['state']) / MIB:.1f} | "
              f"{r['step_s']:.3f} | {r['cpu_s']:.3f} |", flush=True)
    print(f"load average at end {_load()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
