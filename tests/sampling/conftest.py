"""Sampling-technique tests run on tiny tensors, where intra-op threads only add overhead (on a shared 2-core
machine a 16×32 float64 matmul took ~2 ms with 2 threads and ~4 µs with 1), so they run single-threaded."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
