"""SpaceTimeUNet (net/space_time_unet): shapes at any T, conditioning keywords, identity temporal parts at init,
gradient checkpointing, Lumiere-style temporal down-sampling, paper sizes on the meta device."""

from __future__ import annotations

import pytest
import torch

import components
import zoo


SMALL = dict(in_channels=3, base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_levels=(1,),
             head_dim=8, num_groups=4, transformer_ff_mult=1.0, zero_init_output=False)


def _unet(seed=0, **overrides):
    torch.manual_seed(seed)
    return components.build("net/space_time_unet", **{**SMALL, **overrides}).eval()


def _x(b=2, c=3, t=3, h=8, w=16, seed=1):
    return torch.randn(b, c, t, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("temporal", ["none", "conv", "attention", "both"])
def test_unet_odd_frames_non_square_and_single_frame(temporal):
    model = _unet(temporal=temporal)
    with torch.no_grad():
        for frames in (1, 3):
            out = model(_x(t=frames), torch.rand(2))
            assert out.shape == (2, 3, frames, 8, 16)
            assert torch.isfinite(out).all()


def test_unet_temporal_parts_start_as_identity_so_frames_are_independent_at_init():
    """Temporal conv res-blocks and temporal transformers start at zero output: the U-Net is its image model."""
    model = _unet(temporal="both")
    x, t = _x(t=3), torch.tensor([0.3, 0.7])
    with torch.no_grad():
        whole = model(x, t)
        per_frame = torch.cat([model(x[:, :, i: i + 1], t) for i in range(3)], dim=2)
    torch.testing.assert_close(per_frame, whole, atol=1e-5, rtol=1e-5)


def test_unet_takes_every_conditioning_keyword_it_is_built_for():
    model = _unet(concat_channels=2, context_dim=6, added_cond_dim=5, num_classes=4, temporal_cross_attention=True)
    x = _x(t=2)
    cond = dict(concat=torch.randn(2, 2, 2, 8, 16), context=torch.randn(2, 3, 6), added_cond=torch.randn(2, 5),
                class_labels=torch.tensor([0, 3]))
    with torch.no_grad():
        out = model(x, 0.5, **cond)
    assert out.shape == x.shape and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="context"):
        model(x, 0.5, **{k: v for k, v in cond.items() if k != "context"})
    with pytest.raises(ValueError, match="concat must have shape"):
        model(x, 0.5, **{**cond, "concat": torch.randn(2, 3, 2, 8, 16)})
    with pytest.raises(TypeError, match="unknown conditioning keyword 'encoder_hidden_states'"):
        model(x, 0.5, **cond, encoder_hidden_states=torch.randn(2, 3, 6))


def test_unet_rejects_conditioning_it_was_not_built_for():
    model = _unet()
    with pytest.raises(ValueError, match="not built to take 'added_cond'"):
        model(_x(), 0.5, added_cond=torch.randn(2, 4))
    with pytest.raises(ValueError, match="not built to take 'frame_mask'"):
        model(_x(), 0.5, frame_mask=torch.ones(2, 3, dtype=torch.bool))


def test_unet_conditioning_changes_the_output():
    model = _unet(added_cond_dim=5)
    x, c = _x(t=2), torch.randn(2, 5)
    with torch.no_grad():
        assert not torch.allclose(model(x, 0.5, added_cond=c), model(x, 0.5, added_cond=-c))


@pytest.mark.parametrize("overrides", [dict(temporal="both", dropout=0.0), dict(temporal="attention")])
def test_gradient_checkpointing_gives_the_same_loss_and_gradients(overrides):
    x, t = _x(t=3), torch.tensor([0.2, 0.9])
    results = []
    for checkpointing in (False, True):
        model = _unet(**overrides, gradient_checkpointing=checkpointing).train()
        loss = model(x, t).square().mean()
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (loss_a, grads_a), (loss_b, grads_b) = results
    torch.testing.assert_close(loss_b, loss_a, atol=1e-5, rtol=0)
    for name, g in grads_a.items():
        torch.testing.assert_close(grads_b[name], g, atol=5e-5, rtol=0, msg=f"gradient of {name}")


def test_set_gradient_checkpointing_toggles():
    model = _unet()
    assert model.set_gradient_checkpointing(True).gradient_checkpointing
    assert not model.set_gradient_checkpointing(False).gradient_checkpointing


def test_temporal_down_levels_halve_and_restore_time():
    model = _unet(channel_mults=(1, 2, 2), attention_levels=(2,), temporal_down_levels=(0, 1))
    with torch.no_grad():
        out = model(_x(t=4, h=8, w=8), 0.5)
    assert out.shape == (2, 3, 4, 8, 8)
    with pytest.raises(ValueError, match="frames=6 must be divisible"):
        model(_x(t=6, h=8, w=8), 0.5)
    with pytest.raises(ValueError, match="cannot include the last level"):
        _unet(temporal_down_levels=(1,))


def test_heads_come_from_head_dim():
    model = _unet(head_dim=4)
    attention = model.down[1][0].spatial.layers[0].attn1
    assert (attention.num_heads, attention.head_dim) == (4, 4)
    with pytest.raises(ValueError, match="divisible by head_dim=12"):
        _unet(head_dim=12)


def test_paper_size_builds_on_meta_without_memory():
    model = zoo.create_model("vdm", "ucf101", device="meta")
    params = list(model.parameters())
    assert params and all(p.is_meta for p in params)
    assert sum(p.numel() for p in params) > 1_000_000_000
