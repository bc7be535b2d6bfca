"""Conditioning encoders (``conditioning/*``) and the pipeline's user-level inputs (issue #14 items 1, 3, 4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers
from PIL import Image

import components
import zoo
from components.conditioning.tokenizer import byte_tokenize
from zoo.cli import main


def test_byte_tokenizer_ids():
    # BOS = 1, byte b -> 2 + b, then 0 (pad / end of text): "ab" = bytes 97, 98
    assert byte_tokenize(["ab"], 5).tolist() == [[1, 99, 100, 0, 0]]


def test_text_encoder_is_the_transformers_model_on_byte_ids():
    enc = components.build("conditioning/text", **components.get_component("conditioning/text").tiny).eval()
    ids = torch.tensor([[1, 2 + ord("h"), 2 + ord("i"), 0, 0, 0, 0, 0]])
    with torch.no_grad():
        expected = enc.model(input_ids=ids).last_hidden_state
        torch.testing.assert_close(enc("hi")["context"], expected)
    assert isinstance(enc.model, transformers.CLIPTextModel)


def test_svd_image_encoder_matches_the_svd_recipe():
    """concat = E(x + s·ε) over T frames (posterior mode), added_cond = (fps − 1, motion bucket, s) (diffusers'
    StableVideoDiffusionPipeline), context = CLIP image_embeds."""
    pipe = zoo.create_pipeline("svd", "tiny")
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    enc = pipe.encoders()["conditioning/svd_image"]
    with torch.no_grad():
        out = enc(x, num_frames=3, autoencoder=pipe.autoencoder, fps=7, motion_bucket_id=127, noise_aug_strength=0.02,
                  generator=torch.Generator().manual_seed(1))
        eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
        z = pipe.autoencoder.encode((x + 0.02 * eps)[:, :, None])
    torch.testing.assert_close(out["concat"], z.expand(-1, -1, 3, -1, -1))
    torch.testing.assert_close(out["added_cond"], torch.tensor([[6.0, 127.0, 0.02]] * 2))
    assert out["context"].shape == (2, 1, 16)


def test_control_edges_of_a_vertical_step():
    video = -torch.ones(1, 3, 2, 8, 8)
    video[..., 4:] = 1.0  # a step between columns 3 and 4
    edges = components.build("conditioning/control")(video, num_frames=2)["control"]
    assert edges.shape == (1, 3, 2, 8, 8)
    assert torch.all(edges[..., [3, 4]] == 1) and torch.all(edges[..., [0, 1, 6, 7]] == 0)  # [0, 1], SD's range
    given = components.build("conditioning/control", mode="given")(video, num_frames=2)["control"]
    torch.testing.assert_close(given, (video[:, :, :2] + 1) / 2)


def test_structure_depth_proxy_is_the_pooled_luma():
    video = torch.tensor([0.2, -0.4, 0.6]).view(1, 3, 1, 1, 1).expand(1, 3, 2, 8, 8)
    out = components.build("conditioning/structure", factor=2)(video, num_frames=2)["concat"]
    luma = 0.299 * 0.2 + 0.587 * -0.4 + 0.114 * 0.6
    torch.testing.assert_close(out, torch.full((1, 1, 2, 4, 4), luma))


def test_prompt_through_the_pipeline_equals_its_context():
    pipe = zoo.create_pipeline("modelscope_t2v", "tiny")
    context = pipe.encoders()["conditioning/text"]("a cat")["context"]
    a = pipe(num_inference_steps=1, prompt="a cat")
    b = pipe(num_inference_steps=1, context=context.detach())
    torch.testing.assert_close(a, b)


def test_an_encoder_feeding_several_keywords_runs_once_and_raw_keywords_need_no_input():
    svd = zoo.create_pipeline("svd", "tiny")
    encoder = svd.encoders()["conditioning/svd_image"]
    calls = []
    handle = encoder.register_forward_hook(lambda *args: calls.append(1))
    cond = svd.encode(image=torch.zeros(1, 3, 16, 16))
    handle.remove()
    assert set(cond) == {"context", "added_cond", "concat"} and len(calls) == 1
    # ControlVideo: a raw control map replaces its encoder's input; only the prompt is encoded
    control = zoo.create_pipeline("controlvideo", "tiny")
    edges = control.example_conditioning(1)["control"]
    with pytest.raises(ValueError, match="needs video for its 'control' conditioning"):
        control.encode(prompt="a cat")
    assert set(control.encode(prompt="a cat", skip=("control",))) == {"context"}
    assert torch.isfinite(control(steps=1, prompt="a cat", control=edges)).all()


def test_guidance_with_a_prompt_uses_the_empty_prompt_as_its_unconditional_branch():
    pipe = zoo.create_pipeline("modelscope_t2v", "tiny")
    context = pipe.encode(prompt="a cat")["context"]
    uncond = pipe.null_condition({"context": context})["context"]
    torch.testing.assert_close(uncond, pipe.encoders()["conditioning/text"]("")["context"])
    assert uncond.abs().sum() > 0  # not the zeros a raw-tensor-only pipeline uses
    raw_only = zoo.create_pipeline("modelscope_t2v", "tiny")  # no encoder built: zeros
    assert raw_only.null_condition({"context": context})["context"].abs().sum() == 0


def test_pil_image_and_video_file_inputs(tmp_path):
    svd = zoo.create_pipeline("svd", "tiny")
    image = Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype("uint8"))
    assert svd(steps=1, image=image, decode=True).shape == (1, 3, 3, 16, 16)
    import av

    path = tmp_path / "in.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        for _ in range(4):
            frame = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    gen1 = zoo.create_pipeline("gen1", "tiny")
    assert gen1(steps=1, prompt="a cat", video=str(path), decode=True).shape == (1, 3, 3, 16, 16)


def test_bad_user_inputs_name_the_input_and_the_expectation():
    svd = zoo.create_pipeline("svd", "tiny")
    with pytest.raises(ValueError, match="svd takes no prompt: its conditioning encoders take image"):
        svd.encode(prompt="a cat")
    with pytest.raises(ValueError, match="RGB image, got mode 'L'"):
        svd.encode(image=Image.new("L", (16, 16)))
    with pytest.raises(ValueError, match=r"image is \(12, 12\) \(H, W\) but the model expects \(16, 16\)"):
        svd.encode(image=torch.zeros(1, 3, 12, 12))
    assert svd.encode(image=torch.zeros(1, 3, 12, 12), resize=True)["concat"].shape == (1, 4, 3, 8, 8)
    with pytest.raises(ValueError, match="gen1 needs video for its 'concat' conditioning"):
        zoo.create_pipeline("gen1", "tiny").encode(prompt="a cat")
    with pytest.raises(ValueError, match="vdm takes no prompt"):
        zoo.create_pipeline("vdm", "tiny").encode(prompt="a cat")


def test_sample_cli_with_an_image(tmp_path, capsys):
    path = tmp_path / "cat.png"
    Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype("uint8")).save(path)
    out = tmp_path / "out.gif"
    assert main(["sample", "svd", "--preset", "tiny", "--steps", "1", "--image", str(path), "--out", str(out),
                 "--no-progress"]) == 0
    assert "(3, 3, 16, 16)" in capsys.readouterr().out and out.is_file()


def test_weights_folder_missing_a_component_is_named(tmp_path, capsys):
    from PIL import Image

    (tmp_path / "unet").mkdir()
    Image.new("RGB", (16, 16)).save(tmp_path / "frame.png")  # the input real weights need, so the folder is read
    assert main(["sample", "svd", "--preset", "tiny", "--weights", str(tmp_path), "--image",
                 str(tmp_path / "frame.png"), "--out", str(tmp_path / "o.gif")]) != 0
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "vae" in err


def test_text_encoder_from_a_local_folder_equals_the_saved_model(tmp_path):
    enc = components.build("conditioning/text", **components.get_component("conditioning/text").tiny).eval()
    enc.model.save_pretrained(tmp_path / "text_encoder")
    loaded = components.build("conditioning/text", pretrained=str(tmp_path / "text_encoder"), max_length=8).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded("a cat")["context"], enc("a cat")["context"])
    with pytest.raises(ValueError, match="no config.json there"):
        components.build("conditioning/text", pretrained=str(tmp_path))


def test_pipeline_use_parts_puts_the_folder_modules_in_place():
    pipe = zoo.create_pipeline("svd", "tiny")
    vae = components.build("net/video_autoencoder", **components.get_component("net/video_autoencoder").tiny)
    clip = components.build("conditioning/svd_image", **components.get_component("conditioning/svd_image").tiny).clip
    pipe.use_parts({"autoencoder": vae, "image_encoder": clip})
    assert pipe.autoencoder is vae and pipe.encoders()["conditioning/svd_image"].clip is clip


def test_image_encoders_size_their_input_to_the_clip_tower_they_hold():
    from components.conditioning.clip_image import clip_vision

    for key, keyword in (("conditioning/svd_image", "context"), ("conditioning/image_embedding", "added_cond")):
        encoder = components.build(key, **components.get_component(key).tiny)
        dim = encoder.clip.config.projection_dim
        encoder.clip = clip_vision(dim, hidden=16, layers=1, heads=2, image_size=32, patch_size=8, pretrained=None)
        extra = {"num_frames": 2} if keyword == "context" else {}
        out = encoder(torch.zeros(1, 3, 16, 16), **extra)  # a loaded tower of another input size (32, not 16)
        assert out[keyword].shape[-1] == dim


def test_clip_pixels_takes_bf16_images_on_cpu():
    """CPU has no bf16 antialiased bicubic resize: the preprocessing runs in fp32 and returns the image's dtype, so
    a bf16 run (``--frozen-dtype bf16``) equals the fp32 result rounded to bf16 (≤ 2^-8 relative of values ≤ 2.7)."""
    from components.conditioning.clip_image import clip_pixels

    image = torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(0)) * 2 - 1
    full, half = clip_pixels(image, 32), clip_pixels(image.bfloat16(), 32)
    assert half.dtype == torch.bfloat16 and half.shape == full.shape
    assert torch.equal(half, clip_pixels(image.bfloat16().float(), 32).bfloat16())
