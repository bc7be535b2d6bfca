"""block/wan is diffusers' ``WanTransformerBlock``: same weights (renamed by the converter's block table), same output
in fp32 (T2V, I2V with image keys/values, Wan 2.2's per-token modulation) and, to bf16 rounding, in bf16 (both upcast
norms, modulation and gated adds to fp32); the DiTBlock options it rests on behave as documented."""

from __future__ import annotations

import pytest
import torch

import components
from components.embed.rope import RoPE3d, wan_axes_dim
from zoo.convert.common import RenameTable, rename_state_dict
from zoo.convert.wan_transformer import WAN_BLOCK_PAIRS


diffusers = pytest.importorskip("diffusers")
from diffusers.models.transformers.transformer_wan import WanTransformerBlock  # noqa: E402


DIM, HEADS, FFN, GRID = 24, 2, 32, (3, 2, 4)
N = GRID[0] * GRID[1] * GRID[2]


def _pair(added: int | None = None, dtype=torch.float32):
    torch.manual_seed(0)
    ref = WanTransformerBlock(DIM, FFN, HEADS, "rms_norm_across_heads", True, 1e-6, added).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ours = components.build("block/wan", dim=DIM, num_heads=HEADS, ffn_dim=FFN, context_dim=DIM,
                            added_context_dim=added).eval()
    ours.load_state_dict(rename_state_dict(ref.state_dict(), RenameTable.from_pairs(WAN_BLOCK_PAIRS), ours))
    return ref.to(dtype), ours.to(dtype)


def _inputs(per_token: bool = False, image: bool = False, dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, N, DIM, generator=g)
    c = torch.randn(2, N, 6 * DIM, generator=g) if per_token else torch.randn(2, 6 * DIM, generator=g)
    text = torch.randn(2, 512, DIM, generator=g)  # diffusers' I2V processor takes the last 512 tokens as text
    img = torch.randn(2, 5, DIM, generator=g) if image else None
    return tuple(None if v is None else v.to(dtype) for v in (x, c, text, img))


def _theirs(ref, x, c, text, img):
    cos, sin = RoPE3d(DIM // HEADS, wan_axes_dim(DIM // HEADS)).tables(GRID)
    temb = c.unflatten(-1, (6, DIM))  # (B, 6, D) or per token (B, N, 6, D)
    context = text if img is None else torch.cat([img, text], dim=1)
    return ref(x, context, temb, (cos[None, :, None], sin[None, :, None]))


def _ours(ours, x, c, text, img):
    rope = RoPE3d(DIM // HEADS, wan_axes_dim(DIM // HEADS)).tables(GRID)
    return ours(x, c, grid=GRID, context=text, rope=rope, **({} if img is None else {"added_context": img}))


@pytest.mark.parametrize("per_token", [False, True], ids=["per_sample_t", "per_token_t"])
@pytest.mark.parametrize("image", [False, True], ids=["t2v", "i2v"])
def test_wan_block_matches_diffusers(per_token, image):
    ref, ours = _pair(DIM if image else None)
    inputs = _inputs(per_token, image)
    with torch.no_grad():
        torch.testing.assert_close(_ours(ours, *inputs), _theirs(ref, *inputs), atol=1e-5, rtol=1e-5)


def test_wan_block_in_bf16_matches_diffusers_in_bf16():
    """Both upcast the same steps; what remains is bf16 matmul rounding (measured relative L2 3.3e-3, the size of
    diffusers' own bf16-vs-fp32 gap, 4.3e-3; without ``upcast`` ours is 4.9e-3 from diffusers' bf16)."""
    ref, ours = _pair(dtype=torch.bfloat16)
    inputs = _inputs(dtype=torch.bfloat16)
    with torch.no_grad():
        out, expected = _ours(ours, *inputs).double(), _theirs(ref, *inputs).double()
    assert (out - expected).norm() <= 1e-2 * expected.norm()


def test_per_token_modulation_with_equal_tokens_equals_per_sample():
    _, ours = _pair()
    x, c, text, _ = _inputs()
    with torch.no_grad():
        expected = _ours(ours, x, c, text, None)
        out = _ours(ours, x, c[:, None].expand(2, N, 6 * DIM), text, None)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-6)


def test_rope_needs_spacetime_attention():
    block = components.build("block/dit_adaln_zero", dim=DIM, num_heads=HEADS, attention="spatial")
    rope = RoPE3d(DIM // HEADS).tables(GRID)
    with pytest.raises(ValueError, match="need attention='spacetime'"):
        block(torch.zeros(1, N, DIM), torch.zeros(1, DIM), grid=GRID, rope=rope)


def test_explicit_ffn_width_and_affine_context_norm():
    block = components.build("block/dit_adaln_zero", dim=DIM, num_heads=HEADS, ffn_dim=FFN, context_dim=8,
                             context_norm="affine")
    assert block.mlp.fc1.out_features == FFN
    assert block.norm_cross.weight.shape == (DIM,) and block.norm_cross.bias.shape == (DIM,)


def test_upcast_is_a_no_op_in_fp32():
    torch.manual_seed(0)
    plain = components.build("block/dit_adaln_zero", dim=DIM, num_heads=HEADS, modulation="adaln_single").eval()
    upcast = components.build("block/dit_adaln_zero", dim=DIM, num_heads=HEADS, modulation="adaln_single",
                              upcast=True).eval()
    upcast.load_state_dict(plain.state_dict())
    x, c, _, _ = _inputs()
    with torch.no_grad():
        assert torch.equal(plain(x, c, grid=GRID), upcast(x, c, grid=GRID))
