"""What the machine allows: datasheet peaks, ceilings measured in the same run, the environment, and which kernel ran.

* Datasheet peaks (dense, no sparsity) by ``torch.cuda.get_device_name`` (docs/perf.md §0): H100 SXM 989.4 TFLOP/s
  bf16/fp16 and 3.35 TB/s; H100 PCIe 756 / 2.0; H200 989.4 / 4.8; A100 312 / 1.555-2.039. CPU: None (no
  datasheet number we can trust for a shared cloud core).
* Measured ceilings: a square GEMM (bf16 8192³ on GPU, the run's dtype at 1024³ on CPU) in TFLOP/s and a
  device-to-device copy (``clone`` of 1 GiB on GPU, 256 MiB on CPU) in GB/s counting read + write bytes. Every case
  reports its throughput as a fraction of both, so numbers survive clocks, drivers and library changes (docs/perf.md §1).
* ``kernel_family`` runs a call under ``torch.profiler`` and names the attention kernels that actually ran on the GPU
  (flash / cudnn / efficient / flex / math), because the requested backend is not necessarily the one dispatched.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from collections.abc import Callable

import torch

from .timing import measure


# (substring of the lower-cased device name, label, {dtype: dense TFLOP/s}, GB/s); first match wins
_DATASHEET = (
    ("h100 pcie", "H100 PCIe", {"bfloat16": 756.0, "float16": 756.0, "float32": 51.2}, 2000.0),
    ("h100 nvl", "H100 NVL", {"bfloat16": 835.0, "float16": 835.0, "float32": 60.0}, 3900.0),
    ("h100", "H100 SXM", {"bfloat16": 989.4, "float16": 989.4, "float32": 66.9}, 3350.0),
    ("h200", "H200 SXM", {"bfloat16": 989.4, "float16": 989.4, "float32": 66.9}, 4800.0),
    ("a100-pcie-40gb", "A100 PCIe 40GB", {"bfloat16": 312.0, "float16": 312.0, "float32": 19.5}, 1555.0),
    ("a100 80gb pcie", "A100 PCIe 80GB", {"bfloat16": 312.0, "float16": 312.0, "float32": 19.5}, 1935.0),
    ("a100-sxm4-40gb", "A100 SXM 40GB", {"bfloat16": 312.0, "float16": 312.0, "float32": 19.5}, 1555.0),
    ("a100", "A100 SXM 80GB", {"bfloat16": 312.0, "float16": 312.0, "float32": 19.5}, 2039.0),
)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def datasheet_peak(device: torch.device, dtype: torch.dtype) -> dict:
    """``{"card", "tflops", "gbps"}`` from the table above; all None on CPU or an unknown card."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device).lower()
        for needle, label, tflops, gbps in _DATASHEET:
            if needle in name:
                return {"card": label, "tflops": tflops.get(str(dtype).replace("torch.", "")), "gbps": gbps}
    return {"card": None, "tflops": None, "gbps": None}


def measure_ceilings(device: torch.device, dtype: torch.dtype, *, quick: bool = False) -> dict:
    """GEMM TFLOP/s and copy GB/s measured now, with the method recorded next to the numbers."""
    if device.type == "cuda":
        n, copy_bytes, gemm_dtype = (2048 if quick else 8192), (2**26 if quick else 2**30), torch.bfloat16
    else:
        n, copy_bytes, gemm_dtype = (256 if quick else 1024), (2**23 if quick else 2**28), dtype
    a = torch.randn(n, n, device=device, dtype=gemm_dtype)
    b = torch.randn(n, n, device=device, dtype=gemm_dtype)
    gemm = measure(lambda: a @ b, device, warmup=2, repeats=3 if quick else 7, block_ms=5 if quick else 50)
    src = torch.randn(copy_bytes // 4, device=device)
    copy = measure(src.clone, device, warmup=2, repeats=3 if quick else 7, block_ms=5 if quick else 50)
    return {
        "gemm_tflops": 2 * n**3 / (gemm.ms * 1e-3) / 1e12,
        "gemm_shape": f"{n}x{n}x{n} {str(gemm_dtype).replace('torch.', '')}",
        "copy_gbps": 2 * copy_bytes / (copy.ms * 1e-3) / 1e9,
        "copy_bytes": copy_bytes,
    }


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def environment(device: torch.device, dtype: torch.dtype) -> dict:
    """Everything needed to read a result file later: versions, device, threads, commit, date."""
    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "device_name": device_name(device),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "dtype": str(dtype).replace("torch.", ""),
        "git_commit": commit,
        "git_dirty": bool(dirty) if dirty is not None else None,
    }


def _family(kernel: str) -> str | None:
    name = kernel.lower()
    if "cudnn" in name or "fmha_sm90" in name:
        return "cudnn"
    if "flash" in name:
        return "flash"
    if "fmha" in name or "efficient_attention" in name or "cutlass" in name and "attention" in name:
        return "efficient"
    if "triton" in name and ("flex" in name or "attention" in name):
        return "flex"
    if "softmax" in name:
        return "math"
    return None


def kernel_family(fn: Callable[[], object], device: torch.device) -> tuple[str | None, list[str]]:
    """Attention kernel families that ran on the GPU during ``fn()`` and the five longest kernels' names."""
    if device.type != "cuda":
        return None, []
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize(device)
    kernels = [e for e in prof.key_averages() if getattr(e, "device_type", None) == torch.autograd.DeviceType.CUDA]
    kernels.sort(key=lambda e: getattr(e, "device_time_total", getattr(e, "cuda_time_total", 0)), reverse=True)
    names = [e.key for e in kernels]
    families = sorted({f for f in map(_family, names) if f})
    # a fused family wins over "math" (math's softmax may appear beside a fused kernel only in odd setups)
    if len(families) > 1 and "math" in families:
        families.remove("math")
    return ("+".join(families) or "other"), names[:5]
