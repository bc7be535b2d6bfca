"""The sparse video attentions (sliding tile, radial, Sparse VideoGen, VSA) against their definitions.

Each equals dense attention under its explicit per-pair rule (sparse_reference.py, written on token coordinates),
runs the same through every block-sparse path (gather, flex attention's BlockMask on CPU, dense mask), reports the
density it computed, and with a window covering the whole clip is attention/spacetime with the same weights.
"""

from __future__ import annotations

import warnings

import pytest
import sparse_reference as sref
import torch

import components
from components.attention import block_sparse


def build(key, seed=0, dim=12, **options):
    torch.manual_seed(seed)
    module = components.build(key, dim=dim, num_heads=2, qkv_bias=True, **options).eval()
    with torch.no_grad():  # move the qk-norm affine off its trivial init
        for name, p in module.named_parameters():
            if "norm" in name:
                p.add_(0.3 * torch.randn_like(p))
    return module


def video(dim=12, t=4, h=4, w=4, seed=1):
    return torch.randn(2, dim, t, h, w, generator=torch.Generator().manual_seed(seed))


# (key, options, reference(module, x, out))
CASES = [
    ("attention/sliding_tile", {"tile": [2, 2, 2], "window": [1, 1, 1]}, lambda m, x: sref.sliding_tile(m, x)),
    ("attention/sliding_tile", {"tile": [1, 2, 2], "window": [3, 1, 2]}, lambda m, x: sref.sliding_tile(m, x)),
    ("attention/radial", {"block_size": 4}, lambda m, x: sref.radial(m, x, 4)),
    ("attention/radial", {"block_size": 2, "decay_factor": 0.25, "sink_frames": 0},
     lambda m, x: sref.radial(m, x, 2)),
    ("attention/sparse_videogen", {"num_samples": 8}, lambda m, x: sref.sparse_videogen(m, x, m.last_choice)),
    ("attention/sparse_videogen", {"num_samples": 8, "frame_window": 1, "position_window": 2},
     lambda m, x: sref.sparse_videogen(m, x, m.last_choice)),
    ("attention/video_sparse", {"tile": [2, 2, 2], "sparsity": 0.5}, lambda m, x: sref.video_sparse(m, x)),
]
IDS = [f"{c[0].split('/')[1]}-{i}" for i, c in enumerate(CASES)]
# qk-norm kinds x positions: per-head LayerNorm without RoPE; Wan's RMSNorm across heads with 3-D RoPE (head_dim 6)
SETTINGS = [{"qk_norm": True}, {"qk_norm": "rms_across_heads", "position": "rope"}]


def _gate(module):
    """VSA's gate off zero, so the coarse branch counts in the comparison."""
    if hasattr(module, "to_gate_compress"):
        with torch.no_grad():
            module.to_gate_compress.weight.normal_(0, 0.3)
            module.to_gate_compress.bias.normal_(0, 0.3)
    return module


@pytest.mark.parametrize("setting", SETTINGS, ids=["layernorm", "rms_across_heads-rope"])
@pytest.mark.parametrize(("key", "options", "reference"), CASES, ids=IDS)
def test_sparse_variant_matches_its_rule_pair_by_pair(key, options, reference, setting):
    module = _gate(build(key, **options, **setting))
    x = video()
    with torch.no_grad():
        out = module(x)
        torch.testing.assert_close(out, reference(module, x), atol=1e-5, rtol=1e-5)


def test_sparse_videogen_chooses_the_pattern_closer_to_dense_on_sampled_queries():
    module = build("attention/sparse_videogen", num_samples=8, qk_norm=True)
    x = video()
    with torch.no_grad():
        module(x)
    assert torch.equal(module.last_choice, sref.sparse_videogen_choice(module, x))


@pytest.mark.parametrize(("key", "options", "reference"), CASES, ids=IDS)
def test_block_sparse_paths_agree(key, options, reference):
    """gather (plain torch), flex attention with a BlockMask (eager on CPU) and the dense token mask."""
    x = video()
    outs = []
    for path in ("dense", "gather", "flex"):
        module = _gate(build(key, path=path, position="rope", **options))
        with torch.no_grad():
            outs.append(module(x))
    for out in outs[1:]:
        torch.testing.assert_close(out, outs[0], atol=1e-5, rtol=1e-5)


FULL = [
    ("attention/sliding_tile", {"tile": [1, 2, 2], "window": [4, 2, 2]}),
    ("attention/radial", {"block_size": 2, "decay_factor": 8.0}),
    ("attention/sparse_videogen", {"frame_window": 3, "position_window": 15}),
    ("attention/video_sparse", {"tile": [2, 2, 2], "sparsity": 0.0}),
]


@pytest.mark.parametrize("path", ["gather", "flex"])
@pytest.mark.parametrize(("key", "options"), FULL, ids=[k.split("/")[1] for k, _ in FULL])
def test_window_covering_the_clip_is_spacetime_attention(key, options, path):
    dense = build("attention/spacetime", qk_norm="rms_across_heads", position="rope")
    sparse = build(key, qk_norm="rms_across_heads", position="rope", path=path, **options)
    missing, unexpected = sparse.load_state_dict(dense.state_dict(), strict=False)
    assert not unexpected and all("gate" in name for name in missing)
    x = video()
    with torch.no_grad():
        torch.testing.assert_close(sparse(x), dense(x), atol=1e-5, rtol=1e-5)
    assert sparse.last_density == 1.0


@pytest.mark.parametrize(("key", "options", "expected"), [
    ("attention/sliding_tile", {"tile": [1, 2, 2], "window": [3, 1, 1]}, 3 / 4 * 1 / 2 * 1 / 2),
    ("attention/video_sparse", {"tile": [2, 2, 2], "sparsity": 0.75}, 2 / 8),
])
def test_density_is_measured_and_matches_the_analytic_count(key, options, expected):
    module = build(key, **options)
    x = video()
    with torch.no_grad():
        module(x)
    assert module.last_density == pytest.approx(expected)
    assert module.density(x.shape) == pytest.approx(expected)
    dense = components.build("attention/spacetime", dim=12, num_heads=2)
    assert module.flops(x.shape) >= expected * dense.flops(x.shape)


def test_radial_density_decays_with_frames():
    """O(N log N): the kept fraction falls as the clip grows (bands further away keep narrower windows)."""
    module = build("attention/radial", block_size=4)
    densities = [module.density((1, 12, t, 8, 8)) for t in (2, 4, 8, 16, 32)]
    assert all(a > b for a, b in zip(densities, densities[1:])) and densities[-1] < 0.5


def test_window_larger_than_the_grid_is_clamped_with_one_warning():
    module = build("attention/sliding_tile", tile=[1, 2, 2], window=[9, 1, 1])
    block_sparse._WARNED.clear()
    x = video()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.no_grad():
            out, again = module(x), module(x)
    said = [str(w.message) for w in caught if "clamped" in str(w.message)]
    assert len(said) == 1 and "window=[9, 1, 1]" in said[0] and "clamped to [4, 1, 1]" in said[0]
    assert torch.equal(out, again)


def test_tile_that_does_not_divide_says_what_divides():
    module = build("attention/sliding_tile", tile=[3, 2, 2])
    with pytest.raises(ValueError, match=r"tile\[0\]=3 must divide the token grid's T=4; sizes that divide 4: "
                                         r"\[1, 2, 4\]"):
        module(video())


def test_vsa_gate_and_projections_get_gradients():
    module = build("attention/video_sparse", tile=[2, 2, 2], sparsity=0.5).train()
    module(video()).square().mean().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
