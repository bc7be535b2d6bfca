"""SpaceTimeDiT (net/space_time_dit): DiT-XL/2's exact parameter count, block patterns, positions, learned Σ."""

from __future__ import annotations

import pytest
import torch

import components
import zoo
from components.embed import SinCosPosEmbed2d, SinCosPosEmbed3d


SMALL = dict(in_channels=4, input_size=(2, 8, 8), patch_size=(1, 2, 2), hidden_dim=32, depth=2, num_heads=2,
             num_classes=10, frequency_dim=32)


def _dit(seed=0, perturb=True, **overrides):
    """A small DiT; ``perturb`` replaces the zero-initialised gates/heads so the output is not trivially 0."""
    torch.manual_seed(seed)
    model = components.build("net/space_time_dit", **{**SMALL, **overrides}).eval()
    if perturb:
        with torch.no_grad():
            for p in model.parameters():
                if p.requires_grad:
                    p.add_(0.05 * torch.randn_like(p))
    return model


def _x(t=2, h=8, w=8, b=2):
    return torch.randn(b, 4, t, h, w, generator=torch.Generator().manual_seed(1))


def test_dit_xl_2_has_exactly_the_official_parameter_count():
    """docs/papers.md §15: official DiT-XL/2 parameters() = 675,129,632 (frozen pos_embed incl.), trainable 674,834,720."""
    assert zoo.count_parameters("dit_xl_2", "paper") == 675_129_632
    assert zoo.count_parameters("dit_xl_2", "paper", trainable_only=True) == 674_834_720
    model = zoo.create_model("dit_xl_2", "paper", device="meta")
    assert all(p.is_meta for p in model.parameters())
    assert (model.hidden_dim, len(model.blocks), model.out_channels) == (1152, 28, 8)


@pytest.mark.parametrize("preset", ["s_2", "b_2", "l_2", "xl_4", "xl_8"])
def test_dit_family_matches_official_counts(preset):
    published = zoo.get_recipe("dit_xl_2").presets[preset].published
    assert zoo.count_parameters("dit_xl_2", preset) == published.params


@pytest.mark.parametrize("pattern", ["full", "spatial", "temporal", "alternating", ["spacetime", "temporal"]])
@pytest.mark.parametrize("frames", [1, 3])
def test_block_patterns_work_at_any_frame_count(pattern, frames):
    model = _dit(block_pattern=pattern)
    with torch.no_grad():
        out = model(_x(t=frames, w=12), torch.tensor([10, 900]), class_labels=torch.tensor([1, 2]))
    assert out.shape == (2, 8, frames, 8, 12) and torch.isfinite(out).all()


def test_full_attention_equals_spatial_attention_for_an_image():
    full = _dit(block_pattern="full")
    spatial = components.build("net/space_time_dit", **{**SMALL, "block_pattern": "spatial"}).eval()
    spatial.load_state_dict(full.state_dict())
    x, t, y = _x(t=1), torch.tensor([5, 500]), torch.tensor([0, 9])
    with torch.no_grad():
        torch.testing.assert_close(spatial(x, t, class_labels=y), full(x, t, class_labels=y))


def test_learn_sigma_doubles_output_channels():
    assert _dit(perturb=False).out_channels == 8
    model = _dit(learn_sigma=False)
    with torch.no_grad():
        assert model(_x(), torch.tensor([1, 2]), class_labels=torch.tensor([1, 2])).shape == (2, 4, 2, 8, 8)


def test_dit_predicts_zero_at_init():
    """adaLN-Zero blocks and the zeroed final layer: the network's output is exactly 0 before training."""
    model = _dit(perturb=False)
    with torch.no_grad():
        assert model(_x(), torch.tensor([3, 4]), class_labels=torch.tensor([1, 2])).abs().max() == 0


@pytest.mark.parametrize("kind", ["sincos_3d", "sincos_2d", "sincos_2d_1d"])
def test_stored_position_table_equals_the_on_the_fly_table(kind):
    model = _dit(perturb=False, pos_embed=kind)
    stored = model.pos_embed
    assert not stored.requires_grad
    model.input_grid = (0, 0, 0)  # force the on-the-fly path
    torch.testing.assert_close(model.positions((2, 4, 4), stored), stored)


def test_position_kinds_are_the_embed_components_tables():
    torch.testing.assert_close(_dit(perturb=False, pos_embed="sincos_3d").pos_embed[0],
                               SinCosPosEmbed3d(32).table((2, 4, 4)))
    image = _dit(perturb=False, pos_embed="sincos_2d", input_size=(1, 8, 8))
    torch.testing.assert_close(image.pos_embed[0], SinCosPosEmbed2d(32).table((4, 4)))


def test_null_class_is_used_without_labels_when_class_dropout_is_on():
    model = _dit()
    null = torch.full((2,), 10)
    with torch.no_grad():
        torch.testing.assert_close(model(_x(), torch.tensor([3, 4])), model(_x(), torch.tensor([3, 4]),
                                                                            class_labels=null))
    with pytest.raises(ValueError, match="class_labels"):
        _dit(class_dropout_prob=0.0)(_x(), torch.tensor([3, 4]))


def test_dit_gradient_checkpointing_gives_the_same_loss_and_gradients():
    x, t, y = _x(t=3), torch.tensor([100, 700]), torch.tensor([1, 2])
    results = []
    for checkpointing in (False, True):
        model = _dit(class_dropout_prob=0.0, gradient_checkpointing=checkpointing).train()
        loss = model(x, t, class_labels=y).square().mean()
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}))
    (loss_a, grads_a), (loss_b, grads_b) = results
    torch.testing.assert_close(loss_b, loss_a, atol=1e-5, rtol=0)
    for name, g in grads_a.items():
        torch.testing.assert_close(grads_b[name], g, atol=5e-5, rtol=0, msg=f"gradient of {name}")


def test_dit_rejects_frames_not_divisible_by_the_temporal_patch():
    model = _dit(perturb=False, patch_size=(2, 2, 2))
    with pytest.raises(ValueError, match="frames=3 must be divisible by patch_size"):
        model(_x(t=3), torch.tensor([1, 2]), class_labels=torch.tensor([1, 2]))
