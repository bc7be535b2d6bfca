"""CogVideoX's sampler against diffusers' own: the recipe's "trailing" time grid (``Sampling.spacing``) is
``CogVideoXDDIMScheduler``'s timesteps, and our whole sample loop (a ``--weights DIR`` folder through ``zoo``'s
pipeline: T5 prompt, classifier-free guidance 6 with the empty negative prompt, DDIM over v-prediction, the VAE
decode) gives ``CogVideoXPipeline``'s frames. Offline, fp32, tiny random weights (``zoo.testing.tiny_cogvideox``).

The two samplers differ in one number: the terminal ᾱ_999. diffusers' CogVideoX scheduler keeps it exactly 0 (zero
SNR, σ_VE = ∞), our discrete schedule keeps diffusers' finite stand-in ``TERMINAL_ALPHA_BAR`` = 2^-24 (σ_VE = 4096)
so the VE grid is finite. Error budget:

* same ᾱ table (the reference scheduler given the stand-in): one transformer call differs by δ ≈ 1e-6 (fp32
  summation order; tests/convert/test_cogvideox_pipeline.py), guidance multiplies it by |s| + |1 − s| = 11, each DDIM
  step by ≤ ~2, the tiny VAE decoder by < 4: ≤ ~2e-4 worst case over 2 steps; measured ≤ 5e-6; asserted 1e-4;
* the published scheduler (ᾱ_999 = 0): the first step's x̂0 = √ᾱ x_T − √(1 − ᾱ) v differs by √(2^-24) |x_T| =
  2^-12 |x_T| (≈ 1e-3 at |x_T| = 4.1); later steps carry it with weight √ᾱ_prev ≤ 1: latents asserted within
  2 · 2^-12 · max |x_T| (measured 4.2e-4 over 2 steps against a budget of 2.0e-3).
"""

from __future__ import annotations

import pytest
import torch

import zoo
from components.diffusion.schedules import TERMINAL_ALPHA_BAR


diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from zoo.convert.folder import load_pretrained_folder  # noqa: E402
from zoo.testing.tiny_cogvideox import COGVIDEOX_SCHEDULER, tiny_cogvideox_pipeline  # noqa: E402


ATOL = 1e-4
PROMPT = "a dog on a skateboard"
SIZE = dict(num_frames=9, height=64, width=64, num_inference_steps=2, guidance_scale=6.0)  # 3 × 8×8 latents


@pytest.mark.parametrize("steps", [50, 2])
def test_cogvideox_time_grid_is_cogvideox_ddim_schedulers_trailing_timesteps(steps):
    """The network times our sample loop feeds the transformer (recorded at its calls) are
    ``CogVideoXDDIMScheduler(...).set_timesteps(steps).timesteps`` (50: 999, 979, …, 19): rounded, exactly; unrounded
    within 1e-4 (the grid is kept as fp32 σ levels, whose round trip to a timestep index is off the integer by
    ≤ 6.1e-5, measured; diffusers feeds the integers)."""
    scheduler = diffusers.CogVideoXDDIMScheduler(**COGVIDEOX_SCHEDULER)
    scheduler.set_timesteps(steps)
    for name in ("cogvideox_2b", "cogvideox_5b"):
        pipe = zoo.create_pipeline(name, "tiny")
        assert pipe.sampling.spacing == "trailing"
        sigmas = pipe.objective.sigmas(steps)
        assert sigmas.shape == (steps + 1,) and sigmas[-1] == 0  # the last step lands on ᾱ = 1 (set_alpha_to_one)
        times = []
        hook = pipe.model.register_forward_pre_hook(lambda net, args, seen=times: seen.append(args[1][0].item()))
        try:
            pipe(num_inference_steps=steps, guidance=False, output_type="latent",
                 **pipe.example_conditioning(generator=torch.Generator().manual_seed(0)))
        finally:
            hook.remove()
        expected = scheduler.timesteps.double()
        assert torch.tensor(times).round().tolist() == expected.tolist()
        torch.testing.assert_close(torch.tensor(times, dtype=torch.float64), expected, atol=1e-4, rtol=0)


def test_only_the_pipelines_that_space_their_grid_declare_a_spacing():
    """CogVideoX (trailing DDIM timesteps) and the flow pipelines that pass ``sigmas`` = 1, 1 − 1/n, …, 1/n
    (HunyuanVideo, LTX-Video: tests/diffusion/test_flow_spacing.py); every other recipe keeps the evenly spaced grid it
    had (the field's default), so its samples are unchanged."""
    spaced = {name for name in zoo.list_models(stages=True) if zoo.get_recipe(name).sampling.spacing != "linspace"}
    assert spaced == {"cogvideox_2b", "cogvideox_5b", "hunyuan_video", "ltx_video"}


def test_spacing_is_checked():
    with pytest.raises(ValueError, match="Sampling.spacing must be one of .*'trailing'.*, got 'even'"):
        zoo.get_recipe("cogvideox_5b").sampling.replace(spacing="even")


def _both(variant, tmp_path):
    """(our pipeline from the saved folder, diffusers' pipeline, the shared start noise in our B C T H W)."""
    theirs = tiny_cogvideox_pipeline(variant)
    theirs.save_pretrained(tmp_path / variant, safe_serialization=True)
    name = f"cogvideox_{variant}"
    parts = load_pretrained_folder(name, tmp_path / variant, preset="tiny")
    ours = zoo.create_pipeline(name, "tiny", model=parts.pop("model"))
    ours.use_parts(parts)
    noise = torch.randn(1, 4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    return ours, theirs, noise


def _theirs(pipe, noise, output_type):
    out = pipe(prompt=PROMPT, **SIZE, latents=noise.permute(0, 2, 1, 3, 4), output_type=output_type).frames
    return out.permute(0, 2, 1, 3, 4) if output_type == "latent" else out  # latents back to B C T H W


@pytest.mark.parametrize("variant", ["2b", "5b"])
def test_our_cogvideox_sample_loop_gives_cogvideox_pipelines_frames(variant, tmp_path):
    """Prompt to frames, both pipelines whole (text encoding, guidance with the empty negative prompt, 2 DDIM steps
    at 999 and 499, decode), diffusers' scheduler given our terminal stand-in: frames ``(B, T, 3, H, W)`` to 1e-4."""
    ours, theirs, noise = _both(variant, tmp_path)
    theirs.scheduler.alphas_cumprod[-1] = TERMINAL_ALPHA_BAR
    expected = _theirs(theirs, noise, "pt")
    got = ours(prompt=PROMPT, **SIZE, latents=noise, output_type="pt")
    assert got.shape == expected.shape == (1, 9, 3, 64, 64) and expected.std() > 0.01
    err = float((got - expected).abs().max())
    assert err <= ATOL, f"{variant}: frames max |Δ| {err:.2e}"


def test_the_terminal_stand_in_moves_cogvideox_latents_by_its_budget(tmp_path):
    """Against the published scheduler (ᾱ_999 = 0 exactly): latents within 2 · 2^-12 · max |x_T| (the first step's
    √ᾱ_999 x_T, carried with weight ≤ 1), and not equal (the stand-in is the only difference)."""
    ours, theirs, noise = _both("5b", tmp_path)
    expected = _theirs(theirs, noise, "latent")
    got = ours(prompt=PROMPT, **SIZE, latents=noise, output_type="latent")
    err, budget = float((got - expected).abs().max()), 2 * TERMINAL_ALPHA_BAR ** 0.5 * float(noise.abs().max())
    assert ATOL / 10 < err <= budget, f"latents max |Δ| {err:.2e}, budget {budget:.2e}"
