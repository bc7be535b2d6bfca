"""Cascade recipes (Imagen Video, Make-A-Video) and the other issue-#5 recipes (Lumiere, Latte): counts, stage
shapes, conditioning by concatenation, tiny forwards and whole-cascade tiny sampling."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.recipe import Stage
from zoo.recipes.imagen_video import PUBLISHED_PARAMS
from zoo.stages import stage_condition


IMAGEN_STAGES = [s.recipe for s in zoo.get_recipe("imagen_video").stages]


@pytest.mark.parametrize("name", list(PUBLISHED_PARAMS))
def test_imagen_video_stage_counts_are_within_two_percent_of_the_published_ones(name):
    ours = zoo.count_parameters(name, "paper")
    assert abs(ours / PUBLISHED_PARAMS[name] - 1) < 0.02, f"{name}: {ours:,} vs {PUBLISHED_PARAMS[name]:,}"


def test_imagen_video_cascade_has_seven_models_at_the_published_sizes():
    recipe = zoo.get_recipe("imagen_video")
    assert len(recipe.stages) == 6 and [s.kind for s in recipe.stages] == [
        "temporal_sr", "spatial_sr", "spatial_sr", "temporal_sr", "temporal_sr", "spatial_sr"]
    sizes = [(16, 24, 40)]  # F, H, W: the project page's 16×40×24 (F×W×H)
    for stage in recipe.stages:
        sizes.append(stage.output_size(*sizes[-1]))
        assert zoo.get_recipe(stage.recipe).presets["paper"].sample_shape[1:] == sizes[-1]
    assert sizes[-1] == (128, 768, 1280) == recipe.presets["paper"].sample_shape[1:]


def test_imagen_video_sr_stages_use_temporal_convs_and_concat_the_low_res_video():
    base = zoo.get_recipe("imagen_video").presets["paper"].config
    assert base["temporal"] == "attention" and base.get("concat_channels", 0) == 0
    for name in IMAGEN_STAGES:
        cfg = zoo.get_recipe(name).presets["paper"].config
        assert cfg["temporal"] == "conv" and cfg["concat_channels"] == 3 and cfg["context_dim"] == 4096
    assert zoo.get_recipe("imagen_video_ssr_3").presets["paper"].config["attention_levels"] == ()


def test_stage_recipes_are_listed_only_on_request():
    assert "imagen_video" in zoo.list_models() and "imagen_video_ssr_1" not in zoo.list_models()
    assert set(IMAGEN_STAGES) <= set(zoo.list_models("imagen_video*", stages=True))


@pytest.mark.parametrize("kind,factor,before,after", [
    ("spatial_sr", 4, (3, 2, 5), (3, 8, 20)), ("temporal_sr", 2, (3, 2, 5), (6, 2, 5)),
    ("interpolation", 5, (16, 2, 5), (76, 2, 5)),
])
def test_stage_sizes_round_trip(kind, factor, before, after):
    stage = Stage("x", kind, factor)
    assert stage.output_size(*before) == after and stage.input_size(*after) == before
    video = torch.randn(1, 3, *before)
    cond = stage_condition(stage, video)
    assert cond.shape == (1, 3 + (kind == "interpolation"), *after)


def test_interpolation_condition_is_masked_frames_plus_a_mask_channel():
    video = torch.randn(1, 3, 3, 2, 2)
    cond = stage_condition(Stage("x", "interpolation", 5), video)
    assert cond.shape[1] == 4  # Make-A-Video's 4 extra input channels: masked RGB + binary mask
    torch.testing.assert_close(cond[:, :3, ::5], video)
    assert cond[:, :3, 1:5].abs().sum() == 0 and cond[:, 3, ::5].eq(1).all() and cond[:, 3, 1:5].eq(0).all()


def test_stage_that_cannot_make_the_requested_size_says_so():
    with pytest.raises(ValueError, match="cannot output"):
        Stage("x", "spatial_sr", 4).input_size(3, 10, 8)


def test_sr_stage_takes_the_low_res_video_as_concat():
    model = zoo.create_model("imagen_video_ssr_1", "tiny").eval()
    x = torch.randn(1, 3, 2, 4, 4)
    cond = dict(concat=torch.randn(1, 3, 2, 4, 4), context=torch.randn(1, 3, 8), added_cond=torch.rand(1, 1))
    with torch.no_grad():
        out = model(x, torch.rand(1), **cond)
    assert out.shape == x.shape and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="concat"):
        model(x, torch.rand(1), context=cond["context"], added_cond=cond["added_cond"])


def test_imagen_video_tiny_pipeline_runs_all_seven_stages():
    pipe = zoo.create_pipeline("imagen_video", "tiny")
    videos = pipe(num_inference_steps=2, seed=0, context=torch.randn(1, 3, 8), return_stages=True)
    assert [tuple(v.shape[2:]) for v in videos] == [(1, 2, 2), (2, 2, 2), (2, 4, 4), (2, 16, 16), (4, 16, 16),
                                                   (8, 16, 16), (8, 64, 64)]
    assert all(torch.isfinite(v).all() for v in videos)


def test_make_a_video_tiny_cascade_interpolates_then_super_resolves_with_shared_frame_noise():
    recipe = zoo.get_recipe("make_a_video")
    assert [s.kind for s in recipe.stages] == ["interpolation", "spatial_sr", "spatial_sr"]
    assert recipe.stages[-1].same_noise_per_frame and recipe.presets["paper"].sample_shape == (3, 76, 768, 768)
    pipe = zoo.create_pipeline("make_a_video", "tiny")
    videos = pipe(num_inference_steps=2, seed=0, added_cond=torch.randn(1, 4), return_stages=True)
    assert [tuple(v.shape[2:]) for v in videos] == [(2, 2, 2), (6, 2, 2), (6, 8, 8), (6, 24, 24)]
    assert all(torch.isfinite(v).all() for v in videos)


def test_lumiere_halves_time_inside_the_stunet():
    model = zoo.create_model("lumiere", "paper", device="meta")
    assert model.temporal_factor == 8 and 80 % model.temporal_factor == 0
    tiny = zoo.create_model("lumiere", "tiny").eval()
    with torch.no_grad():
        out = tiny(torch.randn(1, 3, 4, 8, 8), torch.rand(1), context=torch.randn(1, 3, 8))
    assert out.shape == (1, 3, 4, 8, 8) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="frames=3 must be divisible"):
        tiny(torch.randn(1, 3, 3, 8, 8), torch.rand(1), context=torch.randn(1, 3, 8))


def test_latte_alternates_spatial_and_temporal_blocks():
    model = zoo.create_model("latte", "tiny").eval()
    kinds = [type(block.attn).__name__ for block in model.blocks]
    assert kinds == ["SpatialAttention", "TemporalAttention"]
    video = zoo.create_pipeline("latte", "tiny")(num_frames=2, num_inference_steps=2, seed=0, class_labels=torch.tensor([3]))
    assert video.shape == (1, 4, 2, 8, 8) and torch.isfinite(video).all()
