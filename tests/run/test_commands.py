"""The `demo`, `train` and `sample` commands through the CLI (``python -m zoo ...``)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from zoo.cli import main as zoo_main


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = zoo_main(list(argv))
    except SystemExit as exit:  # argparse errors
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_quick_writes_the_report_and_files(tmp_path, capsys):
    code, out, _ = run(capsys, "demo", "--quick", "--out", str(tmp_path), "--no-progress")
    assert code == 0, out
    report = json.loads((tmp_path / "report.json").read_text())
    for key in ("metric", "data", "trained", "untrained"):
        assert key in report
    assert {"name", "measures"} <= set(report["metric"])
    for method in ("reconstruction", "replacement"):
        assert report["extension"][method]["seam_error"] >= 0
    for name in ("data.gif", "samples_trained.gif", "samples_untrained.gif", "extension_reconstruction.gif",
                 "extension_replacement.gif", "strip.png"):
        assert (tmp_path / name).is_file(), name
    assert "temporal_coherence" in out and "seam error" in out


def test_train_then_sample_from_the_checkpoint(tmp_path, capsys):
    code, out, err = run(capsys, "train", "vdm", "--preset", "tiny", "--steps", "2", "--batch-size", "2",
                         "--out", str(tmp_path), "--no-progress")
    assert code == 0, err
    assert (tmp_path / "checkpoints" / "latest").is_file()
    gif = tmp_path / "s.gif"
    code, out, err = run(capsys, "sample", "vdm", "--checkpoint", str(tmp_path), "--frames", "3", "--steps", "2",
                         "--num", "2", "--out", str(gif), "--no-progress")
    assert code == 0, err
    with Image.open(gif) as im:
        assert im.n_frames == 3


def test_sample_without_checkpoint_uses_the_preset(tmp_path, capsys):
    gif = tmp_path / "r.gif"
    code, out, err = run(capsys, "sample", "vdm", "--preset", "tiny", "--frames", "2", "--steps", "2",
                         "--sampler", "euler", "--out", str(gif), "--no-progress")
    assert code == 0, err and gif.is_file()
    assert "random init" in out


@pytest.mark.parametrize("argv, needle", [
    (("train", "vdm", "--steps", "0"), "positive integer"),
    (("train", "vdm", "--batch-size", "two"), "positive integer"),
    (("train", "vdm", "--precision", "fp8"), "invalid choice"),
    (("train", "vdm", "--lr", "-1"), "lr must be positive"),
    (("train", "vdm", "--preset", "huge"), "has no preset"),
    (("sample", "vdm", "--sampler", "nope", "--out", "x.gif"), "unknown sampler"),
    (("sample", "vdm", "--out", "x.avi"), ".gif, .mp4 or .png"),
    (("sample", "vdm", "--checkpoint", "/nonexistent/ckpt", "--out", "x.gif"), "checkpoint"),
    (("sample", "vmd"), "Did you mean"),
    (("demo", "--steps", "-3"), "positive"),
])
def test_bad_arguments_print_one_line_and_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1, err
