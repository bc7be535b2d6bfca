"""Mochi's mechanisms over the shared core: ``attention/joint``'s asymmetric text stream (``context_dim``) and
``context_pre_only``, ``block/mochi`` (identity at init, the last block's text stream untouched), the SwiGLU
feed-forward, the learned mixed RoPE's fixed positions against diffusers', the causal conv's ``space_padding="none"``.
Exact identities are checked at 1e-6 (fp32 round-off of the same ops in another order)."""

from __future__ import annotations

import pytest
import torch

import components
from components.blocks.common import feed_forward
from components.nets.mochi_parts import MochiRoPE


def _joint(**options):
    torch.manual_seed(0)
    return components.build("attention/joint", dim=16, num_heads=2, separate_context=True, qk_norm="rms",
                            qkv_bias=False, context_dim=8, **options).eval()


def test_joint_attention_takes_a_narrower_text_stream():
    attn = _joint()
    x, c = torch.randn(2, 6, 16), torch.randn(2, 5, 8)
    out, out_c = attn(x, c)
    assert out.shape == (2, 6, 16) and out_c.shape == (2, 5, 8)
    assert attn.add_q_proj.weight.shape == (16, 8) and attn.to_add_out.weight.shape == (8, 16)


def test_context_pre_only_gives_the_same_video_output_and_no_text_output():
    full, pre = _joint(), _joint(context_pre_only=True)
    state = {k: v for k, v in full.state_dict().items() if not k.startswith("to_add_out")}
    pre.load_state_dict(state)
    x, c = torch.randn(2, 6, 16), torch.randn(2, 5, 8)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    out, none = pre(x, c, context_mask=mask)
    assert none is None and isinstance(pre.to_add_out, torch.nn.Identity)
    torch.testing.assert_close(out, full(x, c, context_mask=mask)[0], atol=1e-6, rtol=1e-6)
    assert not pre.add_q_proj.weight.requires_grad and not pre.norm_added_q.weight.requires_grad


def test_a_narrower_text_stream_needs_separate_projections():
    with pytest.raises(ValueError, match="need separate_context=True"):
        components.build("attention/joint", dim=16, num_heads=2, context_dim=8)


def test_joint_attention_takes_per_head_rope_tables():
    attn = _joint()
    x, c = torch.randn(1, 6, 16), torch.randn(1, 5, 8)
    angles = torch.randn(1, 2, 6, 4).repeat_interleave(2, dim=-1)
    out, _ = attn(x, c, rope=(angles.cos(), angles.sin()))
    assert (out - attn(x, c)[0]).abs().max() > 1e-3  # the rotation changes the scores
    with pytest.raises(ValueError, match="rope tables must be"):
        attn(x, c, rope=(torch.ones(1, 3, 6, 8), torch.zeros(1, 3, 6, 8)))


@pytest.mark.parametrize("pre_only", [False, True])
def test_mochi_block_is_the_identity_at_init(pre_only):
    block = components.build("block/mochi", dim=16, num_heads=2, context_dim=8, context_pre_only=pre_only).eval()
    x, ctx, c = torch.randn(2, 6, 16), torch.randn(2, 5, 8), torch.randn(2, 16)
    out, out_ctx = block(x, ctx, c)
    torch.testing.assert_close(out, x, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out_ctx, ctx, atol=1e-6, rtol=1e-6)


def test_last_mochi_block_leaves_the_text_stream_unchanged():
    block = components.build("block/mochi", dim=16, num_heads=2, context_dim=8, context_pre_only=True).eval()
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x, ctx, c = torch.randn(2, 6, 16), torch.randn(2, 5, 8), torch.randn(2, 16)
    out, out_ctx = block(x, ctx, c)
    assert out_ctx is ctx and (out - x).abs().max() > 1e-3
    assert block.ff_context is None and block.modulation_context.out_features == 8


def test_swiglu_feed_forward_is_fc2_of_a_times_silu_g():
    ff = feed_forward(8, kind="swiglu", hidden_dim=12, bias=False)
    x = torch.randn(3, 8)
    a, g = (x @ ff.fc1.weight.T).chunk(2, dim=-1)
    torch.testing.assert_close(ff(x), (a * torch.nn.functional.silu(g)) @ ff.fc2.weight.T, atol=1e-6, rtol=1e-6)
    assert ff.fc1.bias is None and ff.fc2.bias is None


@pytest.mark.parametrize("grid", [(1, 3, 5), (4, 30, 53)])
def test_mochi_rope_positions_are_diffusers(grid):
    diffusers = pytest.importorskip("diffusers")
    from diffusers.models.transformers.transformer_mochi import MochiRoPE as TheirRoPE

    theirs = TheirRoPE()._get_positions(*grid, dtype=torch.float32)
    torch.testing.assert_close(MochiRoPE(2, 8).positions(grid), theirs, atol=1e-5, rtol=1e-6)
    assert diffusers is not None


def test_mochi_rope_is_the_identity_at_zero_frequencies():
    cos, sin = MochiRoPE(2, 8)((2, 3, 5))
    assert cos.shape == (1, 2, 30, 8)
    torch.testing.assert_close(cos, torch.ones_like(cos))
    torch.testing.assert_close(sin, torch.zeros_like(sin))


def test_causal_conv_without_space_padding_takes_even_kernels():
    conv = components.build("conv/causal_temporal", in_channels=3, out_channels=4, kernel_size=(2, 2, 2),
                            stride=(2, 2, 2), pad_mode="replicate", space_pad_mode="replicate", space_padding="none")
    assert conv(torch.randn(1, 3, 5, 8, 6)).shape == (1, 4, 3, 4, 3)  # (5 + 1) / 2 frames, space halved
    with pytest.raises(ValueError, match="space_padding must be 'same' or 'none'"):
        components.build("conv/causal_temporal", in_channels=3, out_channels=4, space_padding="valid")
