"""Text2Video-Zero: the motion-dynamics warp (E13), the cross-frame attention switch (E14) and background
smoothing (E15)."""

from __future__ import annotations

import pytest
import torch

import components
from components.attention import SpatialAttention
from components.diffusion import (
    background_smoothing,
    motion_dynamics_latents,
    swap_spatial_attention,
    translate_frames,
    use_cross_frame_attention,
)
from components.diffusion._video import AR1GaussianDenoiser
from components.diffusion.schedules import karras_sigmas


def frame(h=8, w=8, seed=0):
    return torch.randn(2, 3, 1, h, w, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- motion dynamics
def test_zero_motion_reproduces_frame_one_in_every_frame():
    f = frame()
    out = translate_frames(f, 6, motion=(0.0, 0.0))
    assert out.shape == (2, 3, 6, 8, 8)
    assert torch.equal(out, f.expand(-1, -1, 6, -1, -1))


def test_frame_k_is_sampled_k_steps_along_the_motion():
    """δ = 64 px at 512² is one latent pixel at 8²: frame k at (y, x) is frame 1 at (y + k, x + 2k) inside."""
    f = frame()
    out = translate_frames(f, 3, motion=(128.0, 64.0), reference_size=512)
    for k in range(3):
        torch.testing.assert_close(out[:, :, k, : 8 - k, : 8 - 2 * k], f[:, :, 0, k:, 2 * k:])


def test_motion_scales_with_latent_size():
    """The same (12, 12) px at 512² moves a 64² latent 1.5 px per frame and a 128² latent 3 px: frame 2 is 3 and 6 px."""
    for size, shift in ((64, 3), (128, 6)):
        f = frame(size, size)
        out = translate_frames(f, 3, motion=(12.0, 12.0))
        torch.testing.assert_close(out[:, :, 2, : size - shift, : size - shift], f[:, :, 0, shift:, shift:])


def test_motion_dynamics_latents_follow_the_recipe():
    den, sigmas = AR1GaussianDenoiser(0.9), karras_sigmas(10, 0.01, 20.0)
    x = frame(4, 4) * sigmas[0]
    latents = motion_dynamics_latents(den, x, sigmas, frames=4, t_index=2, t_prime_index=5, motion=(0.0, 0.0),
                                      generator=torch.Generator().manual_seed(1))
    ddim = components.build("sampler/ddim")
    x_t = ddim(den, x, sigmas[:3])
    x_tp = ddim(den, x_t, sigmas[2:6])
    noise = torch.randn(2, 3, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    expected = x_tp + (sigmas[2] ** 2 - sigmas[5] ** 2).sqrt() * noise
    torch.testing.assert_close(latents[:, :, :1], x_t)
    torch.testing.assert_close(latents[:, :, 1:], expected[:, :, 1:])


def test_motion_dynamics_indices_are_checked():
    with pytest.raises(ValueError, match="t_index < t_prime_index"):
        motion_dynamics_latents(AR1GaussianDenoiser(), frame(), karras_sigmas(10, 0.01, 20.0), frames=3, t_index=5,
                                t_prime_index=2)
    with pytest.raises(ValueError, match="one frame"):
        motion_dynamics_latents(AR1GaussianDenoiser(), frame().expand(-1, -1, 2, -1, -1),
                                karras_sigmas(10, 0.01, 20.0), frames=3)


# ---------------------------------------------------------------- cross-frame attention
def test_swap_keeps_the_parameters_tensor_for_tensor():
    torch.manual_seed(0)
    block = components.build("block/spatial_transformer", dim=16, num_heads=2, context_dim=8, num_groups=4, depth=2)
    before = dict(block.named_parameters())
    use_cross_frame_attention(block)
    after = dict(block.named_parameters())
    assert list(before) == list(after)
    assert all(before[n] is after[n] for n in before)
    kinds = [type(layer.attn1).__name__ for layer in block.layers]
    assert kinds == ["CrossFrameAttention", "CrossFrameAttention"]
    assert not any(type(m) is SpatialAttention for m in block.modules())


def test_cross_frame_output_changes_only_through_frame_zero():
    torch.manual_seed(0)
    attn = components.build("attention/spatial", dim=16, num_heads=2).eval()
    x = torch.randn(1, 16, 4, 3, 3)
    with torch.no_grad():
        spatial = attn(x)
        swapped = swap_spatial_attention(attn, "cross_frame")
        out = swapped(x)
        torch.testing.assert_close(out[:, :, 0], spatial[:, :, 0])  # frame 0 attends to itself
        # frame k: its own queries against frame 0's keys/values, with the same projections
        queries = x[:, :, 2].flatten(2).transpose(1, 2)
        keys = x[:, :, 0].flatten(2).transpose(1, 2)
        manual = attn.attend_tokens(queries, keys).transpose(1, 2).reshape(1, 16, 3, 3)
        torch.testing.assert_close(out[:, :, 2], manual)
        other = x.clone()
        other[:, :, 1] += 1.0  # another frame than 0 and 2
        torch.testing.assert_close(swapped(other)[:, :, 2], out[:, :, 2])
        moved = x.clone()
        moved[:, :, 0] += 1.0
        assert not torch.allclose(swapped(moved)[:, :, 2], out[:, :, 2])
    old, new = list(attn.parameters()), list(swapped.parameters())
    assert len(old) == len(new) > 0 and all(p is q for p, q in zip(old, new))


def test_swap_in_a_whole_unet():
    torch.manual_seed(0)
    net = components.build("net/space_time_unet", **components.get_component("net/space_time_unet").tiny)
    count = sum(type(m) is SpatialAttention for m in net.modules())
    names = [n for n, _ in net.named_parameters()]
    use_cross_frame_attention(net)
    assert count > 0 and sum(type(m).__name__ == "CrossFrameAttention" for m in net.modules()) == count
    assert [n for n, _ in net.named_parameters()] == names


def test_swap_refuses_a_module_without_spatial_attention():
    with pytest.raises(ValueError, match="no attention/spatial"):
        use_cross_frame_attention(torch.nn.Linear(2, 2))


# ---------------------------------------------------------------- background smoothing
def test_background_smoothing_pulls_the_background_to_frame_one():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(1, 2, 4, 4, 4, generator=g)
    fg = torch.zeros(1, 1, 4, 4, 4)
    fg[..., :2, :2] = 1.0  # an object in the top-left corner of every frame
    out = background_smoothing(x, fg, alpha=0.6, motion=(0.0, 0.0))
    background = fg[0, 0] == 0
    expected = 0.6 * x[:, :, :1] + 0.4 * x
    torch.testing.assert_close(out[..., background[0]], expected[..., background[0]])
    assert torch.equal(out[..., ~background[0]], x[..., ~background[0]])  # foreground untouched


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_background_smoothing_identities(alpha):
    x = torch.randn(1, 2, 3, 4, 4, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(background_smoothing(x, torch.ones(1, 1, 3, 4, 4), alpha=alpha), x)
    if alpha == 0.0:
        torch.testing.assert_close(background_smoothing(x, torch.zeros(1, 1, 3, 4, 4), alpha=alpha), x)


def test_background_smoothing_checks_the_masks():
    with pytest.raises(ValueError, match="foreground must be masks"):
        background_smoothing(torch.zeros(1, 2, 3, 4, 4), torch.zeros(1, 2, 3, 4, 4))
