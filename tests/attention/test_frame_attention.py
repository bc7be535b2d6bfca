"""Which frames each variant reads (by gradients), and the equalities between variants with shared weights:
Tune-A-Video sparse-causal, Text2Video-Zero cross-frame, ControlVideo fully cross-frame, spacetime, spatial."""

from __future__ import annotations

import pytest
import torch

import components


SHARED_WEIGHT_VARIANTS = ["attention/sparse_causal", "attention/cross_frame", "attention/fully_cross_frame"]


def build(key, seed=0, **options):
    torch.manual_seed(seed)
    return components.build(key, dim=8, num_heads=2, qkv_bias=True, **options).eval()


def clip(frames=5, seed=1):
    return torch.randn(2, 8, frames, 3, 3, generator=torch.Generator().manual_seed(seed))


def frames_read(module, x, i):
    """The set of input frames that frame i's output has a non-zero gradient for."""
    x = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(module(x)[:, :, i].sum(), x)
    return {j for j in range(x.shape[2]) if grad[:, :, j].abs().max() > 0}


@pytest.mark.parametrize("i", range(5))
def test_sparse_causal_frame_reads_frames_0_previous_and_itself(i):
    assert frames_read(build("attention/sparse_causal"), clip(), i) == {0, max(i - 1, 0), i}


@pytest.mark.parametrize("i", range(5))
def test_cross_frame_frame_reads_frames_0_and_itself(i):
    assert frames_read(build("attention/cross_frame"), clip(), i) == {0, i}


@pytest.mark.parametrize("i", range(5))
def test_fully_cross_frame_reads_every_frame(i):
    assert frames_read(build("attention/fully_cross_frame"), clip(), i) == set(range(5))


@pytest.mark.parametrize("i", range(5))
def test_fully_cross_frame_with_key_frames_reads_them_and_itself(i):
    assert frames_read(build("attention/fully_cross_frame", key_frames=[0, -1]), clip(), i) == {0, 4, i}


@pytest.mark.parametrize("key", SHARED_WEIGHT_VARIANTS)
def test_identical_frames_give_spatial_attention_with_the_same_weights(key):
    """The training-free inflations reuse the image model's self-attention: on a static clip nothing changes."""
    spatial = build("attention/spatial", seed=3)
    variant = build(key, seed=4)
    variant.load_state_dict(spatial.state_dict(), strict=True)
    x = clip(frames=1).expand(-1, -1, 4, -1, -1).contiguous()
    with torch.no_grad():
        torch.testing.assert_close(variant(x), spatial(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("key", SHARED_WEIGHT_VARIANTS + ["attention/spacetime", "attention/windowed"])
def test_single_frame_equals_spatial_attention(key):
    spatial = build("attention/spatial", seed=3)
    variant = build(key, seed=4, **({"window": [1, 3, 3]} if key.endswith("windowed") else {}))
    variant.load_state_dict(spatial.state_dict(), strict=True)
    x = clip(frames=1)
    with torch.no_grad():
        torch.testing.assert_close(variant(x), spatial(x), atol=1e-5, rtol=1e-5)


def test_sparse_causal_first_two_frames_are_attention_to_frame_0():
    """Official convention: frames 0 and 1 use keys [frame 0, frame 0] — i.e. exactly frame 0."""
    sparse, cross = build("attention/sparse_causal"), build("attention/cross_frame", seed=9)
    cross.load_state_dict(sparse.state_dict())
    x = clip()
    with torch.no_grad():
        torch.testing.assert_close(sparse(x)[:, :, :2], cross(x)[:, :, :2], atol=1e-6, rtol=1e-6)


def test_fully_cross_frame_equals_spacetime_and_windowed_whole_clip():
    fully = build("attention/fully_cross_frame")
    spacetime, windowed = build("attention/spacetime", seed=5), build("attention/windowed", seed=6,
                                                                      window=[None, None, None])
    spacetime.load_state_dict(fully.state_dict())
    windowed.load_state_dict(fully.state_dict())
    x = clip()
    with torch.no_grad():
        torch.testing.assert_close(spacetime(x), fully(x), atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(windowed(x), fully(x), atol=1e-6, rtol=1e-6)


def test_cross_frame_equals_fully_cross_frame_with_key_frame_0():
    fully, cross = build("attention/fully_cross_frame", key_frames=[0]), build("attention/cross_frame", seed=7)
    cross.load_state_dict(fully.state_dict())
    x = clip()
    with torch.no_grad():
        torch.testing.assert_close(cross(x), fully(x), atol=1e-6, rtol=1e-6)


def test_windowed_windows_do_not_exchange_information():
    """Window (2, 3, 3) on T = 4: frame 1 reads frames 0-1 only, frame 2 reads 2-3 only."""
    module = build("attention/windowed", window=[2, 3, 3])
    x = clip(frames=4)
    assert frames_read(module, x, 1) == {0, 1}
    assert frames_read(module, x, 2) == {2, 3}


def test_cross_attention_per_frame_context_is_read_per_frame():
    module = build("attention/cross", context_dim=6)
    x = clip(frames=3)
    context = torch.randn(2, 3, 4, 6, requires_grad=True)
    (grad,) = torch.autograd.grad(module(x, context)[:, :, 1].sum(), context)
    assert grad[:, 1].abs().max() > 0 and (grad[:, [0, 2]] == 0).all()
    shared = module(x, context[:, 0].detach())
    per_frame_same = module(x, context[:, :1].detach().expand(-1, 3, -1, -1))
    torch.testing.assert_close(per_frame_same, shared, atol=1e-6, rtol=1e-6)


ALL_VARIANT_OPTIONS = {
    "attention/spatial": {}, "attention/spacetime": {}, "attention/sparse_causal": {}, "attention/cross_frame": {},
    "attention/fully_cross_frame": {}, "attention/windowed": {"window": [None, 3, 3]},
    "attention/temporal": {"position": "relative"}, "attention/cross": {"context_dim": 6},
    "attention/sliding_tile": {"tile": [1, 3, 3], "window": [1, 1, 1]}, "attention/radial": {"block_size": 3},
    "attention/sparse_videogen": {}, "attention/video_sparse": {"tile": [1, 3, 3], "sparsity": 0.5},
    "attention/joint": {},
}


def _forward(module, key, x):
    context = torch.randn(2, 4, 6, generator=torch.Generator().manual_seed(5))
    if key == "attention/joint":  # tokens and text tokens of the same width, both streams' outputs
        tokens = x.flatten(2).transpose(1, 2)
        return torch.cat(module(tokens, torch.randn(2, 4, x.shape[1], generator=torch.Generator().manual_seed(5))),
                         dim=1)
    return module(x, context) if key == "attention/cross" else module(x)


@pytest.mark.parametrize("key", list(ALL_VARIANT_OPTIONS))
def test_zero_init_outputs_zero_and_qk_norm_and_dropout_work(key):
    x = clip(frames=3)
    module = build(key, zero_init=True, qk_norm=True, dropout=0.5, **ALL_VARIANT_OPTIONS[key])
    with torch.no_grad():
        assert (_forward(module, key, x) == 0).all()
        torch.nn.init.normal_(module.to_out.weight)
        eval_a, eval_b = _forward(module, key, x), _forward(module, key, x)
        module.train()
        train_out = _forward(module, key, x)
    torch.testing.assert_close(eval_a, eval_b, atol=0, rtol=0)
    assert not torch.allclose(train_out, eval_a), "dropout had no effect in training"


def test_every_variant_is_registered_with_a_flops_method():
    keys = components.list_components("attention/*")
    assert set(ALL_VARIANT_OPTIONS) == set(keys)
    for key in keys:
        assert callable(getattr(components.get_component(key).obj, "flops", None)), key


def test_swapped_frame_attention_keeps_rotary_positions_and_qk_norm():
    import components
    from components.attention.configure import swap_spatial_attention

    block = torch.nn.Sequential(components.build("attention/spatial", dim=12, num_heads=2, position="rope",
                                                 rope_theta=100.0, qk_norm="rms"))
    swap_spatial_attention(block, "attention/cross_frame")
    new = block[0]
    assert new.rope is not None and new.rope.theta == 100.0 and new.qk_norm == "rms"
