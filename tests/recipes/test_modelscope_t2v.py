"""ModelScope-T2V as a SpaceTimeUNet configuration: the exact diffusers UNet3D count, the layout and tiny forwards."""

from __future__ import annotations

import inspect

import pytest
import torch

import components
import zoo
from zoo.convert.unet3d import unet3d_config


def test_paper_preset_has_exactly_the_diffusers_unet3d_parameter_count():
    # docs/papers.md §15: UNet3DConditionModel() on meta, diffusers 0.42.1 [C]
    assert zoo.count_parameters("modelscope_t2v", "paper") == 1_411_233_860


def test_paper_preset_is_the_layout_the_converter_builds_from_the_default_diffusers_config():
    diffusers = pytest.importorskip("diffusers")
    defaults = {name: p.default for name, p in inspect.signature(diffusers.UNet3DConditionModel.__init__).parameters.items()
                if p.default is not inspect.Parameter.empty}
    ours = dict(zoo.get_recipe("modelscope_t2v").presets["paper"].config)
    assert {**ours, "out_channels": 4} == unet3d_config(defaults)


def test_temporal_parts_count_as_in_diffusers():
    model = zoo.create_model("modelscope_t2v", "paper", device="meta")
    by_part = {"stem": 0, "res.temporal": 0, "temporal": 0}
    for name, p in model.named_parameters():
        part = "stem" if name.startswith("stem.") else "res.temporal" if ".res.temporal." in name else \
            "temporal" if ".temporal." in name else None
        if part:
            by_part[part] += p.numel()
    # docs/papers.md §15: transformer_in 5,580,736; temp_convs 266,891,520; temp_attentions 272,850,880 [C]
    assert by_part == {"stem": 5_580_736, "res.temporal": 266_891_520, "temporal": 272_850_880}


def test_tiny_forward_is_finite_with_text_context_and_odd_frames():
    torch.manual_seed(0)
    model = zoo.create_model("modelscope_t2v", "tiny").eval()
    x = torch.randn(2, 4, 3, 8, 8)
    with torch.no_grad():
        out = model(x, torch.tensor([1, 999]), context=torch.randn(2, 5, 16))
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_tiny_pipeline_samples_with_guidance():
    video = zoo.create_pipeline("modelscope_t2v", "tiny")(num_frames=3, steps=2, seed=0, context=torch.randn(1, 4, 16))
    assert video.shape == (1, 4, 3, 8, 8) and torch.isfinite(video).all()


def test_temporal_additions_start_as_identity_so_the_unet_equals_its_image_model():
    """Stack and temporal transformers are zero-initialised: at init every frame is denoised independently."""
    torch.manual_seed(0)
    model = zoo.create_model("modelscope_t2v", "tiny").eval()
    x, t, ctx = torch.randn(1, 4, 3, 8, 8), torch.tensor([10]), torch.randn(1, 5, 16)
    with torch.no_grad():
        whole = model(x, t, context=ctx)
        frame = model(x[:, :, 1:2], t, context=ctx)
    torch.testing.assert_close(whole[:, :, 1:2], frame, atol=1e-5, rtol=1e-5)


def test_stem_block_is_optional_and_applied_after_conv_in():
    cfg = dict(zoo.get_recipe("modelscope_t2v").presets["tiny"].config)
    with_stem = components.build("net/space_time_unet", **cfg)
    cfg.pop("stem_block"), cfg.pop("stem_block_kwargs")
    without = components.build("net/space_time_unet", **cfg)
    assert without.stem is None and with_stem.stem.inner_dim == 2 * 8
    extra = sum(p.numel() for p in with_stem.parameters()) - sum(p.numel() for p in without.parameters())
    assert extra == sum(p.numel() for p in with_stem.stem.parameters())
