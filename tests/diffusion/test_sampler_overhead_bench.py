"""Smoke run of the sampler-overhead benchmark: structure only, never a time."""

from __future__ import annotations

import pytest


@pytest.mark.bench
def test_sampler_overhead_quick_run_returns_one_record_per_case():
    from benchmarks.sampler_overhead import SAMPLERS, run

    records = run(quick=True)
    assert {r["sampler"] for r in records} == set(SAMPLERS)
    assert {r["variant"] for r in records} == {"raw", "vp"}
    for r in records:
        assert {"name", "key", "us", "diffusers_us", "speedup", "speedup_q1", "speedup_q3",
                "overhead_pct_of_tiny"} <= set(r)
        assert r["us"] > 0 and r["diffusers_us"] > 0 and r["speedup"] > 0
