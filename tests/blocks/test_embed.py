"""Paper claims of the embeddings, beyond the registry conformance suite (tests/test_conformance.py)."""

from __future__ import annotations

import math

import pytest
import torch
from einops import rearrange
from hypothesis import given
from hypothesis import strategies as st

import components
from components.embed import (
    MicroConditioning,
    PatchEmbed3d,
    RelativeTemporalBias,
    RoPE3d,
    SinCosPosEmbed1d,
    SinCosPosEmbed2d,
    SinCosPosEmbed3d,
    TimestepEmbedding,
    grid_positions,
    relative_position_bucket,
    unpatchify,
)


diffusers_embeddings = pytest.importorskip("diffusers.models.embeddings")


# --- timestep embedding ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flip_sin_to_cos,shift", [(True, 0.0), (False, 1.0), (True, 1.0)])
def test_timestep_unet_sinusoid_matches_diffusers_get_timestep_embedding(flip_sin_to_cos, shift):
    t = torch.tensor([0, 1, 17, 250, 999]).float()
    emb = TimestepEmbedding(32, 320, flavour="unet", flip_sin_to_cos=flip_sin_to_cos, downscale_freq_shift=shift)
    ref = diffusers_embeddings.get_timestep_embedding(t, 320, flip_sin_to_cos=flip_sin_to_cos,
                                                      downscale_freq_shift=shift)
    torch.testing.assert_close(emb.sinusoid(t), ref, atol=1e-6, rtol=0)


def test_timestep_dit_sinusoid_is_cos_then_sin_without_shift():
    t = torch.tensor([3, 500])
    half = 128
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    expected = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    torch.testing.assert_close(TimestepEmbedding(64).sinusoid(t), expected, atol=1e-6, rtol=0)


def test_timestep_dit_mlp_init_is_normal_002_with_zero_bias():
    torch.manual_seed(0)
    emb = TimestepEmbedding(512, 256)
    for fc in (emb.mlp.fc1, emb.mlp.fc2):
        assert abs(fc.weight.std().item() - 0.02) < 2e-3 and fc.bias.abs().max() == 0
    assert emb(torch.tensor([1, 2, 3])).shape == (3, 512)


def test_timestep_unet_mlp_matches_diffusers_timestep_embedding():
    torch.manual_seed(0)
    ours = TimestepEmbedding(64, 32, flavour="unet")
    theirs = diffusers_embeddings.TimestepEmbedding(32, 64)
    theirs.load_state_dict({k.replace("mlp.fc", "linear_"): v for k, v in ours.state_dict().items()})
    t = torch.tensor([5, 900])
    proj = diffusers_embeddings.Timesteps(32, flip_sin_to_cos=True, downscale_freq_shift=0)
    with torch.no_grad():
        torch.testing.assert_close(ours(t), theirs(proj(t)))


def test_timestep_rejects_non_1d_timesteps_naming_the_argument():
    with pytest.raises(ValueError, match=r"timesteps must be 1-D \(B,\), got shape \(2, 1\)"):
        TimestepEmbedding(16, 16)(torch.zeros(2, 1))


# --- fixed sin-cos tables (MAE / DiT / CogVideoX conventions) ----------------------------------------------------


def test_sincos_1d_matches_mae_table():
    ref = diffusers_embeddings.get_1d_sincos_pos_embed_from_grid(16, torch.arange(7, dtype=torch.float64))
    torch.testing.assert_close(SinCosPosEmbed1d(16).table(7), ref.float(), atol=1e-6, rtol=0)


def test_sincos_2d_matches_dit_get_2d_sincos_pos_embed():
    ref = diffusers_embeddings.get_2d_sincos_pos_embed(32, 6, base_size=6)  # base_size = grid: no rescaling
    torch.testing.assert_close(SinCosPosEmbed2d(32).table((6, 6)), ref.float(), atol=1e-6, rtol=0)


def test_sincos_2d_puts_the_column_index_first_in_row_major_token_order():
    table = SinCosPosEmbed2d(16).table((3, 4))
    one_d = SinCosPosEmbed1d(8).table(4)
    h, w = 2, 3
    torch.testing.assert_close(table[h * 4 + w], torch.cat([one_d[w], one_d[h]]))


@pytest.mark.parametrize("grid", [(3, 4, 4), (2, 3, 5)])
def test_sincos_3d_matches_cogvideox_get_3d_sincos_pos_embed(grid):
    t, h, w = grid
    ref = diffusers_embeddings.get_3d_sincos_pos_embed(32, (w, h), t)  # diffusers takes spatial_size = (W, H)
    torch.testing.assert_close(SinCosPosEmbed3d(32).table(grid), ref.reshape(t * h * w, 32).float(),
                               atol=1e-6, rtol=0)


def test_sincos_forward_adds_the_table_to_tokens():
    tokens = torch.randn(2, 2 * 3 * 4, 16)
    pos = SinCosPosEmbed3d(16)
    torch.testing.assert_close(pos(tokens, (2, 3, 4)), tokens + pos.table((2, 3, 4)))
    with pytest.raises(ValueError, match=r"tokens must have shape \(B, N, dim\) = \(B, 20, 16\)"):
        pos(tokens, (1, 4, 5))


# --- relative temporal bias (VDM / T5) ---------------------------------------------------------------------------


def _t5_bucket_slow(relative: int, num_buckets: int, max_distance: int) -> int:
    """T5's bidirectional bucketing, written from the formula with Python floats, one offset at a time."""
    half = num_buckets // 2
    bucket = half if relative > 0 else 0
    n = abs(relative)
    exact = half // 2
    if n < exact:
        return bucket + n
    large = exact + int(math.log(n / exact) / math.log(max_distance / exact) * (half - exact))
    return bucket + min(large, half - 1)


@pytest.mark.parametrize("num_buckets,max_distance", [(32, 32), (32, 128), (8, 20), (16, 9)])
def test_relative_bucket_matches_slow_t5_formula(num_buckets, max_distance):
    offsets = torch.arange(-300, 301)
    fast = relative_position_bucket(offsets, num_buckets, max_distance)
    slow = torch.tensor([_t5_bucket_slow(r, num_buckets, max_distance) for r in offsets.tolist()])
    assert torch.equal(fast, slow)
    assert fast.min() >= 0 and fast.max() < num_buckets


def test_relative_temporal_bias_depends_only_on_frame_offset():
    torch.manual_seed(0)
    bias = RelativeTemporalBias(num_heads=3)(9)
    assert bias.shape == (3, 9, 9)
    torch.testing.assert_close(bias[:, 1:, 1:], bias[:, :-1, :-1])
    expected = bias.new_empty(3, 9, 9)
    module = RelativeTemporalBias(num_heads=3)
    for i in range(9):
        for j in range(9):
            expected[:, i, j] = module.table.weight[_t5_bucket_slow(j - i, 32, 32)]
    torch.testing.assert_close(module(9), expected)


# --- 3-D RoPE ----------------------------------------------------------------------------------------------------


def _scores(rope: RoPE3d, q, k, positions):
    cos, sin = rope.frequencies(positions)
    return rope.rotate(q, cos, sin) @ rope.rotate(k, cos, sin).transpose(-1, -2)


@pytest.mark.parametrize("shift", [(1.0, 0.0, 0.0), (0.0, 2.0, 0.0), (0.0, 0.0, 5.0), (3.0, -1.0, 2.5)])
def test_rope_3d_scores_depend_only_on_position_differences(shift):
    g = torch.Generator().manual_seed(0)
    rope = RoPE3d(32)
    positions = grid_positions((3, 2, 4))
    q = torch.randn(1, 2, positions.shape[0], 32, generator=g, dtype=torch.float64)
    k = torch.randn(1, 2, positions.shape[0], 32, generator=g, dtype=torch.float64)
    moved = positions + torch.tensor(shift, dtype=torch.float64)
    torch.testing.assert_close(_scores(rope, q, k, moved), _scores(rope, q, k, positions), atol=1e-5, rtol=1e-5)
    # and they do depend on the positions themselves being different
    assert not torch.allclose(_scores(rope, q, k, positions * 2), _scores(rope, q, k, positions), atol=1e-3)


def test_rope_3d_forward_rotates_by_grid_positions_and_keeps_norms():
    rope = components.build("embed/rope_3d", head_dim=16)
    assert rope.axes_dim == (4, 6, 6)
    q, k = torch.randn(2, 2, 12, 16), torch.randn(2, 2, 12, 16)
    q_rot, k_rot = rope(q, k, (1, 3, 4))
    torch.testing.assert_close(q_rot.norm(dim=-1), q.norm(dim=-1))
    torch.testing.assert_close(q_rot[:, :, 0], q[:, :, 0])  # position (0, 0, 0) is not rotated
    cos, sin = rope.frequencies(grid_positions((1, 3, 4)))
    torch.testing.assert_close(k_rot, rope.rotate(k, cos, sin))


def test_rope_3d_rejects_tokens_that_do_not_fill_the_grid():
    with pytest.raises(ValueError, match=r"N = T·H·W = 12"):
        RoPE3d(16)(torch.zeros(1, 2, 10, 16), torch.zeros(1, 2, 10, 16), (1, 3, 4))


# --- 3-D patches and unpatchify ----------------------------------------------------------------------------------


def test_unpatchify_of_raw_patches_recovers_the_video_exactly():
    video = torch.randn(2, 3, 4, 8, 6)
    raw = rearrange(video, "b c (t pt) (h ph) (w pw) -> b (t h w) (pt ph pw c)", pt=2, ph=2, pw=3)
    assert torch.equal(unpatchify(raw, (2, 4, 2), (2, 2, 3), 3), video)
    embed = PatchEmbed3d(3, 16, (2, 2, 3))
    assert embed.grid_size(video.shape) == (2, 4, 2)
    assert torch.equal(embed.unpatchify(raw, embed.grid_size(video.shape), 3), video)


@given(patch=st.tuples(*[st.integers(1, 3)] * 3), grid=st.tuples(*[st.integers(1, 3)] * 3),
       channels=st.integers(1, 3))
def test_unpatchify_inverts_patching_for_any_patch_and_grid(patch, grid, channels):
    video = torch.randn(1, channels, *(g * p for g, p in zip(grid, patch)))
    pt, ph, pw = patch
    raw = rearrange(video, "b c (t pt) (h ph) (w pw) -> b (t h w) (pt ph pw c)", pt=pt, ph=ph, pw=pw)
    assert torch.equal(unpatchify(raw, grid, patch, channels), video)


def test_patch3d_tokens_are_a_linear_map_of_the_raw_patches_in_unpatchify_layout():
    torch.manual_seed(0)
    embed = PatchEmbed3d(3, 16, (2, 2, 3))
    video = torch.randn(2, 3, 4, 8, 6)
    raw = rearrange(video, "b c (t pt) (h ph) (w pw) -> b (t h w) (pt ph pw c)", pt=2, ph=2, pw=3)
    weight = rearrange(embed.proj.weight, "d c pt ph pw -> d (pt ph pw c)")
    with torch.no_grad():
        torch.testing.assert_close(embed(video), raw @ weight.T + embed.proj.bias, atol=1e-5, rtol=1e-5)


def test_patch3d_init_is_xavier_on_the_flattened_weight():
    torch.manual_seed(0)
    embed = PatchEmbed3d(4, 256, (1, 2, 2))
    fan_in, fan_out = 4 * 4, 256
    bound = math.sqrt(6 / (fan_in + fan_out))
    assert embed.proj.weight.abs().max() <= bound and embed.proj.weight.abs().max() > 0.9 * bound
    assert embed.proj.bias.abs().max() == 0


@pytest.mark.parametrize("shape,name", [((1, 4, 3, 8, 8), "frames=3"), ((1, 4, 2, 6, 8), "height=6"),
                                        ((1, 4, 2, 8, 10), "width=10")])
def test_patch3d_rejects_sizes_not_divisible_by_the_patch(shape, name):
    embed = PatchEmbed3d(4, 16, (2, 4, 4))
    with pytest.raises(ValueError, match=rf"{name} must be divisible by patch_size\[\d\]="):
        embed(torch.zeros(shape))


def test_patch3d_rejects_an_image_naming_the_argument():
    with pytest.raises(ValueError, match="x must be a 5-D video B C T H W"):
        PatchEmbed3d(4, 16)(torch.zeros(1, 4, 8, 8))


# --- SVD micro-conditioning --------------------------------------------------------------------------------------


def test_micro_cond_matches_svd_added_time_ids_embedding():
    ids = torch.tensor([[6.0, 127.0, 0.02], [24.0, 3.0, 0.1]])  # (fps_id, motion_bucket_id, cond_aug)
    proj = diffusers_embeddings.Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)
    ref = proj(ids.flatten()).reshape(2, -1)
    out = MicroConditioning()(ids)
    assert out.shape == (2, 768)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)


def test_micro_cond_mlp_maps_to_the_time_embedding_width():
    cond = components.build("embed/micro_cond", freq_dim=32, dim=64)
    assert cond(torch.tensor([[6.0, 127.0, 0.02]])).shape == (1, 64)
    with pytest.raises(ValueError, match=r"values must have shape \(B, num_scalars=3\)"):
        cond(torch.zeros(1, 2))


# --- placement -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", components.list_components("embed/*"))
def test_embed_builds_on_the_meta_device(key):
    module = components.build(key, **components.get_component(key).tiny, device="meta")
    assert all(p.is_meta for p in module.parameters())


def test_rope_3d_tables_equal_wans_rotary_embedding():
    """Our precomputed tables with Wan's axis split are diffusers' ``WanRotaryPosEmbed`` (fp64 angles, fp32 tables:
    identical to the bit), including a grid past ``max_positions`` computed on the fly."""
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

    from components.embed.rope import wan_axes_dim

    for head_dim, grid in ((24, (3, 4, 5)), (128, (2, 3, 7))):
        ours = RoPE3d(head_dim, wan_axes_dim(head_dim), max_positions=6)
        cos, sin = ours.tables(grid)
        theirs_cos, theirs_sin = WanRotaryPosEmbed(head_dim, (1, 2, 2), 1024)(torch.zeros(1, 1, grid[0], 2 * grid[1],
                                                                                         2 * grid[2]))
        assert torch.equal(cos, theirs_cos[0, :, 0]) and torch.equal(sin, theirs_sin[0, :, 0])
        assert ours.tables(grid)[0] is cos  # the last grid's tables are kept, not recomputed


def test_rope_3d_tables_survive_a_cast_to_bfloat16():
    rope = RoPE3d(16).to(torch.bfloat16)
    assert rope.tables((2, 2, 2))[0].dtype == torch.float32
