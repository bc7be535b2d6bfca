"""Tune-A-Video's editing flow: DDIM inversion, then sampling with the edited condition. With the source condition
as target and an exact inversion the source comes back; a changed condition moves the result."""

from __future__ import annotations

import pytest
import torch

import components
from components.diffusion import edit_video
from components.diffusion._video import AR1GaussianDenoiser
from components.diffusion.schedules import karras_sigmas


class Conditional:
    """The AR(1) Gaussian's exact denoiser for data with mean ``shift`` (a per-sample condition)."""

    def __init__(self):
        self.base = AR1GaussianDenoiser(0.9)

    def __call__(self, x, sigma, shift=None):
        m = torch.zeros(x.shape[0], 1, 1, 1, 1) if shift is None else shift.reshape(-1, 1, 1, 1, 1)
        return m + self.base(x - m, sigma)


def latents():
    return torch.randn(2, 2, 5, 2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def grid():
    return torch.cat([karras_sigmas(30, 0.01, 20.0).double()[:-1], torch.zeros(1, dtype=torch.float64)])


def test_same_condition_reconstructs_the_source():
    den, src = Conditional(), latents()
    cond = {"shift": torch.tensor([0.5, -0.5], dtype=torch.float64)}
    exact = components.build("sampler/ddim_inversion", fixed_point_steps=8)
    out, noise = edit_video(den, src, grid(), source_cond=cond, target_cond=cond, inversion=exact, return_noise=True)
    assert noise.std() > 5  # it really went to noise
    torch.testing.assert_close(out, src, atol=1e-3, rtol=0)


def test_edited_condition_moves_the_video():
    den, src = Conditional(), latents()
    source = {"shift": torch.zeros(2, dtype=torch.float64)}
    target = {"shift": torch.full((2,), 2.0, dtype=torch.float64)}
    exact = components.build("sampler/ddim_inversion", fixed_point_steps=8)
    out = edit_video(den, src, grid(), source_cond=source, target_cond=target, inversion=exact)
    assert 1.0 < float((out - src).mean()) < 2.5  # the content shifted toward the new mean, its structure kept
    assert torch.corrcoef(torch.stack([out.flatten(), src.flatten()]))[0, 1] > 0.9


def test_edit_video_refuses_a_forward_sampler_as_inversion():
    with pytest.raises(ValueError, match="inversion must run from data to noise"):
        edit_video(Conditional(), latents(), grid(), inversion="sampler/ddim")
