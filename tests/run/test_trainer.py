"""The trainer (zoo/train.py): learning, exact resume, safetensors checkpoints."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import zoo
from zoo.train import TrainConfig, Trainer


def tiny(**kw) -> TrainConfig:
    base = dict(model="vdm", preset="tiny", steps=4, batch_size=4, lr=2e-3, seed=0, progress=False, device="cpu")
    return TrainConfig(**{**base, **kw})


def test_loss_decreases_on_the_tiny_preset():
    trainer = Trainer(tiny(steps=25, batch_size=8))
    probe = [trainer._batch(1000 + i) for i in range(2)]  # fixed held-out (x0, t, eps)

    def held_out() -> float:
        with torch.no_grad():
            return sum(float(trainer.loss(*b)) for b in probe) / len(probe)

    before = held_out()
    losses = trainer.fit()
    assert len(losses) == 25 and all(map(lambda v: v == v, losses))
    assert held_out() < 0.8 * before


def test_resume_repeats_the_uninterrupted_run_exactly(tmp_path):
    straight = Trainer(tiny())
    straight.fit()

    first = Trainer(tiny(steps=2))
    first.fit()
    first.save(tmp_path / "checkpoints" / "step_0000002")
    resumed = Trainer(tiny())
    resumed.load(tmp_path / "checkpoints")
    assert resumed.step == 2
    resumed.fit()

    assert resumed.losses == straight.losses
    for a, b in zip(resumed.model.state_dict().values(), straight.model.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(resumed.ema.state_dict().values(), straight.ema.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_is_safetensors_with_the_resolved_config(tmp_path):
    trainer = Trainer(tiny(steps=1))
    trainer.fit()
    ckpt = trainer.save(tmp_path / "step_1")
    assert sorted(p.name for p in ckpt.iterdir()) == ["config.json", "manifest.json", "model.safetensors",
                                                      "rng_rank0.safetensors", "train_state.safetensors"]
    config = json.loads((ckpt / "config.json").read_text())
    assert config["model"] == "vdm" and config["preset"] == "tiny" and config["step"] == 1
    assert config["net"]["type"] == zoo.get_recipe("vdm").net
    model = zoo.create_model("vdm", "tiny")
    model.load_state_dict(load_file(ckpt / "model.safetensors"))
    assert any(k.startswith("optim.") for k in load_file(ckpt / "train_state.safetensors"))


def test_resume_from_a_folder_without_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(ValueError, match="checkpoint"):
        Trainer(tiny()).load(tmp_path)


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="precision"):
        tiny(precision="fp8")
    with pytest.raises(ValueError, match="steps must be positive"):
        tiny(steps=0)


def test_periodic_samples_and_checkpoints_are_written(tmp_path):
    trainer = Trainer(tiny(steps=2, out=str(tmp_path), save_every=1, sample_every=2, sample_steps=2))
    trainer.fit()
    assert (tmp_path / "samples" / "step_0000002.gif").is_file()
    assert (tmp_path / "checkpoints" / "latest").read_text() == "step_0000002"
    assert (tmp_path / "checkpoints" / "step_0000001" / "model.safetensors").is_file()
