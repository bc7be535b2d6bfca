"""Public hypothesis strategies for diffusion math: schedules, noise levels, parameterizations, video shapes, dtypes.

hypothesis is a dev dependency, so this module is only imported explicitly (``from components.testing import
strategies``), never by ``import components``. Strategies draw small configs (numbers, names, shapes); tests build
tensors from a seeded ``torch.Generator`` inside the test, which is cheap and shrinks well (docs/quality.md §1.7).

    from hypothesis import given
    from components.testing import strategies as zst

    @given(zst.schedules(), zst.times(), zst.parameterizations())
    def test_my_parameterization(schedule, t, param): ...
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

import components
from components.diffusion.parameterizations import get_parameterization


__all__ = ["dtypes", "log_snrs", "parameterizations", "sampler_keys", "schedule_configs", "schedules", "seeds",
           "sigmas", "times", "video_shapes"]

_FLOAT = dict(allow_nan=False, allow_infinity=False, allow_subnormal=False)


def schedule_configs(continuous: bool | None = None) -> st.SearchStrategy[dict]:
    """Registry configs ``{"type": "schedule/...", ...}`` with varied knobs (continuous, discrete or both)."""
    cosine = st.builds(lambda lo, width: {"type": "schedule/cosine", "logsnr_min": lo, "logsnr_max": lo + width},
                       st.floats(-20, -5, **_FLOAT), st.floats(5, 35, **_FLOAT))
    shifted = st.builds(lambda r, f: {"type": "schedule/shifted_cosine", "resolution": r, "frames": f},
                        st.sampled_from([32, 64, 128, 256]), st.integers(1, 16))
    edm = st.builds(lambda lo, hi, rho: {"type": "schedule/edm", "sigma_min": lo, "sigma_max": hi, "rho": rho},
                    st.floats(1e-3, 1e-1, **_FLOAT), st.floats(10, 700, **_FLOAT), st.floats(1, 10, **_FLOAT))
    discrete = st.builds(lambda key, zt: {"type": key, "zero_terminal_snr": zt},
                         st.sampled_from(["schedule/linear", "schedule/scaled_linear"]), st.booleans())
    if continuous is True:
        return st.one_of(cosine, shifted, edm)
    if continuous is False:
        return discrete
    return st.one_of(cosine, shifted, edm, discrete)


def schedules(continuous: bool | None = None) -> st.SearchStrategy:
    """Built schedule objects (see ``schedule_configs``)."""
    return schedule_configs(continuous).map(components.build)


def times(min_value: float = 0.0, max_value: float = 1.0) -> st.SearchStrategy[float]:
    """Continuous times t in [min_value, max_value] (a sub-range of [0, 1])."""
    return st.floats(min_value, max_value, **_FLOAT)


def sigmas(min_value: float = 1e-3, max_value: float = 1e3) -> st.SearchStrategy[float]:
    """VE noise levels, log-uniform-ish over [min_value, max_value]."""
    import math

    return st.floats(math.log(min_value), math.log(max_value), **_FLOAT).map(math.exp)


def log_snrs(min_value: float = -15.0, max_value: float = 15.0) -> st.SearchStrategy[float]:
    return st.floats(min_value, max_value, **_FLOAT)


def parameterizations() -> st.SearchStrategy:
    """The VP parameterization objects (eps, v, x0)."""
    return st.sampled_from(["eps", "v", "x0"]).map(get_parameterization)


def video_shapes(max_batch: int = 2, max_channels: int = 4, max_frames: int = 5, max_side: int = 8
                 ) -> st.SearchStrategy[tuple[int, int, int, int, int]]:
    """``(B, C, T, H, W)`` shapes, T = 1 included (single images as one-frame videos)."""
    return st.tuples(st.integers(1, max_batch), st.integers(1, max_channels), st.integers(1, max_frames),
                     st.integers(1, max_side), st.integers(1, max_side))


def dtypes(include_low: bool = True) -> st.SearchStrategy[torch.dtype]:
    """Input dtypes: float32, and bfloat16/float16 when ``include_low``."""
    return st.sampled_from([torch.float32, torch.bfloat16, torch.float16] if include_low else [torch.float32])


def seeds() -> st.SearchStrategy[int]:
    return st.integers(0, 2**31 - 1)


def sampler_keys(stochastic: bool | None = None) -> st.SearchStrategy[str]:
    """Registered sampler keys (excluding inversion); ``stochastic`` filters deterministic / noise-drawing ones."""
    det = ["sampler/euler", "sampler/heun", "sampler/dpmpp_2m", "sampler/ddim"]
    sto = ["sampler/euler_ancestral", "sampler/ddpm", "sampler/ancestral_pc"]
    return st.sampled_from(det if stochastic is False else sto if stochastic else det + sto)
