"""Peer: every sampler we share with k-diffusion against k-diffusion's own ``sample_*`` function (issue #11, item 2).

Same nonlinear toy denoiser, the same 14-step Karras grid (k-diffusion's ``get_sigmas_karras``) and the same list of
noise draws (fed to ours as ``noise_sampler(k)`` and to k-diffusion as its ``noise_sampler(sigma, sigma_next)`` or,
where it draws with ``torch.randn_like``, through that call): ≤ 1e-4 in fp32 and ≤ 1e-7 relative in float64.

k-diffusion is installed with ``--no-deps`` (.ci/run, README): its package ``__init__`` imports training-only
dependencies, so ``k_diffusion.sampling`` is loaded under a bare package module instead.
"""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest
import torch

import components


def load_kdiffusion_sampling():
    """``k_diffusion.sampling`` without running ``k_diffusion/__init__.py`` (skip the test if it is not installed)."""
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("k-diffusion is not installed (pip install --no-deps k-diffusion==0.1.1.post1)")
    for dep in ("scipy", "torchsde", "torchdiffeq", "torchvision"):
        pytest.importorskip(dep)
    if "k_diffusion" not in sys.modules or not hasattr(sys.modules["k_diffusion"], "sampling"):
        package = types.ModuleType("k_diffusion")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["k_diffusion"] = package
    return importlib.import_module("k_diffusion.sampling")


K = load_kdiffusion_sampling()


def toy_denoiser(x, sigma):
    """A nonlinear D(x, σ) (so multistep and stochastic samplers are exercised off the Gaussian's linear path)."""
    s = sigma.reshape(-1, *([1] * (x.ndim - 1))).to(x.dtype)
    return x / (1 + s.square()) + 0.3 * torch.tanh(x) * s / (1 + s) - 0.1 * torch.sin(2 * x) / (1 + s)


class Noise:
    """One fixed list of draws; ``ours(k)`` and ``theirs(sigma, sigma_next)`` hand them out in the same order."""

    def __init__(self, shape, dtype, n=64):
        g = torch.Generator().manual_seed(1)
        self.draws = [torch.randn(shape, generator=g, dtype=torch.float64).to(dtype) for _ in range(n)]
        self.used = 0

    def ours(self, k):
        return self.draws[k]

    def theirs(self, *args):
        out, self.used = self.draws[self.used], self.used + 1
        return out


# (our key, our knobs, k-diffusion function, its knobs, noise via "sampler" | "randn_like" | None)
CASES = [
    ("sampler/euler", {}, "sample_euler", {}, None),
    ("sampler/euler_ancestral", {}, "sample_euler_ancestral", {}, "sampler"),
    ("sampler/euler_ancestral", {"eta": 0.5}, "sample_euler_ancestral", {"eta": 0.5}, "sampler"),
    ("sampler/heun", {}, "sample_heun", {}, None),
    ("sampler/heun", {"s_churn": 3.0, "s_tmin": 0.05, "s_tmax": 50.0}, "sample_heun",
     {"s_churn": 3.0, "s_tmin": 0.05, "s_tmax": 50.0}, "randn_like"),
    ("sampler/dpmpp_2m", {}, "sample_dpmpp_2m", {}, None),
    ("sampler/dpm_2", {}, "sample_dpm_2", {}, None),
    ("sampler/dpm_2", {"s_churn": 2.0, "s_tmax": 40.0}, "sample_dpm_2", {"s_churn": 2.0, "s_tmax": 40.0},
     "randn_like"),
    ("sampler/dpm_2_ancestral", {}, "sample_dpm_2_ancestral", {}, "sampler"),
    ("sampler/lms", {}, "sample_lms", {}, None),
    ("sampler/lms", {"order": 2}, "sample_lms", {"order": 2}, None),
    ("sampler/dpmpp_2s_ancestral", {}, "sample_dpmpp_2s_ancestral", {}, "sampler"),
    ("sampler/dpmpp_sde", {}, "sample_dpmpp_sde", {}, "sampler"),
    ("sampler/dpmpp_sde", {"eta": 0.5, "s_noise": 0.8}, "sample_dpmpp_sde", {"eta": 0.5, "s_noise": 0.8}, "sampler"),
    ("sampler/dpmpp_2m_sde", {}, "sample_dpmpp_2m_sde", {}, "sampler"),
    ("sampler/dpmpp_2m_sde", {"solver_type": "heun"}, "sample_dpmpp_2m_sde", {"solver_type": "heun"}, "sampler"),
    ("sampler/dpmpp_3m_sde", {}, "sample_dpmpp_3m_sde", {}, "sampler"),
    ("sampler/dpmpp_3m_sde", {"eta": 0.0}, "sample_dpmpp_3m_sde", {"eta": 0.0}, "sampler"),
]
IDS = [f"{fn}" + "".join(f"-{k}{v}" for k, v in kw.items()) for _, kw, fn, _, _ in CASES]


def run_both(case, dtype, monkeypatch):
    key, knobs, fn, their_knobs, noise_kind = case
    if not components.has_component(key):
        pytest.skip(f"{key} is not registered yet")
    sigmas = K.get_sigmas_karras(14, 0.002, 80.0).to(dtype)
    x = torch.randn(2, 3, 4, 5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(dtype)
    x = x * sigmas[0]
    noise = Noise(x.shape, dtype)
    extra = {"noise_sampler": noise.theirs} if noise_kind == "sampler" else {}
    if noise_kind == "randn_like":
        monkeypatch.setattr(torch, "randn_like", lambda like, **kw: noise.theirs().to(like.dtype))
    theirs = getattr(K, fn)(toy_denoiser, x.clone(), sigmas, disable=True, **their_knobs, **extra)
    monkeypatch.undo()
    ours = components.build(key, **knobs)(toy_denoiser, x.clone(), sigmas, noise_sampler=noise.ours)
    return ours, theirs


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fp32_matches_kdiffusion(case, monkeypatch):
    ours, theirs = run_both(case, torch.float32, monkeypatch)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float64_matches_kdiffusion_to_1e_7_relative(case, monkeypatch):
    ours, theirs = run_both(case, torch.float64, monkeypatch)
    err = float((ours - theirs).norm() / theirs.norm())
    assert err <= 1e-7, f"{case[0]}: relative error {err:.2e}"


# ----------------------------------------------------------------------------------------- Brownian-tree noise
SDE = [("sampler/dpmpp_sde", "sample_dpmpp_sde"), ("sampler/dpmpp_2m_sde", "sample_dpmpp_2m_sde"),
       ("sampler/dpmpp_3m_sde", "sample_dpmpp_3m_sde")]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("key,fn", SDE)
def test_brownian_noise_is_kdiffusions_brownian_tree(key, fn, dtype):
    """Both trees span the grid's positive levels (k-diffusion's default interval) in the sample's precision and are
    queried at the same levels (dpmpp_sde's as k-diffusion computes them, exp(−t) of t = −log σ): the noise is the
    same to the bit, and what is left is the samplers' own arithmetic. A Brownian path moves by ~sqrt(Δt) over a
    query-time difference Δt, so one float32 ulp in a level (~1e-7 relative) showed as 3e-4 to 6e-4 here before the
    interval and the query levels were matched; fp32 budget as for the other samplers (1e-4; measured <= 2.9e-6),
    float64 to 1e-12 (measured 5e-15)."""
    from components.diffusion.brownian import brownian_noise

    sigmas = K.get_sigmas_karras(14, 0.002, 80.0).to(dtype)
    x = (torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0)) * sigmas[0]).to(dtype)
    theirs = getattr(K, fn)(toy_denoiser, x.clone(), sigmas, disable=True,
                            noise_sampler=K.BrownianTreeNoiseSampler(x, sigmas[sigmas > 0].min(), sigmas.max(), seed=7))
    ours = components.build(key)(toy_denoiser, x.clone(), sigmas, noise_sampler=brownian_noise(x, sigmas, seed=7))
    atol = 1e-4 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(ours, theirs, atol=atol, rtol=0)
    other = components.build(key)(toy_denoiser, x.clone(), sigmas, noise_sampler=brownian_noise(x, sigmas, seed=8))
    assert float((other - theirs).abs().max()) > 100 * atol  # the seed is pinned: another path is far off


@pytest.mark.parametrize("key", ["sampler/dpmpp_sde", "sampler/dpmpp_2m_sde"])
def test_sde_samplers_converge_pathwise_with_brownian_noise(key):
    """With one Brownian path per seed, refining the grid converges to one sample; with fresh draws it does not."""
    from components.diffusion.brownian import BrownianNoise

    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 80.0
    sample = components.build(key)

    def run(steps, noise):
        return sample(toy_denoiser, x.clone(), K.get_sigmas_karras(steps, 0.002, 80.0).double(), noise_sampler=noise)

    path = lambda: BrownianNoise(x, 0.002, 80.0, seed=3)  # noqa: E731
    reference = run(320, path())
    errors = [float((run(n, path()) - reference).abs().max()) for n in (20, 40, 80)]
    assert errors[2] < errors[1] < errors[0], errors
    fresh = float((run(80, lambda k: torch.randn(x.shape, dtype=x.dtype)) - reference).abs().max())
    assert errors[2] < fresh / 3, (errors, fresh)


def test_a_level_aware_source_with_a_sampler_that_passes_no_levels_is_refused():
    from components.diffusion.brownian import brownian_noise

    sigmas = K.get_sigmas_karras(4, 0.002, 80.0)
    x = torch.randn(1, 3)
    with pytest.raises(ValueError, match="does not pass its noise levels"):
        components.build("sampler/euler_ancestral")(toy_denoiser, x, sigmas, noise_sampler=brownian_noise(x, sigmas))
