"""Launch a worker of this folder on N gloo ranks with torchrun, with timeouts (spawning ranks costs seconds)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(worker: str, ranks: int, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run ``tests/distributed/<worker> *args`` under ``torch.distributed.run`` with ``ranks`` processes."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(ranks),
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), str(Path(__file__).with_name(worker)),
           *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
