"""Temporal attention's paper claims: permutation equivariance without positions, causality, relative positions
(VDM), sinusoidal positions (SVD), the joint image–video mask (VDM) and chunking of the folded batch."""

from __future__ import annotations

import pytest
import torch

import components
from components.attention.backends import MathBackend
from components.embed.relative_bias import relative_position_bucket


def temporal(seed=0, **options):
    torch.manual_seed(seed)
    return components.build("attention/temporal", dim=8, num_heads=2, **options).eval()


def clip(frames=5, seed=1, batch=2, size=3):
    return torch.randn(batch, 8, frames, size, size, generator=torch.Generator().manual_seed(seed))


def test_without_position_is_permutation_equivariant_over_frames():
    module, x = temporal(), clip()
    perm = torch.tensor([4, 2, 0, 3, 1])
    with torch.no_grad():
        torch.testing.assert_close(module(x[:, :, perm]), module(x)[:, :, perm], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("position", ["relative", "sinusoidal"])
def test_with_position_is_not_permutation_equivariant(position):
    module, x = temporal(position=position), clip()
    if position == "relative":  # the trunc-normal(0.02) init is deliberately near zero; make the bias matter
        torch.nn.init.normal_(module.relative_bias.table.weight, std=1.0)
    perm = torch.tensor([4, 2, 0, 3, 1])
    with torch.no_grad():
        assert not torch.allclose(module(x[:, :, perm]), module(x)[:, :, perm], atol=1e-4)


@pytest.mark.parametrize("position", ["none", "relative", "sinusoidal"])
def test_causal_frame_is_unaffected_by_later_frames(position):
    module, x = temporal(position=position, causal=True), clip().requires_grad_()
    out = module(x)
    for i in range(x.shape[2]):
        (grad,) = torch.autograd.grad(out[:, :, i].sum(), x, retain_graph=True)
        assert (grad[:, :, i + 1:] == 0).all(), f"frame {i} depends on later frames"
        assert grad[:, :, : i + 1].abs().amax(dim=(0, 1, 3, 4)).min() > 0, f"frame {i} ignores an earlier frame"


def test_relative_bias_depends_only_on_the_frame_offset():
    """bias[h, i, j] is a function of j − i (a Toeplitz matrix per head) through the T5 buckets."""
    module = temporal(position="relative")
    bias = module.relative_bias(9)
    for i in range(9):
        for j in range(9):
            expected = module.relative_bias.table.weight[relative_position_bucket(torch.tensor(j - i))]
            torch.testing.assert_close(bias[:, i, j], expected, atol=0, rtol=0)
    # offsets 0..7 each have their own bucket, before and after; far offsets share the last bucket of their side
    offsets = torch.arange(-40, 41)
    buckets = relative_position_bucket(offsets)
    assert len(set(buckets[(offsets.abs() < 8)].tolist())) == 15
    assert set(buckets[offsets <= -32].tolist()) == {15} and set(buckets[offsets >= 32].tolist()) == {31}


def test_relative_bias_reversing_time_equals_mirroring_the_offsets():
    """Only offsets matter: reversing the clip equals the module whose table maps offset d to the bias of −d.

    An absolute position embedding would fail this (reversal changes every frame's index, not just signs).
    """
    module = temporal(position="relative")
    torch.nn.init.normal_(module.relative_bias.table.weight, std=1.0)
    mirrored = temporal(position="relative")
    mirrored.load_state_dict(module.state_dict())
    offsets = torch.arange(-40, 41)
    with torch.no_grad():
        table = module.relative_bias.table.weight
        mirrored.relative_bias.table.weight[relative_position_bucket(offsets)] = table[
            relative_position_bucket(-offsets)]
        x = clip()
        torch.testing.assert_close(mirrored(x.flip(2)), module(x).flip(2), atol=1e-5, rtol=1e-5)
        assert not torch.allclose(module(x.flip(2)), module(x).flip(2), atol=1e-3)


def test_sinusoidal_position_gives_every_parameter_a_gradient():
    module, x = temporal(position="sinusoidal"), clip()
    (module(x) * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


@pytest.mark.parametrize("position", ["none", "relative", "sinusoidal"])
@pytest.mark.parametrize("causal", [False, True])
def test_image_frames_attend_only_to_themselves(position, causal):
    """VDM joint training: appended images equal attending each alone; the video part equals the video alone."""
    module = temporal(position=position, causal=causal)
    video, images = clip(frames=4, seed=1), clip(frames=3, seed=2)
    with torch.no_grad():
        out = module(torch.cat([video, images], dim=2), num_image_frames=3)
        torch.testing.assert_close(out[:, :, :4], module(video), atol=1e-5, rtol=1e-5)
        for k in range(3):
            alone = module(images[:, :, k: k + 1])
            torch.testing.assert_close(out[:, :, 4 + k: 5 + k], alone, atol=1e-5, rtol=1e-5)


def test_all_image_frames_is_frame_independent():
    module, x = temporal(position="relative"), clip()
    with torch.no_grad():
        out = module(x, num_image_frames=x.shape[2])
        per_frame = torch.cat([module(x[:, :, i: i + 1]) for i in range(x.shape[2])], dim=2)
    torch.testing.assert_close(out, per_frame, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("options", [{}, {"position": "relative", "causal": True}])
def test_folded_batch_above_the_launch_limit_is_chunked_exactly(options, monkeypatch):
    """B·H·W·heads = 2·16·2 = 64 rows; a limit of 6 rows forces 11 chunks (the last one partial)."""
    module, x = temporal(backend="math", **options), clip(frames=5, size=4)
    with torch.no_grad():
        whole = module(x, num_image_frames=1)
        calls = []
        original = MathBackend.run
        monkeypatch.setattr(MathBackend, "max_batch_rows", 6)
        monkeypatch.setattr(MathBackend, "run", lambda self, q, *a: calls.append(q.shape[0]) or original(self, q, *a))
        chunked = module(x, num_image_frames=1)
    assert len(calls) == 11 and max(calls) * 2 <= 6
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=1e-6)
