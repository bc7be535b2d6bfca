"""Lumiere's MultiDiffusion over temporal windows: least-squares reconciliation = averaging x̂0 where windows
overlap; one window is the plain denoiser; windows batched or one by one give the same result."""

from __future__ import annotations

import pytest
import torch

import components
from components.diffusion import sample_windows, window_starts
from components.diffusion._video import AR1GaussianDenoiser, toy_video_denoiser
from components.diffusion.schedules import karras_sigmas


def video(frames=7, seed=0):
    return torch.randn(2, 3, frames, 2, 2, generator=torch.Generator().manual_seed(seed))


def test_single_window_equals_plain_sampling():
    den, x, sigmas = AR1GaussianDenoiser(0.9), video(6) * 20, karras_sigmas(10, 0.01, 20.0)
    sample = components.build("sampler/euler")
    wrapped = components.build("wrapper/multidiffusion", denoiser=den, window=6, stride=3)
    torch.testing.assert_close(sample(wrapped, x, sigmas), sample(den, x, sigmas))


def test_overlaps_are_averaged():
    x, sigma = video(5), torch.tensor([0.7, 1.3])
    wrapped = components.build("wrapper/multidiffusion", denoiser=toy_video_denoiser, window=3, stride=2)
    first, second = toy_video_denoiser(x[:, :, 0:3], sigma), toy_video_denoiser(x[:, :, 2:5], sigma)
    expected = torch.cat([first[:, :, :2], (first[:, :, 2:] + second[:, :, :1]) / 2, second[:, :, 1:]], dim=2)
    torch.testing.assert_close(wrapped(x, sigma), expected)


def test_agreeing_windows_reconcile_exactly():
    """A frame-wise denoiser predicts the same x̂0 in every window, so the average is that prediction."""
    def framewise(x, sigma):
        return x / (1 + sigma.reshape(-1, 1, 1, 1, 1) ** 2)

    x, sigma = video(9), torch.tensor([0.5, 2.0])
    wrapped = components.build("wrapper/multidiffusion", denoiser=framewise, window=4, stride=3)
    torch.testing.assert_close(wrapped(x, sigma), framewise(x, sigma))


def test_window_by_window_equals_batched():
    x, sigma = video(8), torch.tensor([0.5, 2.0])
    batched = components.build("wrapper/multidiffusion", denoiser=toy_video_denoiser, window=3, stride=2)
    one_by_one = components.build("wrapper/multidiffusion", denoiser=toy_video_denoiser, window=3, stride=2,
                                  window_batch=1)
    ctx = torch.randn(2, 4)
    torch.testing.assert_close(one_by_one(x, sigma, context=ctx), batched(x, sigma, context=ctx))


def test_video_conditioning_is_sliced_per_window():
    seen = []

    def den(x, sigma, concat):
        seen.append(concat.shape)
        assert concat.shape[2] == x.shape[2]
        return x + concat[:, :1]

    x, concat = video(7), torch.arange(7.0).reshape(1, 1, 7, 1, 1).expand(2, 2, 7, 2, 2)
    out = components.build("wrapper/multidiffusion", denoiser=den, window=4, stride=3)(x, torch.ones(2), concat=concat)
    torch.testing.assert_close(out - x, concat[:, :1].expand_as(x))  # every window saw its own frames
    assert all(s[2] == 4 for s in seen)


def test_windows_cover_every_frame_and_end_at_the_last():
    assert window_starts(10, 4, 3) == [0, 3, 6]
    assert window_starts(11, 4, 3) == [0, 3, 6, 7]
    assert window_starts(4, 4, 2) == [0]


def test_sample_windows_runs_a_long_video():
    den, x = AR1GaussianDenoiser(0.9), video(12) * 20
    out = sample_windows(den, x, karras_sigmas(6, 0.01, 20.0), sampler=components.build("sampler/euler"), window=5,
                         stride=3)
    assert out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.parametrize(("kwargs", "frames", "match"), [
    ({"window": 8, "stride": 4}, 5, "window=8 is larger than the sample's T=5"),
    ({"window": 3, "stride": 4}, 5, "stride=4 must be <= window=3"),
    ({"window": 0, "stride": 1}, 5, "window and stride must be >= 1"),
])
def test_bad_windows_name_the_argument(kwargs, frames, match):
    with pytest.raises(ValueError, match=match):
        components.build("wrapper/multidiffusion", denoiser=toy_video_denoiser, **kwargs)(video(frames), torch.ones(2))
