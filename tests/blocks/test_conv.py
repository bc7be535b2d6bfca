"""Paper claims of the conv blocks, beyond the registry conformance suite (tests/test_conformance.py)."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange
from torch import nn

import components
from components.conv import (
    CausalConv3d,
    FactorizedConv2Plus1d,
    FullConv3d,
    PseudoConv3d,
    SpaceOnlyConv3d,
    TemporalDownsample,
    TemporalResBlock,
    TemporalUpsample,
    r2plus1d_mid_channels,
)


def _video(c=8, t=5, h=8, w=8, b=2, seed=0):
    return torch.randn(b, c, t, h, w, generator=torch.Generator().manual_seed(seed))


def _per_frame(conv2d: nn.Module, x: torch.Tensor) -> torch.Tensor:
    y = conv2d(rearrange(x, "b c t h w -> (b t) c h w"))
    return rearrange(y, "(b t) c h w -> b c t h w", b=x.shape[0])


# --- space-only 3-D conv (VDM): an image conv applied per frame --------------------------------------------------


@pytest.mark.parametrize("frames", [1, 2, 5])
def test_space_only_3d_from_conv2d_equals_conv2d_per_frame_exactly(frames):
    torch.manual_seed(0)
    conv2d = nn.Conv2d(8, 16, 3, padding=1)
    conv3d = SpaceOnlyConv3d.from_conv2d(conv2d)
    x = _video(t=frames)
    with torch.no_grad():
        assert torch.equal(conv3d(x), _per_frame(conv2d, x))


def test_space_only_3d_loads_a_conv2d_state_dict():
    torch.manual_seed(0)
    conv2d = nn.Conv2d(8, 16, 5, padding=2)
    conv3d = components.build("conv/space_only_3d", in_channels=8, out_channels=16, kernel_size=5)
    conv3d.load_conv2d_state_dict(conv2d.state_dict())
    assert conv3d.weight.shape == (16, 8, 1, 5, 5)
    x = _video()
    with torch.no_grad():
        assert torch.equal(conv3d(x), _per_frame(conv2d, x))


def test_space_only_3d_from_conv2d_rejects_non_same_padding():
    with pytest.raises(ValueError, match="padding"):
        SpaceOnlyConv3d.from_conv2d(nn.Conv2d(8, 8, 3, padding=0))


@pytest.mark.parametrize("key", ["conv/space_only_3d", "conv/spatial_down", "conv/spatial_up"])
def test_spatial_only_convs_are_frame_independent(key):
    torch.manual_seed(0)
    conv = components.build(key, in_channels=8, out_channels=16)
    x = _video(t=5)
    with torch.no_grad():
        whole = conv(x)
        frames = torch.cat([conv(x[:, :, i : i + 1]) for i in range(5)], dim=2)
    torch.testing.assert_close(frames, whole, atol=1e-6, rtol=1e-5)


def test_spatial_down_and_up_change_only_height_and_width():
    down = components.build("conv/spatial_down", in_channels=8)
    up = components.build("conv/spatial_up", in_channels=8)
    x = _video(t=3, h=8, w=6)
    assert down(x).shape == (2, 8, 3, 4, 3)
    assert up(x).shape == (2, 8, 3, 16, 12)
    pool = components.build("conv/spatial_down", in_channels=8, use_conv=False)
    torch.testing.assert_close(pool(x)[:, :, :, 0, 0], x[:, :, :, :2, :2].mean(dim=(-1, -2)))


# --- pseudo-3-D conv (Make-A-Video): the image conv at init ------------------------------------------------------


@pytest.mark.parametrize("frames", [1, 2, 5])
def test_pseudo3d_equals_its_conv2d_per_frame_at_init(frames):
    torch.manual_seed(0)
    conv = PseudoConv3d(8, 16)
    x = _video(t=frames)
    with torch.no_grad():
        assert torch.equal(conv(x), _per_frame(conv.spatial, x))
    assert torch.equal(conv.temporal.weight[:, :, 1], torch.eye(16))
    assert conv.temporal.weight[:, :, [0, 2]].abs().max() == 0


def test_pseudo3d_mixes_frames_once_the_temporal_conv_is_trained():
    torch.manual_seed(0)
    conv = PseudoConv3d(8, 8)
    with torch.no_grad():
        conv.temporal.weight.add_(0.1)
        x = _video(t=5)
        y = conv(x)
        x2 = x.clone()
        x2[:, :, 4] += 1.0
        assert not torch.equal(conv(x2)[:, :, 3], y[:, :, 3])


# --- temporal res-block (Video LDM / SVD / ModelScope): identity at init -----------------------------------------


@pytest.mark.parametrize("per_frame_temb", [False, True])
def test_temporal_resblock_is_identity_at_init(per_frame_temb):
    torch.manual_seed(0)
    block = TemporalResBlock(16, temb_dim=8, num_groups=4)
    x = _video(c=16, t=5)
    temb = torch.randn(2, 5, 8) if per_frame_temb else torch.randn(2, 8)
    with torch.no_grad():
        assert torch.equal(block(x, temb), x)


def test_temporal_resblock_with_new_width_equals_its_skip_projection_at_init():
    torch.manual_seed(0)
    block = TemporalResBlock(8, 16, num_groups=4, num_layers=4)
    x = _video(c=8, t=3)
    with torch.no_grad():
        assert torch.equal(block(x), block.skip(x))


def test_temporal_resblock_per_clip_temb_equals_the_same_temb_on_every_frame():
    torch.manual_seed(0)
    block = TemporalResBlock(16, temb_dim=8, num_groups=4)
    nn.init.normal_(block.layers[-1][-1].weight, std=0.1)  # leave the identity so the embedding matters
    x, temb = _video(c=16, t=5), torch.randn(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(block(x, temb), block(x, temb[:, None].expand(2, 5, 8)))


def test_temporal_resblock_convs_are_temporal_only():
    block = TemporalResBlock(16, num_groups=4, kernel_size=3)
    for layer in block.layers:
        assert layer[-1].kernel_size == (3, 1, 1)


def test_temporal_resblock_requires_channels_divisible_by_groups():
    with pytest.raises(ValueError, match=r"in_channels=12 must be divisible by num_groups=8"):
        TemporalResBlock(12, num_groups=8)


def test_temporal_resblock_requires_temb_when_built_with_one():
    block = TemporalResBlock(16, temb_dim=8, num_groups=4)
    with pytest.raises(ValueError, match="temb"):
        block(_video(c=16))


# --- (2+1)-D factorisation (R(2+1)D) -----------------------------------------------------------------------------


def _weights(module: nn.Module) -> int:
    return sum(p.numel() for n, p in module.named_parameters() if n.endswith("weight"))


def test_r2plus1d_mid_channel_rule_reproduces_tran_et_al():
    # 64 -> 64 with a 3x3x3 kernel: M = floor(27·64·64 / (9·64 + 3·64)) = 144 (exactly the 3-D conv's weights)
    assert r2plus1d_mid_channels(64, 64, 3) == 144
    assert r2plus1d_mid_channels(64, 128, (3, 3, 3)) == (27 * 64 * 128) // (9 * 64 + 3 * 128)


@pytest.mark.parametrize("c_in,c_out,kernel", [(64, 64, 3), (32, 64, (3, 3, 3)), (16, 48, (5, 3, 3)), (3, 64, 3)])
def test_factorized_2plus1d_matches_full_3d_parameter_count(c_in, c_out, kernel):
    factorized = FactorizedConv2Plus1d(c_in, c_out, kernel, device="meta")
    full = FullConv3d(c_in, c_out, kernel, device="meta")
    assert abs(_weights(factorized) - _weights(full)) / _weights(full) < 0.03
    total = sum(p.numel() for p in factorized.parameters())
    assert abs(total - sum(p.numel() for p in full.parameters())) / total < 0.05


def test_factorized_2plus1d_accepts_explicit_mid_channels():
    conv = FactorizedConv2Plus1d(8, 16, mid_channels=5)
    assert conv.spatial.out_channels == 5 and conv.temporal.in_channels == 5
    assert conv(_video()).shape == (2, 16, 5, 8, 8)


# --- causal temporal conv ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("pad_mode", ["zeros", "replicate"])
def test_causal_conv_output_frame_depends_only_on_past_frames(pad_mode):
    torch.manual_seed(0)
    conv = CausalConv3d(8, 8, (3, 3, 3), pad_mode=pad_mode)
    x = _video(t=6)
    with torch.no_grad():
        y = conv(x)
        for i in range(6):
            changed = x.clone()
            changed[:, :, i] += 1.0
            diff = (conv(changed) - y).abs().amax(dim=(0, 1, 3, 4))
            assert diff[:i].max() == 0 if i else True, f"frame {i} changed earlier outputs"
            assert diff[i] > 0


def test_causal_conv_first_frame_is_encoded_like_a_single_image():
    torch.manual_seed(0)
    conv = CausalConv3d(8, 16, 3, pad_mode="replicate")
    x = _video(t=5)
    with torch.no_grad():
        torch.testing.assert_close(conv(x)[:, :, :1], conv(x[:, :, :1]))
        torch.testing.assert_close(conv(x)[:, :, :3], conv(x[:, :, :3]))


# --- temporal down/up-sampling (Lumiere) ------------------------------------------------------------------------


def test_temporal_down_kernel_is_normalised_interpolation_on_the_channel_diagonal():
    down = TemporalDownsample(8)
    w = down.conv.weight  # (C_out, C_in, 3)
    expected = torch.eye(8)[:, :, None] * torch.tensor([0.25, 0.5, 0.25])
    assert torch.equal(w, expected) and down.conv.bias.abs().max() == 0


def test_temporal_up_kernel_is_linear_interpolation_on_the_channel_diagonal():
    up = TemporalUpsample(8)
    expected = torch.eye(8)[:, :, None] * torch.tensor([0.5, 1.0, 0.5])
    assert torch.equal(up.conv.weight, expected) and up.conv.bias.abs().max() == 0


def test_temporal_down_keeps_a_constant_clip_and_averages_neighbours_at_init():
    down = TemporalDownsample(4)
    with torch.no_grad():
        const = torch.full((1, 4, 6, 2, 2), 3.0)
        torch.testing.assert_close(down(const), torch.full((1, 4, 3, 2, 2), 3.0))
        x = _video(c=4, t=6)
        y = down(x)
    torch.testing.assert_close(y[:, :, 1], 0.25 * x[:, :, 1] + 0.5 * x[:, :, 2] + 0.25 * x[:, :, 3])
    torch.testing.assert_close(y[:, :, 0], 0.75 * x[:, :, 0] + 0.25 * x[:, :, 1])  # replicate padding


@pytest.mark.parametrize("frames", [1, 2, 5])
def test_temporal_up_interpolates_linearly_at_init(frames):
    up = TemporalUpsample(4)
    x = _video(c=4, t=frames)
    with torch.no_grad():
        y = up(x)
    assert y.shape == (2, 4, 2 * frames, 8, 8)
    torch.testing.assert_close(y[:, :, 0::2], x)
    torch.testing.assert_close(y[:, :, 1:-1:2], 0.5 * (x[:, :, :-1] + x[:, :, 1:]))
    torch.testing.assert_close(y[:, :, -1], x[:, :, -1])  # the end is interpolated against itself


@pytest.mark.parametrize("frames", [1, 3, 5])
def test_temporal_down_rejects_frames_not_divisible_by_two(frames):
    with pytest.raises(ValueError, match=rf"frames={frames} must be divisible by the temporal stride=2"):
        TemporalDownsample(8)(_video(t=frames))


# --- errors and placement ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", components.list_components("conv/*"))
def test_conv_rejects_an_image_naming_the_argument(key):
    conv = components.build(key, **components.get_component(key).tiny)
    with pytest.raises(ValueError, match=r"x must be a 5-D video B C T H W, got 4-D"):
        conv(torch.zeros(2, conv.in_channels, 8, 8))


@pytest.mark.parametrize("key", components.list_components("conv/*"))
def test_conv_builds_and_runs_on_the_meta_device(key):
    entry = components.get_component(key)
    conv = components.build(key, **entry.tiny, device="meta")
    assert all(p.is_meta for p in conv.parameters())
    args, kwargs = entry.inputs(entry.tiny, frames=(entry.frames or (2,))[0], batch=2)
    assert conv(*[a.to("meta") for a in args], **{k: v.to("meta") for k, v in kwargs.items()}).is_meta


def test_temporal_conv3d_equals_conv3d_with_the_same_weights():
    from components.conv.temporal_conv import TemporalConv3d

    torch.manual_seed(0)
    ours = TemporalConv3d(6, 5, 3)
    ref = torch.nn.Conv3d(6, 5, (3, 1, 1), padding=(1, 0, 0))
    ref.load_state_dict(ours.state_dict())  # same parameter layout as nn.Conv3d
    x = torch.randn(2, 6, 5, 4, 7)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("batch", [1, 2])
def test_space_only_conv_equals_conv3d_at_every_batch_size(batch):
    """Batch 1 on CPU takes a per-frame conv2d path (oneDNN) instead of Conv3d's slow kernel: same numbers."""
    from components.conv.space_only import SpaceOnlyConv3d

    torch.manual_seed(0)
    ours = SpaceOnlyConv3d(6, 5, 3, stride=2)
    ref = nn.Conv3d(6, 5, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(batch, 6, 3, 9, 8)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)
