"""Peak memory and step time of each fine-tuning memory lever (docs/training.md, "Memory levers for fine-tuning").

    python -m benchmarks.finetune_levers --size 8 --frames 3      # the tiny SVD folder at its tiny size
    python -m benchmarks.finetune_levers --size 32 --frames 8     # the same folder on larger clips

Each lever runs in its own process (a fresh allocator): ``Trainer`` on a tiny random SVD folder and the shipped
``carphone`` clip, one warm-up step, then ``--steps`` timed steps. Peak memory is the largest resident set size
(sampled every millisecond from ``/proc/self/statm``) during the timed steps minus the resident set before them
(CPU; on CUDA ``torch.cuda.max_memory_allocated``), so it counts what training adds: weights' gradients, AdamW
moments, activations, the encoders' work.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


LEVERS = {
    "full fine-tune (fp32)": {},
    "full + gradient checkpointing": {"gradient_checkpointing": True},
    "LoRA r=4": {"lora": 4},
    "LoRA + gradient checkpointing": {"lora": 4, "gradient_checkpointing": True},
    "LoRA + bf16 autocast": {"lora": 4, "precision": "bf16"},
    "LoRA + frozen parts bf16": {"lora": 4, "frozen_dtype": "bf16"},
    "LoRA, no latent cache": {"lora": 4, "latent_cache": None},
}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_one(folder: str, lever: dict, size: int, frames: int, steps: int, batch: int) -> dict:
    import torch

    from zoo.train import TrainConfig, Trainer

    out = tempfile.mkdtemp()
    config = TrainConfig(model="svd", preset="tiny", data="carphone", weights=folder, steps=steps + 1,
                         batch_size=batch, size=size, frames=frames, out=out, progress=False, **lever)
    trainer = Trainer(config)
    trainer.train_step()  # warm-up (and the latent cache, when on, is already written)
    base, peak, done = _rss(), [0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.001)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    trainer.flush()
    elapsed = (time.perf_counter() - t0) / steps
    done.set()
    thread.join()
    cuda = torch.cuda.is_available() and trainer.device.type == "cuda"
    added = torch.cuda.max_memory_allocated() if cuda else max(0, peak[0] - base)
    trainable = sum(p.numel() for p in trainer._trainable())
    return {"peak_mib": added / 2**20, "step_s": elapsed, "trainable": trainable}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8, help="latent height = width (pixels: 2x for tiny SVD)")
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.folder, LEVERS[args.one], args.size, args.frames, args.steps,
                                 args.batch_size)))
        return 0
    from zoo.testing.tiny_folders import tiny_weights_folder

    folder = str(tiny_weights_folder("svd", Path(tempfile.mkdtemp()) / "svd-tiny"))
    print(f"svd tiny folder, carphone, latents {args.frames}x{args.size}x{args.size}, batch {args.batch_size}, "
          f"{os.environ.get('OMP_NUM_THREADS', '?')} threads")
    print("| lever | peak added (MiB) | step (s) | trainable params |\n|---|---|---|---|")
    for name in LEVERS:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.finetune_levers", "--one", name, "--folder", folder,
                               "--size", str(args.size), "--frames", str(args.frames), "--steps", str(args.steps),
                               "--batch-size", str(args.batch_size)], capture_output=True, text=True)
        if proc.returncode:
            print(f"| {name} | failed: {proc.stderr.strip().splitlines()[-1]} | | |")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['peak_mib']:.0f} | {r['step_s']:.2f} | {r['trainable']:,} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
