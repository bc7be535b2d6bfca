"""Wan with its real clients: our transformer inside diffusers' own ``WanPipeline`` / ``WanImageToVideoPipeline``,
diffusers' ``WanTransformer3DModel`` inside our pipeline, and diffusers Wan folders loaded with ``--weights DIR``
(``load_pretrained_folder``) whose parts give diffusers' conditioning. All offline, fp32, tiny random weights
(``zoo.testing.tiny_wan``, ``tiny_folders``).

Error budget of the chained comparisons (2 UniPC steps, guidance s = 5, 32×32 × 9 frames): one transformer call
differs by δ ≈ 5e-7 (fp32 rounding of the same arithmetic in another order, measured); classifier-free guidance
multiplies it by |s| + |1 − s| = 9, the flow-matching x0 = x − σ v by σ ≤ 1, UniPC's order-2 update by at most
~2 per step, two steps and the tiny VAE decoder (gain < 4, measured < 2) by ≤ 8 more: frames to ~1.5e-4 δ-worst,
measured ≤ 1.1e-6; asserted 1e-4 (measured values in each test's docstring).
"""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import components
import zoo


diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")
from PIL import Image  # noqa: E402

from zoo.convert.diffusers_adapter import DiffusersTransformer, ZooModel  # noqa: E402
from zoo.convert.folder import load_pretrained_folder  # noqa: E402
from zoo.pipeline import Pipeline  # noqa: E402
from zoo.testing.tiny_folders import tiny_weights_folder  # noqa: E402
from zoo.testing.tiny_wan import tiny_wan_pipeline  # noqa: E402


ATOL = 1e-4
SIZE = dict(num_frames=9, height=32, width=32)


@pytest.fixture(autouse=True)
def _no_ftfy(monkeypatch):
    """diffusers' I2V pipeline calls ``ftfy.fix_text`` without checking that ftfy is installed (the T2V pipeline
    checks); identity on these ASCII prompts."""
    from diffusers.pipelines.wan import pipeline_wan_i2v

    if not hasattr(pipeline_wan_i2v, "ftfy"):
        monkeypatch.setattr(pipeline_wan_i2v, "ftfy", SimpleNamespace(fix_text=lambda text: text), raising=False)


def _image(seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8))


def _frames(pipe, **kwargs) -> torch.Tensor:
    return pipe(prompt="a dog on a skateboard", negative_prompt="blurry", **SIZE, num_inference_steps=2,
                guidance_scale=5.0, output_type="pt", generator=torch.Generator().manual_seed(0), **kwargs).frames


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("wan")
    return {name: tiny_weights_folder(name, root / name) for name in
            ("wan2_1_t2v_1_3b", "wan2_1_i2v_14b", "wan2_2_ti2v_5b", "wan2_2_t2v_a14b")}


# ---------------------------------------------------------------------- our transformer in diffusers' pipelines


@pytest.mark.parametrize("variant", ["t2v", "i2v", "ti2v", "t2v_a14b"])
def test_our_transformer_in_diffusers_wan_pipeline_gives_its_frames(variant):
    """``pipe.transformer`` (and ``transformer_2``) replaced by ``DiffusersTransformer`` around the converted net:
    the frames of diffusers' own to 1e-4 (T2V, I2V with CLIP tokens and the 36-channel input, TI2V's per-token
    timesteps, A14B's two experts). Measured: 3.9e-7, 4.2e-7, 1.1e-6, 3.6e-7."""
    pipe = tiny_wan_pipeline(variant)
    kwargs = {"image": _image()} if variant == "i2v" else {}
    expected = _frames(pipe, **kwargs)
    theirs = {name: getattr(pipe, name) for name in ("transformer", "transformer_2") if getattr(pipe, name, None)}
    for name, net in theirs.items():
        setattr(pipe, name, DiffusersTransformer.from_diffusers(net))
    got = _frames(pipe, **kwargs)
    assert got.shape == expected.shape == (1, 9, 3, 32, 32) and expected.std() > 0.01
    err = float((got - expected).abs().max())
    assert err <= ATOL, f"{variant}: frames max |Δ| {err:.2e}"


def test_the_transformer_adapter_speaks_diffusers_convention():
    pipe = tiny_wan_pipeline("t2v")
    adapted = DiffusersTransformer.from_diffusers(pipe.transformer)
    assert adapted.config.in_channels == 16 and adapted.config.patch_size == pipe.transformer.config.patch_size
    assert adapted.dtype == torch.float32 and adapted.time_scale == 1.0
    x, context = torch.randn(2, 16, 3, 4, 4), torch.randn(2, 512, 32)
    with torch.no_grad(), adapted.cache_context("cond"):
        out = adapted(hidden_states=x, timestep=torch.tensor([900.0, 10.0]), encoder_hidden_states=context,
                      return_dict=False)[0]
        torch.testing.assert_close(out, pipe.transformer(x, torch.tensor([900.0, 10.0]), context).sample,
                                   atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="attention_kwargs"):
        adapted(x, 1.0, context, attention_kwargs={"scale": 0.5})
    with pytest.raises(ValueError, match="hidden_states must be 5-D"):
        adapted(x[:, :, 0], 1.0, context)


# ---------------------------------------------------------------------- diffusers' transformer in our pipeline


def test_diffusers_transformer_in_our_pipeline_gives_our_samples(folders):
    """``ZooModel(WanTransformer3DModel, time_scale=1000)`` in ``zoo``'s pipeline samples the latents of the same
    weights converted (the folder's net, rebuilt with the recipe's time_scale 1000). Measured: 3.3e-6 on latents of
    max |x| 5.2."""
    theirs = diffusers.WanTransformer3DModel.from_config(
        diffusers.WanTransformer3DModel.load_config(folders["wan2_1_t2v_1_3b"] / "transformer"))
    parts = load_pretrained_folder("wan2_1_t2v_1_3b", folders["wan2_1_t2v_1_3b"], preset="tiny")
    theirs.load_state_dict(zoo.convert.wan_transformer.wan_to_diffusers_state_dict(parts["model"], theirs))
    context = torch.randn(1, 512, 32, generator=torch.Generator().manual_seed(3))
    expected = zoo.create_pipeline("wan2_1_t2v_1_3b", "tiny", model=parts["model"])(seed=0, context=context)
    time_scale = components.config_of(parts["model"])["time_scale"]
    got = zoo.create_pipeline("wan2_1_t2v_1_3b", "tiny", model=ZooModel(theirs.eval(), time_scale=time_scale))(
        seed=0, context=context)
    assert time_scale == 1000.0 and got.shape == expected.shape == (1, 16, 3, 4, 4)
    err = float((got - expected).abs().max())
    assert err <= ATOL, f"latents max |Δ| {err:.2e}"


# ---------------------------------------------------------------------- weights folders


def test_t2v_folder_samples_and_encodes_prompts_as_diffusers(folders):
    """The loaded text encoder's ``context`` is ``WanPipeline.encode_prompt``'s (≤ 1e-5; measured 0), and the
    pipeline samples decoded frames from the folder's parts."""
    directory = folders["wan2_1_t2v_1_3b"]
    reference = diffusers.WanPipeline.from_pretrained(directory, transformer=None, vae=None, local_files_only=True)
    parts = load_pretrained_folder("wan2_1_t2v_1_3b", directory, preset="tiny")
    assert sorted(parts) == ["autoencoder", "latent_normalization", "model", "text_encoder", "tokenizer"]
    pipe = Pipeline.from_plan(zoo.resolve("wan2_1_t2v_1_3b", "tiny"), parts["model"])
    pipe.use_parts(parts)
    prompts = ["a dog on a skateboard", "a cat"]
    cond = pipe.encode(prompt=prompts, batch=2)
    with torch.no_grad():
        expected, _ = reference.encode_prompt(prompts, do_classifier_free_guidance=False, max_sequence_length=512,
                                              device="cpu")
    torch.testing.assert_close(cond["context"], expected, atol=1e-5, rtol=0)
    video = pipe(prompt="a dog on a skateboard", seed=0, decode=True)
    assert video.shape == (1, 3, 9, 32, 32) and torch.isfinite(video).all()


def test_i2v_folder_gives_diffusers_image_tokens_and_condition(folders):
    """``image_context`` = ``encode_image`` and ``concat`` = ``prepare_latents``'s condition of the same folder
    (≤ 1e-5: the converted VAE's encoder, measured 2e-7), and the I2V pipeline samples."""
    directory = folders["wan2_1_i2v_14b"]
    reference = diffusers.WanImageToVideoPipeline.from_pretrained(directory, transformer=None, local_files_only=True)
    parts = load_pretrained_folder("wan2_1_i2v_14b", directory, preset="tiny")
    pipe = Pipeline.from_plan(zoo.resolve("wan2_1_i2v_14b", "tiny"), parts["model"])
    pipe.use_parts(parts)
    image = _image(2)
    cond = pipe.encode(image=image, prompt="a dog")
    with torch.no_grad():
        tokens = reference.encode_image(image, "cpu")
        pixels = reference.video_processor.preprocess(image, height=32, width=32)
        _, condition = reference.prepare_latents(pixels, 1, 16, 32, 32, 9, torch.float32, "cpu",
                                                 torch.Generator().manual_seed(0))
    torch.testing.assert_close(cond["image_context"], tokens, atol=1e-5, rtol=0)
    torch.testing.assert_close(cond["concat"], condition, atol=1e-5, rtol=0)
    video = pipe(prompt="a dog", image=image, seed=0, decode=True)
    assert video.shape == (1, 3, 9, 32, 32) and torch.isfinite(video).all()


def test_a14b_folder_loads_both_experts(folders):
    """``transformer/`` is the high-noise expert (t ≥ 0.875), ``transformer_2/`` the low-noise one."""
    directory = folders["wan2_2_t2v_a14b"]
    model = load_pretrained_folder("wan2_2_t2v_a14b", directory, preset="tiny")["model"]
    x, context = torch.randn(1, 16, 3, 4, 4), torch.randn(1, 512, 32)
    for sub, t in (("transformer", 0.9), ("transformer_2", 0.5)):
        net = diffusers.WanTransformer3DModel.from_config(
            diffusers.WanTransformer3DModel.load_config(directory / sub))
        net.load_state_dict(zoo.convert.wan_transformer.wan_to_diffusers_state_dict(
            model.high_noise if sub == "transformer" else model.low_noise, net))
        reference = load_pretrained_folder("wan2_1_t2v_1_3b", _with_transformer(directory, sub), preset="tiny")
        with torch.no_grad():
            torch.testing.assert_close(model(x, torch.tensor([t]), context=context),
                                       reference["model"](x, torch.tensor([t]), context=context), atol=1e-6, rtol=0)


def _with_transformer(directory, sub: str):
    """A T2V folder view of an A14B folder with ``sub`` as its ``transformer/`` (next to it, once)."""
    out = directory.parent / f"{directory.name}-{sub}"
    if not out.exists():
        shutil.copytree(directory, out, ignore=shutil.ignore_patterns("transformer", "transformer_2"))
        shutil.copytree(directory / sub, out / "transformer")
    return out


def test_folders_of_another_wan_variant_are_refused(folders, tmp_path):
    with pytest.raises(ValueError, match=r"has no image_encoder/: wan2_1_i2v_14b needs .*CLIPVisionModel"):
        load_pretrained_folder("wan2_1_i2v_14b", folders["wan2_1_t2v_1_3b"], preset="tiny")
    t2v_net = tmp_path / "i2v_with_a_t2v_transformer"
    shutil.copytree(folders["wan2_1_i2v_14b"], t2v_net, ignore=shutil.ignore_patterns("transformer"))
    shutil.copytree(folders["wan2_1_t2v_1_3b"] / "transformer", t2v_net / "transformer")
    with pytest.raises(ValueError, match=r"in_channels=36 \(the folder's net has 16\)"):
        load_pretrained_folder("wan2_1_i2v_14b", t2v_net, preset="tiny")
    with pytest.raises(ValueError, match=r"image_context_dim=None \(the folder's net has 16\)"):
        load_pretrained_folder("wan2_1_t2v_1_3b", _t2v_view_of(folders["wan2_1_i2v_14b"], tmp_path), preset="tiny")
    with pytest.raises(ValueError, match="has no transformer_2/"):
        load_pretrained_folder("wan2_2_t2v_a14b", folders["wan2_1_t2v_1_3b"], preset="tiny")
    mixed = tmp_path / "ti2v_with_a_2_1_vae"
    shutil.copytree(folders["wan2_2_ti2v_5b"], mixed)
    shutil.rmtree(mixed / "vae")
    shutil.copytree(folders["wan2_1_t2v_1_3b"] / "vae", mixed / "vae")
    with pytest.raises(ValueError, match="samples 48 latent channels, the folder's VAE has 16"):
        load_pretrained_folder("wan2_2_ti2v_5b", mixed, preset="tiny")


def _t2v_view_of(directory, tmp_path):
    """The I2V folder less its image encoder (so only the transformer's interface tells it apart)."""
    out = tmp_path / "i2v_as_t2v"
    shutil.copytree(directory, out, ignore=shutil.ignore_patterns("image_encoder", "image_processor"))
    return out


def test_a_clip_preprocessing_we_do_not_reproduce_is_refused(folders, tmp_path):
    folder = tmp_path / "i2v"
    shutil.copytree(folders["wan2_1_i2v_14b"], folder)
    config = folder / "image_processor" / "preprocessor_config.json"
    config.write_text(config.read_text().replace('"crop_size": {\n    "height": 32', '"crop_size": {\n    "height": 24'))
    with pytest.raises(ValueError, match="crop_size=24"):
        load_pretrained_folder("wan2_1_i2v_14b", folder, preset="tiny")
