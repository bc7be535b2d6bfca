"""Test configuration: hypothesis profiles and shared fixtures.

Hypothesis profile is chosen by ``HYPOTHESIS_PROFILE`` (``ci`` under CI=true, else ``dev``):
``ci`` 25 derandomized examples, no deadline; ``dev`` 100; ``nightly`` 500.
"""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings


settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("nightly", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(0)
