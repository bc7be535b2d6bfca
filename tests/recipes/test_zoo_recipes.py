"""Every recipe, parametrised over the zoo: tiny builds run, sampling settings build, published counts match."""

from __future__ import annotations

import pytest
import torch

import components
import zoo
from zoo.recipe import network_config


MODELS = zoo.list_models()
PRESETS = [(name, preset) for name in MODELS for preset in zoo.get_recipe(name).presets]


def _cond(recipe, preset, batch, *, for_pipeline=False):
    """Conditioning of the right shapes for a preset. A pipeline of a model whose x carries conditioning channels
    (SVD: the image latents, ``x_cond_channels``) takes them as ``concat``; the model itself takes them inside x."""
    p = recipe.preset(preset)
    cfg, (_, t, h, w) = network_config(p.config), p.sample_shape  # a wrapper net (experts): the experts' keywords
    cond = {}
    if cfg.get("concat_channels"):
        cond["concat"] = torch.randn(batch, cfg["concat_channels"], t, h, w)
    if for_pipeline and getattr(p, "x_cond_channels", 0):
        cond["concat"] = torch.randn(batch, p.x_cond_channels, t, h, w)
    if cfg.get("num_classes") is not None:
        cond["class_labels"] = torch.arange(batch) % cfg["num_classes"]
    if cfg.get("added_cond_dim") is not None:
        cond["added_cond"] = torch.randn(batch, cfg["added_cond_dim"])
    if cfg.get("context_dim") is not None:
        cond["context"] = torch.randn(batch, 3, cfg["context_dim"])
    if cfg.get("image_context_dim") is not None:  # CLIP image tokens (Wan I2V)
        cond["image_context"] = torch.randn(batch, 5, cfg["image_context_dim"])
    return cond


@pytest.mark.parametrize("name", MODELS)
def test_tiny_preset_builds_and_gives_a_finite_prediction(name):
    recipe = zoo.get_recipe(name)
    torch.manual_seed(0)
    model = zoo.create_model(name, "tiny").eval()
    c, t, h, w = recipe.presets["tiny"].sample_shape
    x = torch.randn(2, c + recipe.presets["tiny"].x_cond_channels, t, h, w)
    time = torch.rand(2) if recipe.sampling.time_input == "continuous" else torch.randint(0, 1000, (2,))
    with torch.no_grad():
        out = model(x, time, **_cond(recipe, "tiny", 2))
    assert out.shape[0] == 2 and out.shape[2:] == x.shape[2:] and torch.isfinite(out).all()


@pytest.mark.parametrize("name", MODELS)
def test_tiny_pipeline_samples_two_steps(name):
    recipe = zoo.get_recipe(name)
    if recipe.stages:
        pytest.skip("cascades run every stage in tests/recipes/test_cascade_recipes.py (shapes of each stage, finite)")
    video = zoo.create_pipeline(name, "tiny")(steps=2, seed=0, **_cond(recipe, "tiny", 1, for_pipeline=True))
    assert video.shape == (1, *recipe.presets["tiny"].sample_shape) and torch.isfinite(video).all()


@pytest.mark.parametrize("name,preset", PRESETS)
def test_every_preset_names_buildable_diffusion_components(name, preset):
    sampling = zoo.get_recipe(name).sampling_for(preset)
    components.build(sampling.schedule, **dict(sampling.schedule_kwargs))
    components.build(sampling.sampler, **dict(sampling.sampler_kwargs))
    components.get_component(sampling.parameterization)
    if sampling.guidance:
        components.build(sampling.guidance, **dict(sampling.guidance_kwargs))


@pytest.mark.parametrize("name,preset", PRESETS)
def test_every_preset_builds_on_meta_and_matches_its_published_count(name, preset):
    """Paper sizes on the meta device; where a count is published (or computed from the reference code), ours equals
    it exactly."""
    count = zoo.count_parameters(name, preset)
    assert count > 0
    published = zoo.get_recipe(name).presets[preset].published
    if published is not None and published.params is not None:
        assert count == published.params, f"{name}/{preset}: ours {count:,} vs published {published.params:,}"


@pytest.mark.parametrize("name,preset", PRESETS)
def test_preset_sample_shape_fits_the_net(name, preset):
    """The declared sample shape divides by the net's spatial factor / patch size (checked on meta, no memory)."""
    recipe = zoo.get_recipe(name)
    model = zoo.create_model(name, preset, device="meta")
    c, t, h, w = recipe.presets[preset].sample_shape
    assert model.in_channels == c + recipe.presets[preset].x_cond_channels
    mt, mh, mw = model.size_multiple  # what the net divides (T, H, W) by: a U-Net's 2^(levels − 1), a DiT's patch
    assert t % mt == 0 and h % mh == 0 and w % mw == 0
