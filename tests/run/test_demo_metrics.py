"""The demo's numbers (the zoo.metrics package)."""

from __future__ import annotations

import pytest
import torch

from zoo.data import SyntheticVideos
from zoo.metrics import frame_jump, seam_error, temporal_coherence


def test_temporal_coherence_separates_data_noise_and_frozen_clips():
    g = torch.Generator().manual_seed(0)
    data = temporal_coherence(SyntheticVideos().batch(0, 64)).mean()
    noise = temporal_coherence(torch.randn(64, 3, 8, 16, 16, generator=g)).mean()
    frozen = temporal_coherence(torch.randn(4, 3, 1, 16, 16, generator=g).expand(-1, -1, 8, -1, -1)).mean()
    assert noise.abs() < 0.05 and 0.5 < data < 0.95 and frozen > 0.999


def test_seam_error_is_zero_for_the_truth_and_positive_otherwise():
    x = SyntheticVideos(frames=12).batch(0, 4)
    assert seam_error(x, x, start=8) == 0.0
    y = x.clone()
    y[:, :, 8] = 0
    assert seam_error(y, x, start=8) > 0 and seam_error(y, x, start=9) == 0.0
    assert frame_jump(x, 8) > 0


def test_metrics_refuse_bad_input():
    with pytest.raises(ValueError, match="at least 2 frames"):
        temporal_coherence(torch.zeros(1, 3, 1, 4, 4))
    with pytest.raises(ValueError, match="frames"):
        seam_error(torch.zeros(1, 3, 4, 4, 4), torch.zeros(1, 3, 4, 4, 4), start=4)
