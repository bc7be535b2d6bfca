"""Every attention variant equals a slow, obvious reference (loops over frames / positions, softmax written out)."""

from __future__ import annotations

import attention_reference as ref
import pytest
import torch

import components


# (key, constructor options, forward kwargs, reference)
CASES = [
    ("attention/spatial", {}, {}, ref.spatial),
    ("attention/spacetime", {}, {}, ref.spacetime),
    ("attention/temporal", {}, {}, ref.temporal),
    ("attention/temporal", {"causal": True}, {}, ref.temporal),
    ("attention/temporal", {"position": "relative"}, {}, ref.temporal),
    ("attention/temporal", {"position": "relative", "causal": True}, {"num_image_frames": 2},
     lambda m, x: ref.temporal(m, x, num_image_frames=2)),
    ("attention/temporal", {"position": "sinusoidal"}, {"num_image_frames": 1},
     lambda m, x: ref.temporal(m, x, num_image_frames=1)),
    ("attention/sparse_causal", {}, {}, ref.sparse_causal),
    ("attention/cross_frame", {}, {}, ref.cross_frame),
    ("attention/fully_cross_frame", {}, {}, ref.fully_cross_frame),
    ("attention/fully_cross_frame", {"key_frames": [0, -1]}, {},
     lambda m, x: ref.fully_cross_frame(m, x, key_frames=[0, -1])),
    ("attention/windowed", {"window": [2, 2, 4]}, {}, ref.windowed),
    ("attention/windowed", {"window": [None, 4, 2]}, {}, ref.windowed),
]


def build(key, seed=0, **options):
    torch.manual_seed(seed)
    module = components.build(key, dim=8, num_heads=2, qkv_bias=True, qk_norm=True, **options).eval()
    with torch.no_grad():  # move the qk-norm affine and the relative table off their trivial init
        for name, p in module.named_parameters():
            if "norm" in name or "relative_bias" in name:
                p.add_(0.3 * torch.randn_like(p))
    return module


@pytest.mark.parametrize(("key", "options", "kwargs", "reference"), CASES,
                         ids=[f"{c[0].split('/')[1]}-{i}" for i, c in enumerate(CASES)])
def test_variant_matches_dense_reference(key, options, kwargs, reference):
    module = build(key, **options)
    x = torch.randn(2, 8, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(module(x, **kwargs), reference(module, x), atol=1e-5, rtol=1e-5)


# 3-D RoPE and the qk-norm kinds on every variant with video positions: head_dim 6 splits (2, 2, 2) over (t, h, w)
ROPE_CASES = [
    ("attention/spatial", {}, {}, ref.spatial),
    ("attention/spacetime", {"qk_norm": "rms_across_heads"}, {}, ref.spacetime),
    ("attention/spacetime", {"qk_norm": "rms", "rope_theta": 50.0}, {}, ref.spacetime),
    ("attention/temporal", {"causal": True}, {}, ref.temporal),
    ("attention/sparse_causal", {}, {}, ref.sparse_causal),
    ("attention/cross_frame", {}, {}, ref.cross_frame),
    ("attention/fully_cross_frame", {"key_frames": [0, -1]}, {},
     lambda m, x: ref.fully_cross_frame(m, x, key_frames=[0, -1])),
    ("attention/windowed", {"window": [2, 2, 4]}, {}, ref.windowed),
]


@pytest.mark.parametrize(("key", "options", "kwargs", "reference"), ROPE_CASES,
                         ids=[f"{c[0].split('/')[1]}-{i}" for i, c in enumerate(ROPE_CASES)])
def test_rope_variant_matches_dense_reference(key, options, kwargs, reference):
    """Each query and key rotated by its own (t, h, w), whatever sequences the variant folds the clip into (the
    reference rotates pair by pair from the formula). Tolerance: fp32, sums of ≤ 64 products of O(1) terms."""
    options = {"qk_norm": True, **options}
    torch.manual_seed(0)
    module = components.build(key, dim=12, num_heads=2, qkv_bias=True, position="rope", **options).eval()
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name:
                p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(2, 12, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = module(x, **kwargs)
        torch.testing.assert_close(out, reference(module, x), atol=1e-5, rtol=1e-5)
        plain = components.build(key, dim=12, num_heads=2, qkv_bias=True, **options).eval()
        plain.load_state_dict(module.state_dict())  # same weights (RoPE has none): the positions change the output
        assert (plain(x, **kwargs) - out).abs().max() > 1e-2


def test_rope_needs_video_positions_and_a_known_qk_norm():
    with pytest.raises(ValueError, match=r"position must be one of \('none',\), got 'rope'"):
        components.build("attention/cross", dim=12, num_heads=2, context_dim=6, position="rope")
    with pytest.raises(ValueError, match="qk_norm must be one of .* got 'l2'"):
        components.build("attention/spacetime", dim=12, num_heads=2, qk_norm="l2")


def test_decoupled_image_cross_attention_matches_reference():
    """Wan I2V's cross-attention: text and image keys/values, same queries, the two attentions summed."""
    torch.manual_seed(0)
    module = components.build("attention/cross", dim=12, num_heads=2, context_dim=6, added_context_dim=5,
                              qkv_bias=True, qk_norm="rms_across_heads").eval()
    g = torch.Generator().manual_seed(1)
    tokens, text, image = torch.randn(2, 7, 12, generator=g), torch.randn(2, 4, 6, generator=g), torch.randn(2, 3, 5,
                                                                                                            generator=g)
    with torch.no_grad():
        out = module(tokens, text, added_context=image)
        for b in range(2):
            torch.testing.assert_close(out[b], ref.decoupled_cross(module, tokens[b], text[b], image[b]),
                                       atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="added_context .* is required exactly when"):
        module(tokens, text)


@pytest.mark.parametrize("per_frame", [False, True])
def test_cross_attention_matches_dense_reference(per_frame):
    torch.manual_seed(0)
    module = components.build("attention/cross", dim=8, num_heads=2, context_dim=6, qkv_bias=True).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 8, 3, 4, 4, generator=g)
    context = torch.randn(2, 3, 5, 6, generator=g) if per_frame else torch.randn(2, 5, 6, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(module(x, context), ref.cross(module, x, context), atol=1e-5, rtol=1e-5)


def test_cross_attention_on_tokens_and_padding_mask():
    """Tokens (B, N, dim) work too; masked (padding) context tokens are ignored exactly."""
    torch.manual_seed(0)
    module = components.build("attention/cross", dim=8, num_heads=2, context_dim=6).eval()
    g = torch.Generator().manual_seed(1)
    tokens, context = torch.randn(2, 7, 8, generator=g), torch.randn(2, 5, 6, generator=g)
    keep = torch.tensor([[True] * 5, [True, True, True, False, False]])
    with torch.no_grad():
        out = module(tokens, context, context_mask=keep)
        torch.testing.assert_close(out[0], ref.softmax_attention(module, tokens[0], context[0]), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out[1], ref.softmax_attention(module, tokens[1], context[1, :3]),
                                   atol=1e-5, rtol=1e-5)
