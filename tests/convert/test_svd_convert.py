"""zoo.from_diffusers(UNetSpatioTemporalConditionModel): a tiny random SVD U-Net converts to ours and agrees to 1e-4
(fp32) on non-square 16×24 latents with 3 frames; the rename table runs both ways."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.convert.svd import svd_config, svd_to_diffusers_state_dict


diffusers = pytest.importorskip("diffusers")

TINY = dict(sample_size=16, in_channels=8, out_channels=4, block_out_channels=(32, 64), layers_per_block=2,
            cross_attention_dim=16, num_attention_heads=(2, 4), addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=24, num_frames=3,
            down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
            up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"))


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    ref = diffusers.UNetSpatioTemporalConditionModel(**TINY).eval()
    with torch.no_grad():  # move every weight off its init (merge logits, zero convs) so each one is exercised
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return ref, zoo.from_diffusers(ref)


def test_converted_svd_unet_matches_diffusers(pair):
    ref, ours = pair
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    sample = torch.randn(2, 3, 8, 16, 24)  # diffusers: B T C H W, 4 noisy + 4 image latents
    t, context = torch.tensor([0.3, -0.5]), torch.randn(2, 1, 16)
    added = torch.tensor([[6.0, 127.0, 0.02], [3.0, 30.0, 0.1]])  # fps_id, motion_bucket_id, cond_aug
    with torch.no_grad():
        expected = ref(sample, t, context, added).sample
        # our model is B C T H W: convert at the boundary, not in the model
        out = ours(sample.permute(0, 2, 1, 3, 4), t, context=context, added_cond=added).permute(0, 2, 1, 3, 4)
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)


def test_rename_table_maps_our_weights_back_to_diffusers(pair):
    ref, ours = pair
    back = svd_to_diffusers_state_dict(ours, ref, layers_per_block=2)
    state = ref.state_dict()
    assert set(back) == set(state) and all(torch.equal(back[k].reshape(v.shape), v) for k, v in state.items())


def test_unsupported_svd_config_is_refused():
    with pytest.raises(ValueError, match="one head size"):
        svd_config({**TINY, "num_attention_heads": (2, 2), "transformer_layers_per_block": 1})
