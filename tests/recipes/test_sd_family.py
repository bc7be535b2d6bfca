"""The Stable Diffusion family: the SD image U-Net as a recipe, and the video models that inflate it
(Tune-A-Video, Text2Video-Zero, ControlVideo, Gen-1). Exact parameter counts on meta; the image model is kept."""

from __future__ import annotations

import pytest
import torch
from einops import repeat

import components
import zoo
from zoo.recipes.tune_a_video import TRAINABLE_PARAMS


SD1_PARAMS, SD2_PARAMS, CONTROLNET_PARAMS = 859_520_964, 865_910_724, 361_279_120
VIDEO_MODELS = ("tune_a_video", "text2video_zero", "controlvideo", "gen1")


def _cond(name, batch=2, frames=3, size=8, generator=None):
    cond = {"context": torch.randn(batch, 4, 8, generator=generator)}
    if name == "controlvideo":
        cond["control"] = torch.randn(batch, 3, frames, 2 * size, 2 * size, generator=generator)
    if name == "gen1":
        cond["concat"] = torch.randn(batch, 1, frames, size, size, generator=generator)
    return cond


def _sd_weights_into(name):
    """The tiny SD image model and ``name``'s tiny model carrying its weights (new parameters keep their init)."""
    torch.manual_seed(0)
    sd = zoo.create_model("stable_diffusion", "tiny").eval()
    torch.manual_seed(1)
    video = zoo.create_model(name, "tiny").eval()
    target = video.unet if name == "controlvideo" else video
    missing, unexpected = target.load_state_dict(sd.state_dict(), strict=False)
    assert not unexpected
    return sd, video, missing


# ---- exact counts (meta device) -------------------------------------------------------------------------------

@pytest.mark.parametrize("name,preset,expected", [
    ("stable_diffusion", "paper", SD1_PARAMS), ("stable_diffusion", "sd2", SD2_PARAMS),
    ("tune_a_video", "paper", 909_120_004), ("text2video_zero", "paper", SD1_PARAMS),
    ("controlvideo", "paper", SD1_PARAMS + CONTROLNET_PARAMS)])
def test_paper_counts_are_exact(name, preset, expected):
    assert zoo.count_parameters(name, preset) == expected


def test_controlvideo_controlnet_alone_is_sd15_controlnet():
    model = zoo.create_model("controlvideo", "paper", device="meta")
    assert sum(p.numel() for p in model.control.parameters()) == CONTROLNET_PARAMS
    assert sum(p.numel() for p in model.unet.parameters()) == SD1_PARAMS


def test_tune_a_video_trains_exactly_the_papers_modules():
    assert zoo.count_parameters("tune_a_video", "paper", trainable_only=True) == 74_354_880
    model = zoo.create_model("tune_a_video", "tiny")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".attn1.to_q." in n or ".attn2.to_q." in n or ".attn_temp." in n for n in trainable)
    assert not any(p.requires_grad for n, p in model.named_parameters() if "norm_temp" in n or ".attn1.to_k." in n or ".ff." in n)


def test_tune_a_video_trainable_set_is_the_papers_on_one_block():
    block = components.build("block/tune_a_video", dim=16, num_heads=2, num_groups=4, context_dim=8, depth=2)
    zoo.get_recipe("tune_a_video").mark_trainable(block)
    expected = set()
    for i in range(2):
        expected |= {f"layers.{i}.attn1.to_q.weight", f"layers.{i}.attn2.to_q.weight"}
        expected |= {f"layers.{i}.attn_temp.{n}" for n, _ in block.layers[i].attn_temp.named_parameters()}
    # norm_temp, keys/values, feed-forwards and the GroupNorm/projections stay frozen
    assert {n for n, p in block.named_parameters() if p.requires_grad} == expected


def test_tune_a_video_trainable_count_over_sd1s_sixteen_blocks_is_the_papers():
    """SD-1.x's 16 transformer blocks (channels 320×5, 640×5, 1280×6; 8 heads; CLIP-L context 768), on meta:
    74,354,880 trainable parameters (docs/papers.md §7.1 [C]), all of the recipe's trainable ones."""
    recipe, trainable = zoo.get_recipe("tune_a_video"), 0
    for c in [320] * 5 + [640] * 5 + [1280] * 6:
        block = recipe.mark_trainable(components.build("block/tune_a_video", dim=c, num_heads=8, context_dim=768,
                                                       device="meta"))
        trainable += sum(p.numel() for p in block.parameters() if p.requires_grad)
    assert trainable == 74_354_880 == TRAINABLE_PARAMS


def test_text2video_zero_adds_no_parameters():
    sd = zoo.create_model("stable_diffusion", "tiny", device="meta").state_dict()
    t2vz = zoo.create_model("text2video_zero", "tiny", device="meta").state_dict()
    assert {k: v.shape for k, v in sd.items()} == {k: v.shape for k, v in t2vz.items()}


def test_tune_a_video_adds_only_temporal_attention():
    _, _, missing = _sd_weights_into("tune_a_video")
    assert missing and all(".attn_temp." in k or ".norm_temp." in k for k in missing)


# ---- the image model is kept ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tune_a_video", "text2video_zero", "controlvideo"])
def test_inflated_model_at_one_frame_is_the_image_model(name):
    sd, video, _ = _sd_weights_into(name)
    g = torch.Generator().manual_seed(2)
    x, t, context = torch.randn(2, 4, 1, 8, 8, generator=g), torch.tensor([3, 900]), torch.randn(2, 4, 8, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(video(x, t, context=context), sd(x, t, context=context), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["tune_a_video", "text2video_zero", "controlvideo"])
def test_identical_frames_give_the_image_models_frame(name):
    """Sparse-causal / cross-frame / fully cross-frame keys of identical frames are the frame's own (duplicated keys
    leave softmax attention unchanged), and Tune-A-Video's temporal attention starts at 0."""
    sd, video, _ = _sd_weights_into(name)
    g = torch.Generator().manual_seed(3)
    frame, context = torch.randn(1, 4, 1, 8, 8, generator=g), torch.randn(1, 4, 8, generator=g)
    with torch.no_grad():
        out = video(repeat(frame, "b c 1 h w -> b c t h w", t=3), torch.tensor([250]), context=context)
        ref = sd(frame, torch.tensor([250]), context=context)
    torch.testing.assert_close(out, ref.expand_as(out), rtol=1e-5, atol=1e-5)


def test_controlvideo_zero_initialised_control_leaves_the_unet_unchanged():
    model = zoo.create_model("controlvideo", "tiny").eval()
    g = torch.Generator().manual_seed(4)
    x, cond = torch.randn(2, 4, 3, 8, 8, generator=g), _cond("controlvideo", generator=g)
    with torch.no_grad():
        with_control = model(x, torch.tensor([5, 50]), **cond)
        without = model.unet(x, torch.tensor([5, 50]), context=cond["context"])
    torch.testing.assert_close(with_control, without)


def test_controlvideo_adds_the_branch_residuals_to_the_unet():
    model = zoo.create_model("controlvideo", "tiny", control_zero_init=False).eval()
    model.control.copy_encoder_from(model.unet)
    g = torch.Generator().manual_seed(5)
    x, cond = torch.randn(1, 4, 3, 8, 8, generator=g), _cond("controlvideo", batch=1, generator=g)
    t = torch.tensor([100])
    with torch.no_grad():
        residuals = model.control(x, t, control=cond["control"], context=cond["context"])
        expected = model.unet(x, t, context=cond["context"], control_residuals=residuals)
        out = model(x, t, **cond)
        plain = model.unet(x, t, context=cond["context"])
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(out, plain)


def test_gen1_needs_its_structure_and_content():
    model = zoo.create_model("gen1", "tiny").eval()
    x = torch.randn(1, 4, 3, 8, 8)
    with pytest.raises(ValueError, match="concat"):
        model(x, torch.tensor([1]), context=torch.randn(1, 1, 8))
    out = model(x, torch.tensor([1]), **_cond("gen1", batch=1))
    assert out.shape == x.shape and torch.isfinite(out).all()


# ---- every recipe runs tiny -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", VIDEO_MODELS)
def test_tiny_model_gives_a_finite_prediction(name):
    model = zoo.create_model(name, "tiny").eval()
    x = torch.randn(2, 4, 3, 8, 8)
    with torch.no_grad():
        out = model(x, torch.tensor([0, 999]), **_cond(name))
    assert out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("name", VIDEO_MODELS)
def test_tiny_pipeline_samples_a_finite_video(name):
    video = zoo.create_pipeline(name, "tiny")(num_frames=3, steps=2, seed=0, **_cond(name, batch=1))
    assert video.shape == (1, 4, 3, 8, 8) and torch.isfinite(video).all()


def test_sd_recipes_sample_with_sds_settings():
    for name in ("stable_diffusion", *VIDEO_MODELS):
        s = zoo.get_recipe(name).sampling
        assert (s.schedule, s.parameterization, s.sampler, s.time_input) == (
            "schedule/scaled_linear", "parameterization/eps", "sampler/ddim", "discrete")
    assert zoo.get_recipe("tune_a_video").sampling.guidance_kwargs["scale"] == 12.5
    assert zoo.get_recipe("controlvideo").sampling.guidance_kwargs["scale"] == 12.5
