"""Paper claims of the composite blocks (components/blocks): identity at init, image-model equivalence, parameter sets.

Shape, gradient, dtype and round-trip checks of every block run in tests/test_conformance.py; these tests pin what the
papers say the blocks do.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import components
from components.blocks import (
    AlphaMerge,
    DiTBlock,
    ResnetBlock,
    SpatialTransformer,
    SpatiotemporalTransformer,
    TemporalTransformer,
    TuneAVideoTransformer,
)


TINY = dict(dim=16, num_heads=2, num_groups=4)


def video(t=5, c=16, b=2, seed=0):
    return torch.randn(b, c, t, 8, 8, generator=torch.Generator().manual_seed(seed))


def context(b=2, width=8, seed=1):
    return torch.randn(b, 4, width, generator=torch.Generator().manual_seed(seed))


def perturb(module: nn.Module, seed: int = 7) -> nn.Module:
    """Give every parameter (zero-initialised ones included) random non-zero values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return module


# --- block/resnet ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale_shift", [True, False])
@pytest.mark.parametrize("frames", [1, 5])
def test_resnet_with_temporal_part_equals_without_at_init(scale_shift, frames):
    torch.manual_seed(0)
    plain = ResnetBlock(8, 16, emb_dim=12, num_groups=4, scale_shift=scale_shift).eval()
    inflated = ResnetBlock(8, 16, emb_dim=12, num_groups=4, scale_shift=scale_shift, temporal=True).eval()
    result = inflated.load_state_dict(plain.state_dict(), strict=False)
    assert not result.unexpected_keys and all(k.startswith("temporal.") for k in result.missing_keys)
    x, emb = video(frames, c=8), torch.randn(2, 12)
    with torch.no_grad():
        torch.testing.assert_close(inflated(x, emb), plain(x, emb), atol=0, rtol=0)


def test_resnet_without_temporal_part_is_frame_independent_with_per_frame_embedding():
    block = ResnetBlock(8, 8, emb_dim=12, num_groups=4).eval()
    x, emb = video(5, c=8), torch.randn(2, 5, 12)
    with torch.no_grad():
        whole = block(x, emb)
        frames = [block(x[:, :, i : i + 1], emb[:, i : i + 1]) for i in range(5)]
    torch.testing.assert_close(torch.cat(frames, dim=2), whole, atol=1e-6, rtol=1e-5)


def test_resnet_embedding_conditions_the_output():
    block = ResnetBlock(8, 8, emb_dim=12, num_groups=4).eval()
    x = video(2, c=8)
    with torch.no_grad():
        assert not torch.allclose(block(x, torch.zeros(2, 12)), block(x, torch.ones(2, 12)))


def test_resnet_skip_is_identity_when_channels_match_and_a_projection_otherwise():
    assert isinstance(ResnetBlock(8, 8, num_groups=4).skip, nn.Identity)
    assert tuple(ResnetBlock(8, 16, num_groups=4).skip.weight.shape) == (16, 8, 1, 1, 1)


@pytest.mark.parametrize(
    ("kwargs", "inputs", "match"),
    [
        (dict(in_channels=10, num_groups=4), None, "in_channels=10 must be divisible by num_groups=4"),
        (dict(in_channels=8, out_channels=12, num_groups=8), None, "out_channels=12 must be divisible by num_groups"),
        (dict(in_channels=8, emb_dim=12, num_groups=4), (video(2, c=8), torch.zeros(2, 13)), "emb must have shape"),
        (dict(in_channels=8, emb_dim=12, num_groups=4), (video(2, c=8), None), "emb must have shape"),
        (dict(in_channels=8, num_groups=4), (video(2, c=8), torch.zeros(2, 12)), "emb must be None"),
        (dict(in_channels=8, num_groups=4), (torch.zeros(2, 8, 8, 8),), "x must be a 5-D video"),
    ],
)
def test_resnet_bad_input_names_the_argument(kwargs, inputs, match):
    with pytest.raises(ValueError, match=match):
        ResnetBlock(**kwargs)(*inputs)


# --- spatial / temporal / spatiotemporal transformers --------------------------------------------------------------

def test_spatial_transformer_is_frame_independent_with_per_frame_context():
    block = SpatialTransformer(**TINY, context_dim=8).eval()
    x = video(5)
    ctx = torch.randn(2, 5, 4, 8)
    with torch.no_grad():
        whole = block(x, ctx)
        frames = [block(x[:, :, i : i + 1], ctx[:, i : i + 1]) for i in range(5)]
    torch.testing.assert_close(torch.cat(frames, dim=2), whole, atol=1e-6, rtol=1e-5)


def test_spatial_transformer_shared_context_equals_the_same_context_per_frame():
    block = SpatialTransformer(**TINY, context_dim=8).eval()
    x, ctx = video(3), context()
    with torch.no_grad():
        per_frame = block(x, ctx[:, None].expand(-1, 3, -1, -1))
        torch.testing.assert_close(block(x, ctx), per_frame, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("position", ["none", "relative", "sinusoidal"])
@pytest.mark.parametrize("frames", [1, 5])
def test_temporal_transformer_is_identity_at_init(position, frames):
    block = TemporalTransformer(**TINY, context_dim=8, position=position, causal=position == "relative").eval()
    x = video(frames)
    with torch.no_grad():
        assert torch.equal(block(x, context()), x)


def test_temporal_transformer_keeps_appended_image_frames_independent():
    block = perturb(TemporalTransformer(**TINY)).eval()
    x = video(5)
    with torch.no_grad():
        out = block(x, num_image_frames=2)
        for i in (3, 4):
            torch.testing.assert_close(out[:, :, i : i + 1], block(x[:, :, i : i + 1]), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out[:, :, :3], block(x[:, :, :3]), atol=1e-5, rtol=1e-5)


def test_temporal_transformer_causal_ignores_later_frames():
    block = perturb(TemporalTransformer(**TINY, causal=True)).eval()
    x = video(5)
    with torch.no_grad():
        torch.testing.assert_close(block(x)[:, :, :3], block(x[:, :, :3]), atol=1e-5, rtol=1e-5)


def _spatial_and_spatiotemporal(**kwargs):
    torch.manual_seed(0)
    spatial = perturb(SpatialTransformer(**TINY, context_dim=8)).eval()  # a "pretrained" image block
    combined = SpatiotemporalTransformer(**TINY, context_dim=8, **kwargs).eval()
    combined.spatial.load_state_dict(spatial.state_dict(), strict=True)
    return spatial, combined


@pytest.mark.parametrize("merge_factor", [None, 0.5])
@pytest.mark.parametrize("frames", [1, 5])
def test_spatiotemporal_transformer_equals_spatial_transformer_at_init(merge_factor, frames):
    spatial, combined = _spatial_and_spatiotemporal(merge_factor=merge_factor, temporal_cross_attention=True,
                                                    position="relative")
    x, ctx = video(frames), context()
    with torch.no_grad():
        torch.testing.assert_close(combined(x, ctx), spatial(x, ctx), atol=1e-6, rtol=1e-6)


def test_spatiotemporal_state_dict_is_the_spatial_block_under_spatial_prefix():
    spatial, combined = _spatial_and_spatiotemporal()
    prefixed = {f"spatial.{k}": v for k, v in spatial.state_dict().items()}
    missing, unexpected = combined.load_state_dict(prefixed, strict=False)
    assert not unexpected and missing and all(k.startswith("temporal.") for k in missing)


# --- block/alpha_merge --------------------------------------------------------------------------------------------

def test_alpha_merge_with_alpha_one_is_exactly_the_image_model():
    """Video LDM / SVD: α = 1 recovers the spatial layer's output even with a trained (non-zero) temporal layer."""
    spatial, combined = _spatial_and_spatiotemporal(merge_factor=0.5)
    perturb(combined.temporal)
    combined.merge.merge_factor.data.fill_(0.5)
    x, ctx = video(4), context()
    with torch.no_grad():
        image_frames = combined(x, ctx, num_image_frames=4)
        torch.testing.assert_close(image_frames, spatial(x, ctx), atol=1e-6, rtol=1e-6)
        assert not torch.allclose(combined(x, ctx), spatial(x, ctx), atol=1e-3)


def test_alpha_multiplies_the_spatial_side():
    merge = AlphaMerge(merge_factor=0.5, merge_strategy="learned")
    a, b = torch.ones(1, 2, 3, 4, 4), torch.zeros(1, 2, 3, 4, 4)
    alpha = torch.sigmoid(torch.tensor(0.5))
    torch.testing.assert_close(merge(a, b), torch.full_like(a, alpha.item()))
    assert torch.equal(AlphaMerge(1.0, "fixed")(a, b), a)
    assert torch.equal(AlphaMerge(0.0, "fixed")(a, b), b)


def test_alpha_merge_image_frames_take_the_spatial_path():
    merge = AlphaMerge(0.5, "learned_with_images")
    xs, xt = video(4, seed=1), video(4, seed=2)
    indicator = torch.tensor([[False, False, True, True], [False, False, True, True]])
    with torch.no_grad():
        out = merge(xs, xt, image_only_indicator=indicator)
        torch.testing.assert_close(merge(xs, xt, num_image_frames=2), out, atol=0, rtol=0)
    assert torch.equal(out[:, :, 2:], xs[:, :, 2:])
    alpha = torch.sigmoid(torch.tensor(0.5))
    torch.testing.assert_close(out[:, :, :2], alpha * xs[:, :, :2] + (1 - alpha) * xt[:, :, :2])


def test_alpha_merge_rejects_an_indicator_without_the_images_strategy():
    with pytest.raises(ValueError, match="image_only_indicator"):
        AlphaMerge(0.5, "learned")(video(2), video(2), image_only_indicator=torch.zeros(2, 2, dtype=torch.bool))


# --- block/tune_a_video -------------------------------------------------------------------------------------------

def test_tune_a_video_block_equals_the_inflated_image_block_at_init():
    torch.manual_seed(0)
    image_block = perturb(SpatialTransformer(**TINY, context_dim=8)).eval()
    tav = TuneAVideoTransformer(**TINY, context_dim=8).eval()
    missing, unexpected = tav.load_state_dict(image_block.state_dict(), strict=False)
    assert not unexpected and all(".norm_temp." in k or ".attn_temp." in k for k in missing)
    sparse_causal = SpatialTransformer(**TINY, context_dim=8, attention="sparse_causal").eval()
    sparse_causal.load_state_dict(image_block.state_dict(), strict=True)
    x, ctx = video(5), context()
    with torch.no_grad():
        torch.testing.assert_close(tav(x, ctx), sparse_causal(x, ctx), atol=1e-6, rtol=1e-6)
        # one frame: sparse-causal attention is the frame's own self-attention, so the image block exactly
        torch.testing.assert_close(tav(x[:, :, :1], ctx), image_block(x[:, :, :1], ctx), atol=1e-6, rtol=1e-6)


def test_tune_a_video_parameter_counts_on_sd1_match_the_paper():
    """SD-1.x's 16 transformer blocks (channels 320×5, 640×5, 1280×6; 8 heads; CLIP-L context 768), on meta:
    added 49,599,040 parameters (attn_temp + norm_temp; docs/papers.md §7.1 [C]). The trainable set is the recipe's:
    tests/recipes/test_sd_family.py."""
    widths = [320] * 5 + [640] * 5 + [1280] * 6
    added = 0
    for c in widths:
        tav = TuneAVideoTransformer(c, num_heads=8, context_dim=768, device="meta")
        image = SpatialTransformer(c, num_heads=8, context_dim=768, device="meta")
        added += sum(p.numel() for p in tav.parameters()) - sum(p.numel() for p in image.parameters())
    assert added == 49_599_040


# --- block/dit_adaln_zero -----------------------------------------------------------------------------------------

def _tokens(grid, dim=16, seed=0):
    t, h, w = grid
    return torch.randn(2, t * h * w, dim, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("attention", ["spacetime", "spatial", "temporal"])
def test_dit_block_is_identity_at_init(attention):
    block = DiTBlock(16, 2, cond_dim=12, attention=attention).eval()
    x = _tokens((3, 4, 4))
    with torch.no_grad():
        assert torch.equal(block(x, torch.randn(2, 12), grid=(3, 4, 4)), x)


def test_dit_block_follows_the_adaln_zero_equations():
    block = perturb(DiTBlock(16, 2, cond_dim=12, attention="spacetime")).eval()
    x, c, grid = _tokens((2, 2, 2)), torch.randn(2, 12), (2, 2, 2)
    shift1, scale1, gate1, shift2, scale2, gate2 = block.modulation(c)[:, None].chunk(6, dim=-1)
    ln = nn.functional.layer_norm
    with torch.no_grad():
        h = ln(x, (16,), eps=1e-6) * (1 + scale1) + shift1
        attn = block.attn.attend_tokens(h)  # spacetime attention = attention over all tokens
        y = x + gate1 * attn
        expected = y + gate2 * block.mlp(ln(y, (16,), eps=1e-6) * (1 + scale2) + shift2)
        torch.testing.assert_close(block(x, c, grid=grid), expected, atol=1e-5, rtol=1e-5)


def test_dit_spatial_attention_keeps_frames_apart_and_one_frame_equals_spacetime():
    spatial = perturb(DiTBlock(16, 2, cond_dim=12, attention="spatial")).eval()
    spacetime = DiTBlock(16, 2, cond_dim=12, attention="spacetime").eval()
    spacetime.load_state_dict(spatial.state_dict(), strict=True)
    x, c = _tokens((3, 2, 2)), torch.randn(2, 12)
    with torch.no_grad():
        out = spatial(x, c, grid=(3, 2, 2))
        for i in range(3):
            frame = x[:, 4 * i : 4 * (i + 1)]
            torch.testing.assert_close(out[:, 4 * i : 4 * (i + 1)], spatial(frame, c, grid=(1, 2, 2)),
                                       atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(spacetime(frame, c, grid=(1, 2, 2)), spatial(frame, c, grid=(1, 2, 2)),
                                       atol=1e-5, rtol=1e-5)


def test_dit_block_parameter_count_is_18d2_plus_15d():
    """DiT per-block parameters 18·D² + 15·D (docs/papers.md §5.2 [C]); DiT-XL width on the meta device."""
    d = 1152
    block = DiTBlock(d, 16, attention="spacetime", device="meta")
    assert sum(p.numel() for p in block.parameters()) == 18 * d * d + 15 * d


@pytest.mark.parametrize(
    ("x", "c", "grid", "match"),
    [
        (_tokens((2, 2, 2)), torch.zeros(2, 13), (2, 2, 2), "c must have shape"),
        (_tokens((2, 2, 2)), torch.zeros(2, 12), (2, 2, 3), "grid"),
        (_tokens((2, 2, 2), dim=8), torch.zeros(2, 12), (2, 2, 2), "width dim=16"),
        (torch.zeros(2, 16, 2, 2, 2), torch.zeros(2, 12), (2, 2, 2), "x must be \\(B, N, dim\\) tokens"),
    ],
)
def test_dit_block_bad_input_names_the_argument(x, c, grid, match):
    with pytest.raises(ValueError, match=match):
        DiTBlock(16, 2, cond_dim=12)(x, c, grid=grid)


# --- shared ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("key", "kwargs", "inputs", "match"),
    [
        ("block/spatial_transformer", dict(dim=12, num_heads=2, num_groups=8), None, "dim=12 must be divisible by"),
        ("block/spatial_transformer", dict(context_dim=8), (video(2), context(width=9)), "context_dim=8"),
        ("block/temporal_transformer", dict(context_dim=8), (video(2),), "context .* is required"),
        ("block/temporal_transformer", dict(), (video(2), context()), "without context_dim"),
        ("block/tune_a_video", dict(context_dim=8), (torch.zeros(2, 16, 8, 8), context()), "5-D video"),
        ("block/spatiotemporal_transformer", dict(context_dim=8), (video(2, c=17), context()), "16 channels"),
    ],
)
def test_transformer_bad_input_names_the_argument(key, kwargs, inputs, match):
    with pytest.raises(ValueError, match=match):
        block = components.build(key, **{**TINY, **kwargs})
        block(*inputs)


@pytest.mark.parametrize("key", components.list_components("block/*"))
def test_block_builds_on_the_meta_device(key):
    block = components.build(key, **components.get_component(key).tiny, device="meta")
    assert all(t.is_meta for t in [*block.parameters(), *block.buffers()])
