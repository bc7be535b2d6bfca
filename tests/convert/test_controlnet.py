"""zoo.from_diffusers(ControlNetModel): a tiny ControlNet with random weights, converted; its residuals match
diffusers' per frame, and its state dict round-trips exactly."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange, repeat


diffusers = pytest.importorskip("diffusers")

import components  # noqa: E402
import zoo  # noqa: E402
from zoo.convert.controlnet import to_controlnet_state_dict  # noqa: E402


def _tiny_controlnet():
    model = diffusers.ControlNetModel(
        block_out_channels=(32, 64), layers_per_block=2, cross_attention_dim=16, attention_head_dim=8,
        norm_num_groups=8, in_channels=4, conditioning_embedding_out_channels=(8, 16),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():  # random everywhere, zero convs included
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model.eval()


def test_converted_controlnet_residuals_match_diffusers_per_frame():
    ref = _tiny_controlnet()
    branch = zoo.from_diffusers(ref).eval()
    g = torch.Generator().manual_seed(1)
    b, frames = 2, 3
    x = torch.randn(b, 4, frames, 8, 12, generator=g)
    control = torch.randn(b, 3, frames, 16, 24, generator=g)  # f = 2 for two embedding widths
    t, context = torch.tensor([10, 777]), torch.randn(b, 5, 16, generator=g)
    with torch.no_grad():
        ours = branch(x, t, control=control, context=context, scale=0.7)
        down, mid = ref(rearrange(x, "b c t h w -> (b t) c h w"), repeat(t, "b -> (b t)", t=frames),
                        encoder_hidden_states=repeat(context, "b m c -> (b t) m c", t=frames),
                        controlnet_cond=rearrange(control, "b c t h w -> (b t) c h w"), conditioning_scale=0.7,
                        return_dict=False)
    theirs = [rearrange(r, "(b t) c h w -> b c t h w", b=b) for r in (*down, mid)]
    assert len(ours) == len(theirs)
    for a, r in zip(ours, theirs):
        torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-4)


def test_controlnet_state_dict_round_trips_exactly():
    ref = _tiny_controlnet()
    back = to_controlnet_state_dict(zoo.from_diffusers(ref), ref)
    original = ref.state_dict()
    assert set(back) == set(original)
    assert all(torch.equal(back[k], v) for k, v in original.items())


def test_sd15_controlnet_count_equals_diffusers():
    from zoo.convert.controlnet import controlnet_config

    with torch.device("meta"):
        ref = diffusers.ControlNetModel(cross_attention_dim=768)
        branch = components.build("net/control_branch", **controlnet_config(ref.config))
    count = sum(p.numel() for p in branch.parameters())
    assert count == sum(p.numel() for p in ref.parameters()) == 361_279_120
