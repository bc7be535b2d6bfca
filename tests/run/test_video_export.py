"""Video export (zoo/export.py): GIF round trip, PNG strip, clipping, refusal of non-finite frames."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.export import save_gif, save_mp4, save_png_strip, save_video, to_uint8


def test_gif_round_trip_two_frames_16x16(tmp_path):
    video = torch.zeros(3, 2, 16, 16) - 1
    video[0, 0] = 1.0        # frame 0 red
    video[2, 1] = 1.0        # frame 1 blue
    path = save_gif(video, tmp_path / "clip.gif", fps=4)
    with Image.open(path) as im:
        assert im.n_frames == 2 and im.size == (16, 16)
        frames = []
        for i in range(2):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")))
    assert tuple(frames[0][8, 8]) == (255, 0, 0) and tuple(frames[1][8, 8]) == (0, 0, 255)


def test_values_are_clipped_to_range():
    frames = to_uint8(torch.tensor([-5.0, -1.0, 0.0, 1.0, 7.0]).reshape(1, 5, 1, 1))
    assert frames.reshape(-1).tolist() == [0, 0, 128, 255, 255]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_frames_are_refused(tmp_path, bad):
    video = torch.zeros(3, 2, 16, 16)
    video[1, 1, 3, 3] = bad
    with pytest.raises(ValueError, match="non-finite"):
        save_gif(video, tmp_path / "bad.gif")
    assert not (tmp_path / "bad.gif").exists()


def test_batch_is_tiled_and_strip_has_a_row_per_clip(tmp_path):
    videos = torch.rand(3, 1, 4, 8, 8) * 2 - 1
    with Image.open(save_gif(videos, tmp_path / "b.gif")) as im:
        assert im.size == (3 * 8 + 2, 8) and im.n_frames == 4
    with Image.open(save_png_strip(videos, tmp_path / "s.png")) as im:
        assert im.size == (4 * 8 + 3, 3 * 8 + 2)


def test_bad_shapes_and_suffixes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="1 or 3 channels"):
        to_uint8(torch.zeros(2, 2, 4, 4))
    with pytest.raises(ValueError, match="unsupported video file type"):
        save_video(torch.zeros(3, 2, 4, 4), tmp_path / "x.avi")


@pytest.mark.skipif(importlib.util.find_spec("imageio") is not None, reason="the video extra is installed")
def test_mp4_without_the_video_extra_names_it(tmp_path):
    with pytest.raises(ImportError, match=r"video-diffusion-zoo\[video\]"):
        save_mp4(torch.zeros(3, 2, 16, 16), tmp_path / "x.mp4")
