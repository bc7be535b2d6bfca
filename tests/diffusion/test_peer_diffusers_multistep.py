"""UniPC and DEIS against diffusers' own UniPCMultistepScheduler and DEISMultistepScheduler (issue #11 item 2).

Conventions bridged: diffusers steps VP latents z = α x on integer timesteps, its ``sigmas`` are the VE levels
σ = sqrt((1 − ᾱ)/ᾱ) of those timesteps (plus its final level: 0 for UniPC's ``final_sigmas_type="zero"``, the last
timestep's own σ for DEIS). Our samplers run on exactly that σ grid in VE space: the toy ε-network is called at
z = x/sqrt(1 + σ²) and the scheduler's timestep of that σ, D(x, σ) = x − σ ε; the start is x = z/α and the end is
compared as α x. Same toy model, same start noise, 14 steps.
"""

from __future__ import annotations

import pytest
import torch

import components


diffusers = pytest.importorskip("diffusers")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 deprecations inside diffusers
SD = dict(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
STEPS = 14


def toy_eps(z, t):
    """A smooth nonlinear stand-in for an ε-network, depending on the sample and the timestep."""
    return 0.6 * torch.tanh(z) * torch.cos(torch.as_tensor(1.3 * float(t) / 1000)) + 0.2 * torch.sin(2 * z) + 0.05


def _compare(scheduler, sampler):
    scheduler.set_timesteps(STEPS)
    sigmas = scheduler.sigmas.float()
    timestep_of = {float(s): t for s, t in zip(sigmas[:-1], scheduler.timesteps, strict=True)}
    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))

    z = noise.clone()
    for t in scheduler.timesteps:
        z = scheduler.step(toy_eps(z, t), t, z).prev_sample

    def denoiser(x, sigma, **cond):
        s = float(torch.as_tensor(sigma).flatten()[0])
        return x - s * toy_eps(x / (1 + s * s) ** 0.5, timestep_of[s])

    alpha = lambda s: 1 / (1 + s**2) ** 0.5  # noqa: E731
    x = sampler(denoiser, noise / alpha(sigmas[0]), sigmas)
    return x * alpha(sigmas[-1]), z


@pytest.mark.parametrize("variant", ["bh1", "bh2"])
@pytest.mark.parametrize("order", [2, 3])
def test_unipc_matches_diffusers(variant, order):
    # bh1 on diffusers' default zero final sigma returns NaN there (−inf · 0 in its last first-order step), so the
    # bh1 cases end at the last timestep's own level; bh2 runs diffusers' defaults
    final = "sigma_min" if variant == "bh1" else "zero"
    ref = diffusers.UniPCMultistepScheduler(solver_type=variant, solver_order=order, final_sigmas_type=final, **SD)
    ours, theirs = _compare(ref, components.build("sampler/unipc", order=order, variant=variant))
    assert torch.isfinite(theirs).all()
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def test_unip_without_corrector_matches_diffusers_disable_corrector():
    ref = diffusers.UniPCMultistepScheduler(solver_order=2, disable_corrector=list(range(STEPS)), **SD)
    ours, theirs = _compare(ref, components.build("sampler/unipc", order=2, corrector=False))
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)
    corrected, _ = _compare(diffusers.UniPCMultistepScheduler(solver_order=2, **SD), components.build("sampler/unipc"))
    assert (corrected - ours).abs().max() > 1e-3  # the corrector changes the result


@pytest.mark.parametrize("order", [1, 2, 3])
def test_deis_matches_diffusers(order):
    ref = diffusers.DEISMultistepScheduler(solver_order=order, **SD)
    ours, theirs = _compare(ref, components.build("sampler/deis", order=order))
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def test_bad_knobs_are_named():
    with pytest.raises(ValueError, match="variant must be one of"):
        components.build("sampler/unipc", variant="bh3")
    with pytest.raises(ValueError, match=r"order must be an integer in \[1, 3\], got 4"):
        components.build("sampler/deis", order=4)
