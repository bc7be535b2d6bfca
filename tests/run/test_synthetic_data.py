"""The embedded synthetic data and the video-folder loader (zoo/data.py)."""

from __future__ import annotations

import pytest
import torch

from zoo.data import MovingShapes, SyntheticVideos, VideoFolder, data_source, moving_shapes, read_video
from zoo.export import save_gif


def test_moving_shapes_shape_and_range():
    x = moving_shapes(5, frames=6, size=12, channels=1, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, 1, 6, 12, 12)
    assert x.min() >= -1 and x.max() <= 1 and torch.isfinite(x).all()


def test_synthetic_batches_are_a_function_of_seed_and_step():
    a, b = SyntheticVideos(seed=3), SyntheticVideos(seed=3)
    assert torch.equal(a.batch(7, 4), b.batch(7, 4))
    assert not torch.equal(a.batch(7, 4), a.batch(8, 4))
    assert not torch.equal(a.batch(7, 4), SyntheticVideos(seed=4).batch(7, 4))


def test_dataset_items_are_deterministic_and_independent_of_order():
    ds = MovingShapes(8, frames=4, size=16, channels=3, seed=1)
    later = ds[5]
    assert len(ds) == 8 and later.shape == (3, 4, 16, 16)
    assert torch.equal(MovingShapes(8, frames=4, size=16, channels=3, seed=1)[5], later)
    assert not torch.equal(ds[4], later)


def test_shapes_move_between_frames():
    x = SyntheticVideos(frames=8, size=16).batch(0, 32)
    assert (x[:, :, 1:] - x[:, :, :-1]).abs().amax(dim=(1, 2, 3, 4)).min() > 0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="frames must be a positive int"):
        moving_shapes(2, frames=0)
    with pytest.raises(ValueError, match="num_shapes"):
        moving_shapes(2, num_shapes=(2, 1))


def test_video_folder_reads_gifs(tmp_path):
    save_gif(SyntheticVideos(frames=6, size=20).batch(0, 1)[0], tmp_path / "a.gif")
    save_gif(SyntheticVideos(frames=5, size=24).batch(1, 1)[0], tmp_path / "sub" / "b.gif")
    ds = data_source(str(tmp_path), channels=3, frames=4, size=16, split="all")
    assert isinstance(ds, VideoFolder) and len(ds) == (6 - 4 + 1) + (5 - 4 + 1)
    x = ds.batch(0, 3)
    assert x.shape == (3, 3, 4, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(x, ds.batch(0, 3))
    assert VideoFolder(tmp_path, frames=4, size=8, channels=1)[0].shape == (1, 4, 8, 8)


def test_video_folder_names_the_file_it_cannot_read(tmp_path):
    save_gif(SyntheticVideos(frames=4, size=8).batch(0, 1)[0], tmp_path / "good.gif")
    (tmp_path / "broken.gif").write_bytes(b"not a gif")
    with pytest.raises(ValueError, match="broken.gif"):
        VideoFolder(tmp_path, frames=2, size=8)


def test_video_folder_refuses_short_videos_and_empty_folders(tmp_path):
    with pytest.raises(ValueError, match="no video files"):
        VideoFolder(tmp_path)
    save_gif(SyntheticVideos(frames=3, size=8).batch(0, 1)[0], tmp_path / "short.gif")
    with pytest.raises(ValueError, match="short.gif: has 3 frames"):
        VideoFolder(tmp_path, frames=8, size=8)


def test_read_video_round_trips_gif_frames(tmp_path):
    save_gif(SyntheticVideos(frames=3, size=16).batch(0, 1)[0], tmp_path / "c.gif")
    video = read_video(tmp_path / "c.gif")
    assert video.shape == (3, 16, 16, 3) and video.dtype == torch.uint8
