"""zoo.from_diffusers(UNet3DConditionModel): rename table both ways, the full default key set, fp32 numerics."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.convert import rename_state_dict
from zoo.convert.unet3d import unet3d_config, unet3d_rename_table, unet3d_to_diffusers_state_dict


diffusers = pytest.importorskip("diffusers")


def _tiny_diffusers_unet3d():
    torch.manual_seed(0)
    model = diffusers.UNet3DConditionModel(
        block_out_channels=(32, 64), norm_num_groups=8, attention_head_dim=8, cross_attention_dim=16,
        layers_per_block=2, in_channels=4, out_channels=4, sample_size=16,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
    ).eval()
    with torch.no_grad():  # move every weight off its init (zero-initialised temporal convs included)
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.fixture(scope="module")
def pair():
    ref = _tiny_diffusers_unet3d()
    return ref, zoo.from_diffusers(ref)


def test_converted_model_matches_diffusers_outputs_in_fp32(pair):
    ref, ours = pair
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 3, 16, 24, generator=g)  # B C T H W in both; odd frames, non-square
    t, ctx = torch.tensor([10, 500]), torch.randn(2, 5, 16, generator=g)
    with torch.no_grad():
        expected = ref(x, t, encoder_hidden_states=ctx).sample
        got = ours(x, t, context=ctx)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_reverse_direction_reproduces_the_diffusers_state_dict_exactly(pair):
    ref, ours = pair
    back = unet3d_to_diffusers_state_dict(ours, ref, layers_per_block=2)
    ref_state = ref.state_dict()
    assert back.keys() == ref_state.keys()
    assert all(torch.equal(back[k], v) for k, v in ref_state.items())
    ref.load_state_dict(back, strict=True)


def test_every_key_of_the_default_checkpoint_maps_onto_the_paper_preset_and_back():
    """All 1,480 tensors of diffusers' UNet3DConditionModel() (its default config, built on the meta device), shapes
    adapted, none left over either way."""
    with torch.device("meta"):
        theirs = diffusers.UNet3DConditionModel().state_dict()
    assert len(theirs) == 1480
    ours = zoo.create_model("modelscope_t2v", "paper", device="meta")
    table = unet3d_rename_table(layers_per_block=2)
    converted = rename_state_dict(theirs, table, ours)
    assert converted.keys() == ours.state_dict().keys()
    back = rename_state_dict(converted, table, theirs, direction="to_diffusers")
    assert back.keys() == theirs.keys()


def test_converter_refuses_configs_it_cannot_represent():
    config = dict(block_out_channels=(32, 64), norm_num_groups=8, attention_head_dim=(8, 16), cross_attention_dim=16,
                  layers_per_block=1, in_channels=4, out_channels=4,
                  down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
                  up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"))
    with pytest.raises(ValueError, match="attention_head_dim must be one size"):
        unet3d_config(config)
