"""``pipe.save_pretrained(DIR)`` / ``zoo.from_pretrained(DIR)`` for every recipe, and ``python -m zoo export`` of a
trained run (issue 18 item 8): the loaded pipeline samples bit-identically, the folder holds safetensors and JSON only,
the plan (sampler override included) and the dtype survive, a bad folder is one clear error."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

import zoo
from zoo.cli import main as zoo_main
from zoo.pretrained import INDEX, export_run


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def _saved_files(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _sample(pipe, cond: dict) -> torch.Tensor:
    extra = {"decode": True} if pipe.autoencoder is not None else {}
    return pipe(num_inference_steps=2, seed=0, **cond, **extra)


def _assert_same_weights(a, b) -> None:
    mods_a, mods_b = a.modules(), b.modules()
    assert sorted(mods_a) == sorted(mods_b)
    for name, module in mods_a.items():
        theirs = mods_b[name].state_dict()
        for key, tensor in module.state_dict().items():
            assert tensor.dtype == theirs[key].dtype and torch.equal(tensor, theirs[key]), f"{name}.{key}"


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_recipe_round_trips_bit_identically(name, tmp_path):
    torch.manual_seed(0)
    pipe = zoo.create_pipeline(name, "tiny", sampler="euler")
    pipe.autoencoder, pipe.encoders()  # built (random) before saving, as a user's loaded parts would be
    pipe.save_pretrained(tmp_path / "saved")
    files = _saved_files(tmp_path / "saved")
    assert INDEX in files and "model.safetensors" in files
    assert not [f for f in files if f.endswith(PICKLE_SUFFIXES)], files
    assert ("autoencoder.safetensors" in files) == (pipe.autoencoder is not None)
    assert len([f for f in files if f.startswith("encoders/")]) == len(pipe.encoders())
    assert len({f.split("/")[0] for f in files if f.startswith("stage")}) == len(pipe.stages)

    torch.manual_seed(123)  # loading must not depend on the global RNG
    loaded = zoo.from_pretrained(tmp_path / "saved")
    assert loaded.plan.to_config() == pipe.plan.to_config()
    assert loaded.sampling.sampler == "sampler/euler" and loaded.sampling == pipe.sampling
    assert len(loaded.stages) == len(pipe.stages)
    _assert_same_weights(pipe, loaded)
    cond = pipe.example_conditioning(1, generator=torch.Generator().manual_seed(1))
    assert torch.equal(_sample(pipe, cond), _sample(loaded, cond))


def test_plan_overrides_and_attention_backend_round_trip(tmp_path):
    pipe = zoo.create_pipeline("vdm", "tiny", sampler="dpmpp_2m", steps=3, attention_backend="math")
    pipe.save_pretrained(tmp_path / "p")
    loaded = zoo.from_pretrained(tmp_path / "p")
    assert loaded.sampling.sampler == "sampler/dpmpp_2m" and loaded.sampling.steps == 3
    assert loaded.plan.attention_backend == "math"
    index = json.loads((tmp_path / "p" / INDEX).read_text())
    assert index["plan"] == {"recipe": "vdm", "preset": "tiny",
                             "overrides": {"sampler": "dpmpp_2m", "steps": 3, "attention_backend": "math"}}
    assert index["library"] == "video-diffusion-zoo" and index["format_version"] == 1
    assert index["parts"]["model"]["config"]["type"] == "net/space_time_unet"


def test_a_bf16_pipeline_saves_and_loads_as_bf16(tmp_path):
    torch.manual_seed(0)
    pipe = zoo.create_pipeline("latte_t2v", "tiny", dtype=torch.bfloat16)  # T5's tied embedding, a VAE
    pipe.autoencoder, pipe.encoders()
    pipe.save_pretrained(tmp_path / "bf16")
    assert json.loads((tmp_path / "bf16" / INDEX).read_text())["dtype"] == "bfloat16"
    loaded = zoo.from_pretrained(tmp_path / "bf16")
    assert loaded.dtype == torch.bfloat16
    assert all(p.dtype == torch.bfloat16 for m in loaded.modules().values() for p in m.parameters())
    _assert_same_weights(pipe, loaded)
    text = loaded.encoders()["conditioning/text"].model
    assert text.shared.weight is text.encoder.embed_tokens.weight  # the tie survives
    cond = pipe.example_conditioning(1, generator=torch.Generator().manual_seed(1))
    assert torch.equal(_sample(pipe, cond), _sample(loaded, cond))
    as_fp32 = zoo.from_pretrained(tmp_path / "bf16", dtype=torch.float32)
    assert as_fp32.dtype == torch.float32 and as_fp32.autoencoder.encoder.conv_in.weight.dtype == torch.float32


def test_loaded_text_encoder_and_tokenizer_round_trip(tmp_path):
    """A pipeline with a diffusers folder's parts (a CLIP of another size than the registry's tiny one, a real
    transformers tokenizer) saves the tokenizer's own files and loads both back: same prompt, same video."""
    pytest.importorskip("diffusers")
    from zoo.convert.folder import load_pretrained_folder
    from zoo.testing.tiny_folders import tiny_weights_folder

    parts = load_pretrained_folder("stable_diffusion", tiny_weights_folder("stable_diffusion", tmp_path / "sd"),
                                   preset="tiny")
    pipe = zoo.create_pipeline("stable_diffusion", "tiny", model=parts.pop("model"))
    pipe.use_parts(parts)
    pipe.save_pretrained(tmp_path / "saved")
    files = _saved_files(tmp_path / "saved")
    assert any(f.startswith("encoders/conditioning_text.tokenizer/") for f in files), files
    assert not [f for f in files if f.endswith(PICKLE_SUFFIXES)], files
    loaded = zoo.from_pretrained(tmp_path / "saved")
    text = loaded.encoders()["conditioning/text"]
    assert type(text.tokenizer).__name__ == type(parts["tokenizer"]).__name__
    assert text.model.config.vocab_size == parts["text_encoder"].config.vocab_size
    _assert_same_weights(pipe, loaded)
    a = pipe("a red ball", num_inference_steps=2, seed=0, decode=True)
    assert torch.equal(a, loaded("a red ball", num_inference_steps=2, seed=0, decode=True))


def test_saving_again_replaces_the_folder_and_refuses_a_foreign_one(tmp_path):
    zoo.create_pipeline("imagen_video", "tiny").save_pretrained(tmp_path / "p")
    assert (tmp_path / "p" / "stage6").is_dir()
    zoo.create_pipeline("vdm", "tiny").save_pretrained(tmp_path / "p")  # no stale stage folders left
    assert _saved_files(tmp_path / "p") == sorted([INDEX, "model.safetensors"])
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a saved pipeline"):
        zoo.create_pipeline("vdm", "tiny").save_pretrained(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message, message
    return message


def test_bad_folders_are_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="is not a folder") as err:
        zoo.from_pretrained(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in _one_line(err)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=f"not a saved pipeline: {INDEX} is missing") as err:
        zoo.from_pretrained(tmp_path / "empty")
    _one_line(err)
    (tmp_path / "empty" / "model_index.json").write_text("{}")  # a diffusers folder
    with pytest.raises(ValueError, match="diffusers"):
        zoo.from_pretrained(tmp_path / "empty")

    good = tmp_path / "good"
    zoo.create_pipeline("modelscope_t2v", "tiny").save_pretrained(good)

    def broken(name: str, edit=None, remove: str | None = None):
        folder = tmp_path / name
        shutil.copytree(good, folder)
        if edit is not None:
            index = json.loads((folder / INDEX).read_text())
            edit(index)
            (folder / INDEX).write_text(json.dumps(index))
        if remove is not None:
            (folder / remove).unlink()
        return folder

    with pytest.raises(ValueError, match="is missing autoencoder.safetensors") as err:
        zoo.from_pretrained(broken("no_vae", remove="autoencoder.safetensors"))
    assert str(tmp_path / "no_vae") in _one_line(err)
    with pytest.raises(ValueError, match="conditioning_text.safetensors"):
        zoo.from_pretrained(broken("no_text", remove="encoders/conditioning_text.safetensors"))
    with pytest.raises(ValueError, match="_target_"):
        zoo.from_pretrained(broken("target", lambda i: i["parts"]["model"]["config"].update(
            _target_="os.system")))
    with pytest.raises(ValueError, match="import path 'os.system'"):
        zoo.from_pretrained(broken("dotted", lambda i: i["parts"]["model"]["config"].update(type="os.system")))
    with pytest.raises(ValueError, match="import path"):  # hidden in a list, where components.build would not look
        zoo.from_pretrained(broken("listed", lambda i: i["parts"]["model"]["config"].update(
            channel_mults=[{"type": "builtins:eval"}])))
    with pytest.raises(ValueError, match="outside the folder"):
        zoo.from_pretrained(broken("escape", lambda i: i["parts"]["model"].update(file="../good/model.safetensors")))
    with pytest.raises(ValueError, match="does not fit") as err:
        zoo.from_pretrained(broken("shape", lambda i: i["parts"]["model"]["config"].update(base_channels=32)))
    _one_line(err)
    with pytest.raises(ValueError, match="format_version"):
        zoo.from_pretrained(broken("future", lambda i: i.update(format_version=99)))
    with pytest.raises(ValueError, match="plan that does not resolve"):
        zoo.from_pretrained(broken("plan", lambda i: i["plan"].update(recipe="nope")))
    corrupt = broken("corrupt")
    (corrupt / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        zoo.from_pretrained(corrupt)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    assert zoo_main(["train", "vdm", "--preset", "tiny", "--steps", "2", "--batch-size", "2", "--out", str(run),
                     "--no-progress"]) == 0
    return run


def test_a_trained_run_exports_and_loads_with_its_weights(trained_run, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "exported"
    assert zoo_main(["export", str(trained_run), "--out", str(out), "--sampler", "euler"]) == 0
    assert "exported vdm/tiny (step 2" in capsys.readouterr().out
    assert not [f for f in _saved_files(out) if f.endswith(PICKLE_SUFFIXES)]
    checkpoint = (trained_run / "checkpoints" / (trained_run / "checkpoints" / "latest").read_text().strip())
    weights = load_file(str(checkpoint / "model.safetensors"))
    loaded = zoo.from_pretrained(out)
    assert loaded.name == "vdm" and loaded.preset == "tiny" and loaded.sampling.sampler == "sampler/euler"
    state = loaded.model.state_dict()
    assert sorted(state) == sorted(weights)
    assert all(torch.equal(state[k], weights[k]) for k in weights)
    index = json.loads((out / INDEX).read_text())
    assert index["source"]["step"] == 2 and index["source"]["trained_as"] == "vdm/tiny"
    video = loaded(num_inference_steps=2, seed=0)
    assert video.shape == (1, *loaded.sample_shape) and torch.isfinite(video).all()


def test_export_in_bf16_and_from_a_checkpoint_directory(trained_run, tmp_path):
    checkpoint = trained_run / "checkpoints" / (trained_run / "checkpoints" / "latest").read_text().strip()
    export_run(checkpoint, tmp_path / "bf16", dtype=torch.bfloat16)
    loaded = zoo.from_pretrained(tmp_path / "bf16")
    assert loaded.dtype == torch.bfloat16
    weights = load_file(str(checkpoint / "model.safetensors"))
    assert all(torch.equal(loaded.model.state_dict()[k], v.to(torch.bfloat16)) for k, v in weights.items())


@pytest.mark.parametrize("argv, needle", [
    (("export", "/nonexistent/run", "--out", "x"), "RUN /nonexistent/run: no such file or folder"),
    (("export", "{empty}", "--out", "{tmp}/x"), "neither a .safetensors file nor a directory"),
    (("export", "{run}", "--out", "{tmp}/x", "--sampler", "nope"), "unknown sampler"),
    (("export", "{run}", "--out", "{foreign}"), "not a saved pipeline"),
    (("export", "{run}"), "--out"),
])
def test_export_refusals_are_one_line(argv, needle, trained_run, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "a.txt").write_text("x")
    names = {"empty": tmp_path / "empty", "tmp": tmp_path, "run": trained_run, "foreign": tmp_path / "foreign"}
    capsys.readouterr()
    try:
        code = zoo_main([a.format(**names) for a in argv])
    except SystemExit as exit:  # argparse errors
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
