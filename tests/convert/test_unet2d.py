"""zoo.from_diffusers(UNet2DConditionModel): a tiny SD-style U-Net with random weights, converted and compared per
frame (frames folded into the batch on the diffusers side), and the state dict round-trips exactly."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange, repeat


diffusers = pytest.importorskip("diffusers")

import zoo  # noqa: E402
from zoo.convert.unet2d import to_unet2d_state_dict, unet2d_config  # noqa: E402


def _randomize(model):
    """Random weights everywhere (diffusers zero-inits nothing we rely on, but make every tensor matter)."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model.eval()


def _tiny_unet2d(**overrides):
    cfg = dict(block_out_channels=(32, 64), layers_per_block=2, cross_attention_dim=16, attention_head_dim=8,
               norm_num_groups=8, sample_size=16, in_channels=4, out_channels=4,
               down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
               up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
    return _randomize(diffusers.UNet2DConditionModel(**{**cfg, **overrides}))


def _per_frame(ref, x, t, context):
    """diffusers on a ``B C T H W`` video: frames folded into the batch, timestep and context repeated."""
    b, _, frames = x.shape[:3]
    out = ref(rearrange(x, "b c t h w -> (b t) c h w"), repeat(t, "b -> (b t)", t=frames),
              encoder_hidden_states=repeat(context, "b m c -> (b t) m c", t=frames)).sample
    return rearrange(out, "(b t) c h w -> b c t h w", b=b)


@pytest.mark.parametrize("overrides", [{}, {"use_linear_projection": True, "attention_head_dim": (4, 8)}],
                         ids=["sd1_style", "sd2_style"])
def test_converted_unet2d_matches_diffusers_per_frame(overrides):
    ref = _tiny_unet2d(**overrides)
    model = zoo.from_diffusers(ref).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 3, 16, 24, generator=g)  # odd T, non-square
    t = torch.tensor([10, 777])
    context = torch.randn(2, 5, 16, generator=g)
    with torch.no_grad():
        ours = model(x, t, context=context)
        theirs = _per_frame(ref, x, t, context)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_converted_unet2d_at_one_frame_is_the_image_model():
    ref = _tiny_unet2d()
    model = zoo.from_diffusers(ref).eval()
    g = torch.Generator().manual_seed(2)
    image, context = torch.randn(1, 4, 16, 16, generator=g), torch.randn(1, 3, 16, generator=g)
    with torch.no_grad():
        ours = model(rearrange(image, "b c h w -> b c 1 h w"), torch.tensor([500]), context=context)
        theirs = ref(image, torch.tensor([500]), encoder_hidden_states=context).sample
    torch.testing.assert_close(ours[:, :, 0], theirs, rtol=1e-4, atol=1e-4)


def test_unet2d_state_dict_round_trips_exactly():
    ref = _tiny_unet2d(use_linear_projection=False)
    back = to_unet2d_state_dict(zoo.from_diffusers(ref), ref)
    original = ref.state_dict()
    assert set(back) == set(original)
    for key, value in original.items():
        assert back[key].shape == value.shape and torch.equal(back[key], value), key


def test_unmodelled_config_is_refused_by_name():
    ref = _tiny_unet2d(class_embed_type="timestep")
    with pytest.raises(ValueError, match="class_embed_type"):
        zoo.from_diffusers(ref)


def test_sd1_config_maps_to_the_stable_diffusion_recipe():
    from zoo.recipes.stable_diffusion import SD1

    with torch.device("meta"):
        ref = diffusers.UNet2DConditionModel(cross_attention_dim=768)
    cfg = unet2d_config(ref.config)
    assert {k: cfg[k] for k in SD1} == SD1
    assert sum(p.numel() for p in ref.parameters()) == zoo.count_parameters("stable_diffusion", "paper")
