"""Fine-tuning's bad input (issue 24): each a one-line error naming the argument, the file and the value; a corrupt
clip is skipped with its name printed, never silently."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from torch import nn

from zoo.captions import read_captions
from zoo.cli import main


pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytest.importorskip("peft")


def _gif(path, frames: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = [Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)) for _ in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100)
    return path


@pytest.fixture(scope="module")
def svd_folder(tmp_path_factory):
    from zoo.testing.tiny_folders import tiny_weights_folder

    return tiny_weights_folder("svd", tmp_path_factory.mktemp("w") / "svd-tiny")


@pytest.fixture
def clips(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    _gif(folder / "a.gif", 12, 0)
    _gif(folder / "b.gif", 12, 1)
    return folder


def _train(*args):
    return main(["train", "svd", "--preset", "tiny", "--steps", "1", "--batch-size", "1", "--no-progress", *args])


def test_lora_on_a_net_without_attention_projections_is_refused():
    from zoo.train import TrainConfig, Trainer

    with pytest.raises(ValueError, match=r"--lora 2: vdm has no attention projections"):
        Trainer(TrainConfig(model="vdm", lora=2, steps=1, batch_size=1, progress=False), model=nn.Conv3d(3, 3, 1))


def test_a_caption_file_naming_clips_not_in_the_folder_is_refused(clips, tmp_path):
    table = tmp_path / "captions.json"
    table.write_text(json.dumps({"a.gif": "one", "b.gif": "two", "zebra.mp4": "three"}))
    with pytest.raises(ValueError, match=rf"--captions {table}: names 1 clip\(s\) not in --data: zebra.mp4"):
        read_captions(sorted(clips.iterdir()), table, root=clips)


def test_a_caption_file_missing_clips_is_refused(clips, tmp_path):
    table = tmp_path / "captions.csv"
    table.write_text("file,caption\na.gif,a dog, running\n")
    with pytest.raises(ValueError, match=rf"--captions {table}: has no caption for 1 clip\(s\) of --data: b.gif"):
        read_captions(sorted(clips.iterdir()), table, root=clips)
    table.write_text("file,caption\na.gif,a dog, running\nb.gif,a cat\n")
    assert read_captions(sorted(clips.iterdir()), table, root=clips)[str(clips / "a.gif")] == "a dog, running"


def test_sidecar_captions_must_cover_every_clip(clips):
    (clips / "a.txt").write_text("a dog\n")
    with pytest.raises(ValueError, match=r"1 clip\(s\) have no caption sidecar.*b.txt"):
        read_captions(sorted(p for p in clips.iterdir() if p.suffix == ".gif"))
    (clips / "b.txt").write_text("a cat")
    files = sorted(p for p in clips.iterdir() if p.suffix == ".gif")
    assert read_captions(files) == {str(files[0]): "a dog", str(files[1]): "a cat"}


def test_caption_file_with_unknown_clips_is_one_line_from_the_cli(svd_folder, clips, tmp_path, capsys):
    table = tmp_path / "captions.json"
    table.write_text(json.dumps({"a.gif": "one", "zebra.mp4": "three"}))
    status = _train("--weights", str(svd_folder), "--data", str(clips), "--captions", str(table), "--out",
                    str(tmp_path / "run"))
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and "--captions" in err and "zebra.mp4" in err


def test_clips_shorter_than_the_recipes_frames_are_refused(svd_folder, tmp_path, capsys):
    folder = tmp_path / "short"
    folder.mkdir()
    _gif(folder / "tiny.gif", 2)
    status = _train("--weights", str(svd_folder), "--data", str(folder), "--out", str(tmp_path / "run"))
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 2 and f"--data {folder}" in err and "tiny.gif" in err and "--frames 3" in err


def test_a_weights_folder_of_another_recipe_is_refused(svd_folder, tmp_path, capsys):
    status = main(["train", "modelscope_t2v", "--preset", "tiny", "--steps", "1", "--no-progress", "--weights",
                   str(svd_folder), "--data", "carphone", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == 2 and f"--weights {svd_folder}" in err and "text_encoder/" in err


def test_a_corrupt_clip_is_skipped_with_its_name_printed(svd_folder, clips, tmp_path, capsys):
    (clips / "broken.mp4").write_bytes(b"\x00not a video" * 10)
    status = _train("--weights", str(svd_folder), "--data", str(clips), "--lora", "2", "--out",
                    str(tmp_path / "run"), "--latent-cache", "off")
    out = capsys.readouterr()
    assert status == 0, out.err
    assert "skipping" in out.out and "broken.mp4" in out.out
