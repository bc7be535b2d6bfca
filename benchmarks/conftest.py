"""Fixtures for ``pytest benchmarks/ --benchmark-only`` (see ``benchmarks/pytest_support.py``)."""

from __future__ import annotations

import pytest

from benchmarks.cases import Context
from benchmarks.pytest_support import bench_context


@pytest.fixture(scope="session")
def bench_ctx() -> Context:
    return bench_context()
