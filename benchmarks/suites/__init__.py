"""Benchmark suites. Each is ``run(ctx) -> list[dict]`` over whatever the registry holds when it runs.

    attention       every ``attention/*`` variant × every backend usable on the device (+ ``auto``), fwd and bwd
    attention_core  ``attend`` overhead vs direct SDPA; the auto-chosen temporal path vs the faster of SDPA and math
    factorized      spatial + temporal vs full spacetime attention: time ratio against FLOP ratio
    conv            every ``conv/*`` entry, fwd and bwd; (2+1)-D vs full 3-D convolution ratio
    blocks          every ``block/*`` entry, fwd and bwd
    recipes         ``zoo.list_models()`` × ``zoo.create_model(name, preset)`` forward (skipped until zoo has them)
    samplers        ``benchmarks.sampler_overhead.run(quick)`` (skipped until that module exists)
    vs_diffusers    SVD and ModelScope U-Nets, zoo vs diffusers forward on identical weights (interleaved ratio)
    diffusers_pipeline  the whole diffusers SVD pipeline call with our U-Net vs with its own (interleaved ratio)
"""

from __future__ import annotations

from collections.abc import Callable


def _load(name: str) -> Callable:
    import importlib

    return importlib.import_module(f"{__name__}.{name}").run


SUITES: dict[str, str] = {
    "attention": "attention",
    "attention_core": "core",
    "factorized": "factorized",
    "conv": "conv",
    "blocks": "blocks",
    "recipes": "recipes",
    "samplers": "samplers",
    "vs_diffusers": "vs_diffusers",
    "diffusers_pipeline": "diffusers_pipeline",
}


def get_suite(name: str) -> Callable:
    """The ``run(ctx)`` function of suite ``name`` (imported lazily)."""
    return _load(SUITES[name])
