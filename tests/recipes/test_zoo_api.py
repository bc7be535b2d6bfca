"""The zoo API: listing, recipes, helpful errors, create_model / count_parameters / create_pipeline."""

from __future__ import annotations

import pytest
import torch

import zoo


def test_list_models_filters_and_sorts():
    from components.registry import natural_key

    assert zoo.list_models() == sorted(zoo.list_models(), key=natural_key)  # x2 before x10: wan2_1_t2v_1_3b, then _14b
    assert {"vdm", "dit_xl_2", "sora_dit"} <= set(zoo.list_models())
    assert zoo.list_models("dit*") == ["dit_xl_2"]
    assert zoo.list_models("nothing*") == []


def test_unknown_model_suggests_the_closest_name():
    with pytest.raises(KeyError, match="Unknown model 'vmd'. Did you mean 'vdm'"):
        zoo.get_recipe("vmd")
    with pytest.raises(zoo.UnknownModelError, match="zoo.list_models"):
        zoo.create_model("sora")


def test_unknown_preset_lists_the_presets():
    with pytest.raises(KeyError, match="no preset 'papr'. Did you mean 'paper'"):
        zoo.create_model("dit_xl_2", "papr")


def test_misspelled_override_is_a_type_error_with_suggestion():
    with pytest.raises(TypeError, match="Did you mean 'base_channels'"):
        zoo.create_model("vdm", "tiny", base_channel=8)


def test_overrides_replace_preset_keywords():
    model = zoo.create_model("vdm", "tiny", in_channels=4)
    assert model.in_channels == 4
    assert zoo.preset_config("vdm", "tiny")["type"] == "net/space_time_unet"


def test_count_parameters_builds_on_meta_and_matches_a_real_build():
    real = zoo.create_model("vdm", "demo")
    assert zoo.count_parameters("vdm", "demo") == sum(p.numel() for p in real.parameters())


def test_recipe_carries_paper_presets_published_numbers_and_sampling():
    recipe = zoo.get_recipe("vdm")
    assert "2204.03458" in recipe.paper
    assert {"ucf101", "bair", "kinetics600", "t2v_small", "t2v_large", "t2v_128", "demo", "tiny"} <= set(
        recipe.presets)
    assert recipe.presets["ucf101"].published.params is None  # VDM publishes no counts
    demo = recipe.sampling_for("demo")
    assert (demo.schedule, demo.parameterization, demo.time_input) == (
        "schedule/cosine", "parameterization/v", "continuous")
    assert zoo.get_recipe("sora_dit").reconstruction


def test_published_needs_a_provenance_tag():
    with pytest.raises(ValueError, match="provenance"):
        zoo.Published(1, "paper")


def test_describe_model_shows_ours_and_published_counts():
    text = zoo.describe_model("dit_xl_2")
    assert "675,129,632" in text and "[C]" in text


def test_pipeline_samples_a_video_of_the_requested_shape_deterministically():
    pipe = zoo.create_pipeline("vdm", "tiny")
    a = pipe(num_frames=3, num_inference_steps=2, seed=0, num_videos_per_prompt=2)
    b = pipe(num_frames=3, num_inference_steps=2, seed=0, num_videos_per_prompt=2)
    assert a.shape == (2, 3, 3, 8, 8) and torch.isfinite(a).all()
    assert torch.equal(a, b)
    assert not torch.equal(a, pipe(num_frames=3, num_inference_steps=2, seed=1, num_videos_per_prompt=2))


def test_pipeline_wires_the_recipes_components():
    pipe = zoo.create_pipeline("dit_xl_2", "tiny")
    assert pipe.guidance is not None and pipe.sampling.sampler == "sampler/ddpm"
    video = pipe(num_inference_steps=2, seed=0, class_labels=torch.tensor([3]))
    assert video.shape == (1, 4, 1, 8, 8)  # the learned-Σ half is not part of the sample
    assert pipe.null_condition({"class_labels": torch.tensor([3])})["class_labels"].item() == 10


def test_pipeline_accepts_a_trained_model():
    model = zoo.create_model("vdm", "tiny")
    pipe = zoo.create_pipeline("vdm", "tiny", model=model)
    assert pipe.model is model
