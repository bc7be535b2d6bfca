"""``--weights DIR`` / ``zoo.convert.folder.load_pretrained_folder``: a diffusers ``save_pretrained`` folder into a
recipe's parts. Built offline from tiny random components (``zoo.testing.tiny_folders``), saved, loaded back: our
pipeline with the folder's parts samples the frames that the folder's own diffusers components give (their U-Net
through ``ZooUNet``, their text / image encoders, their VAE), and a folder that lacks what a recipe needs is refused
by name."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from einops import rearrange

import components
import zoo
from components.conditioning.clip_image import clip_pixels
from zoo.cli import main


diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")
from zoo.convert.diffusers_adapter import ZooUNet  # noqa: E402
from zoo.convert.folder import load_pretrained_folder  # noqa: E402
from zoo.testing.tiny_folders import tiny_weights_folder  # noqa: E402


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    return {name: tiny_weights_folder(name, root / name) for name in ("svd", "modelscope_t2v", "stable_diffusion",
                                                                      "controlvideo")}


def _loaded_pipeline(name: str, directory):
    parts = load_pretrained_folder(name, directory, preset="tiny")
    pipe = zoo.create_pipeline(name, "tiny", model=parts["model"])
    pipe.use_parts(parts)
    return pipe


def _decode_per_frame(vae, latents: torch.Tensor, **kwargs) -> torch.Tensor:
    frames = rearrange(latents, "b c t h w -> (b t) c h w") / vae.config.scaling_factor
    with torch.no_grad():
        out = vae.decode(frames, **kwargs).sample
    return rearrange(out, "(b t) c h w -> b c t h w", b=latents.shape[0])


def test_modelscope_folder_samples_the_frames_of_its_diffusers_components(folders):
    theirs = diffusers.TextToVideoSDPipeline.from_pretrained(folders["modelscope_t2v"], local_files_only=True)
    # diffusers' own tokenizer + CLIP text encoder; its guidance's unconditional branch is the empty prompt's encoding
    context, negative = theirs.encode_prompt("a cat", "cpu", 1, True)
    reference = zoo.create_pipeline("modelscope_t2v", "tiny", model=ZooUNet(theirs.unet))
    reference.null_condition = lambda cond, negative_prompt=None: {"context": negative}
    latents = reference(seed=0, context=context)
    expected = _decode_per_frame(theirs.vae, latents)
    got = _loaded_pipeline("modelscope_t2v", folders["modelscope_t2v"])(seed=0, prompt="a cat", decode=True)
    assert got.shape == expected.shape == (1, 3, 3, 16, 16)
    assert expected.std() > 0.05
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_svd_folder_encodes_and_samples_like_its_diffusers_components(folders):
    theirs = diffusers.StableVideoDiffusionPipeline.from_pretrained(folders["svd"], local_files_only=True)
    pipe = _loaded_pipeline("svd", folders["svd"])
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(4)) * 2 - 1
    encoder = pipe.encoders()["conditioning/svd_image"]  # called once: one noise-augmentation draw
    with torch.no_grad():
        cond = encoder(image, num_frames=3, autoencoder=pipe.autoencoder, generator=torch.Generator().manual_seed(5))
    eps = torch.randn(image.shape, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        embeds = theirs.image_encoder(pixel_values=clip_pixels(image, 16)).image_embeds
        mode = theirs.vae.encode(image + 0.02 * eps).latent_dist.mode()  # diffusers' _encode_vae_image
    torch.testing.assert_close(cond["context"], embeds[:, None])
    torch.testing.assert_close(cond["concat"], mode[:, :, None].expand(-1, -1, 3, -1, -1), atol=1e-5, rtol=1e-5)
    latents = zoo.create_pipeline("svd", "tiny", model=ZooUNet(theirs.unet))(seed=0, **cond)
    expected = _decode_per_frame(theirs.vae, latents, num_frames=3)
    got = pipe(seed=0, decode=True, **cond)
    assert got.shape == expected.shape == (1, 3, 3, 16, 16)
    assert expected.std() > 0.05
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_sample_cli_with_weights_writes_the_api_frames(folders, tmp_path, capsys):
    from PIL import Image

    from zoo.export import save_png_strip

    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "cat.png")
    out = tmp_path / "cli.png"
    assert main(["sample", "svd", "--preset", "tiny", "--weights", str(folders["svd"]), "--image",
                 str(tmp_path / "cat.png"), "--out", str(out), "--no-progress"]) == 0
    assert "(3, 3, 16, 16)" in capsys.readouterr().out
    pipe = _loaded_pipeline("svd", folders["svd"])
    cond = pipe.encode(image=str(tmp_path / "cat.png"), generator=torch.Generator().manual_seed(0))
    save_png_strip(pipe(seed=0, decode=True, **cond)[0], tmp_path / "api.png")
    cli, api = (np.asarray(Image.open(p), dtype=np.int16) for p in (out, tmp_path / "api.png"))
    assert cli.shape == api.shape and api.std() > 5
    assert np.abs(cli - api).max() <= 1


def test_sd_folder_loads_every_weight_into_text2video_zero(folders):
    unet = diffusers.UNet2DConditionModel.from_pretrained(folders["stable_diffusion"] / "unet", local_files_only=True)
    converted = zoo.from_diffusers(unet).state_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # nothing is left at its initialisation
        model = load_pretrained_folder("text2video_zero", folders["stable_diffusion"], preset="tiny")["model"]
    state = model.state_dict()
    assert set(state) == set(converted)
    assert all(torch.equal(state[k], v) for k, v in converted.items())
    assert components.config_of(model)["spatial_block_kwargs"] == {"attention": "cross_frame"}  # the recipe's unit


def test_sd_folder_into_tune_a_video_keeps_the_temporal_attention_at_its_init(folders):
    unet = diffusers.UNet2DConditionModel.from_pretrained(folders["stable_diffusion"] / "unet", local_files_only=True)
    converted = zoo.from_diffusers(unet).state_dict()
    with pytest.warns(UserWarning, match=r"keep their initialisation \(the recipe's additions: attn_temp, norm_temp\)"):
        model = load_pretrained_folder("tune_a_video", folders["stable_diffusion"], preset="tiny")["model"]
    state = model.state_dict()
    added = set(state) - set(converted)
    assert added and all("attn_temp" in k or "norm_temp" in k for k in added)
    assert all(torch.equal(state[k], v) for k, v in converted.items())
    zero_out = [v for k, v in state.items() if k.endswith("attn_temp.to_out.weight")]
    assert zero_out and all(torch.count_nonzero(w) == 0 for w in zero_out)  # zero output: SD unchanged at init


def test_controlvideo_folder_loads_the_controlnet_into_the_branch(folders):
    net = diffusers.ControlNetModel.from_pretrained(folders["controlvideo"] / "controlnet", local_files_only=True)
    branch = zoo.from_diffusers(net).state_dict()
    pipe = _loaded_pipeline("controlvideo", folders["controlvideo"])
    state = pipe.model.control.state_dict()
    assert set(state) == set(branch) and all(torch.equal(state[k], v) for k, v in branch.items())
    video = torch.rand(1, 3, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert pipe(seed=0, prompt="a cat", video=video, decode=True).shape == (1, 3, 3, 16, 16)


def test_a_folder_missing_a_component_names_the_folder_the_component_and_the_classes(tmp_path):
    (tmp_path / "unet").mkdir()
    with pytest.raises(ValueError) as err:
        load_pretrained_folder("svd", tmp_path, preset="tiny")
    message = str(err.value)
    assert f"weights folder {tmp_path} has no vae/, image_encoder/" in message
    assert "vae/ (AutoencoderKLTemporalDecoder)" in message and "image_encoder/ (CLIPVisionModelWithProjection)" in message
    assert "the folder has unet" in message


def test_a_folder_of_another_model_is_refused_by_class(folders):
    with pytest.raises(ValueError, match="unet/ holds a UNet2DConditionModel, the recipe expects "
                                         "UNet3DConditionModel"):
        load_pretrained_folder("modelscope_t2v", folders["stable_diffusion"], preset="tiny")
    with pytest.raises(ValueError, match="has no text_encoder/, tokenizer/: modelscope_t2v needs"):
        load_pretrained_folder("modelscope_t2v", folders["svd"], preset="tiny")


def test_a_folder_that_does_not_fit_the_preset_is_refused_naming_both(folders):
    with pytest.raises(ValueError, match=r"the preset expects context_dim=768 \(the folder's net has 8\)"):
        load_pretrained_folder("stable_diffusion", folders["stable_diffusion"], preset="paper")


def test_ltx_video_folder_samples_through_the_cli_and_refuses_the_paper_preset(tmp_path, capsys):
    """``tiny_weights_folder("ltx_video")`` (an LTXPipeline folder) through ``python -m zoo sample ltx_video
    --weights DIR --preset tiny``; the paper preset's T5-XXL width is not the tiny folder's (frames against
    diffusers' own: tests/convert/test_ltx_video_pipeline.py)."""
    folder = tiny_weights_folder("ltx_video", tmp_path / "ltx_video")
    out = tmp_path / "ltx.png"
    assert main(["sample", "ltx_video", "--preset", "tiny", "--weights", str(folder), "--prompt", "a cat", "--out",
                 str(out), "--steps", "1", "--no-progress"]) == 0
    assert "(3, 17, 128, 128)" in capsys.readouterr().out and out.is_file()
    with pytest.raises(ValueError, match=r"in_channels=128 \(the folder's net has 8\); context_dim=4096 \(the folder's net has 16\)"):
        load_pretrained_folder("ltx_video", folder, preset="paper")


def test_recipes_without_a_diffusers_counterpart_are_refused(tmp_path):
    with pytest.raises(ValueError, match="recipe 'vdm' has no diffusers-format loader.*load for: cogvideox_2b, cogvideox_5b, "
                                         "controlvideo, (.+, )?modelscope_t2v"):
        load_pretrained_folder("vdm", tmp_path)
    with pytest.raises(ValueError, match="--weights must be a folder"):
        load_pretrained_folder("svd", tmp_path / "absent")
