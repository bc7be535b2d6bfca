"""Latte-1 text-to-video (``latte_t2v``, docs/papers.md §5.3): diffusers' exact count, its forward, cross-attention to
``context`` and adaLN-single in ``net/space_time_dit`` / ``block/dit_adaln_zero``."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange

import components
import zoo


diffusers = pytest.importorskip("diffusers")

# the assumed Latte-1 config of docs/papers.md §5.3 (diffusers LatteTransformer3DModel keywords)
LATTE_1 = dict(num_attention_heads=16, attention_head_dim=72, in_channels=4, out_channels=8, num_layers=28,
               cross_attention_dim=1152, attention_bias=True, sample_size=64, patch_size=2,
               activation_fn="gelu-approximate", num_embeds_ada_norm=1000, norm_type="ada_norm_single",
               norm_elementwise_affine=False, norm_eps=1e-6, caption_channels=4096, video_length=16)
TINY_PEER = {**LATTE_1, "num_attention_heads": 2, "attention_head_dim": 16, "num_layers": 2, "cross_attention_dim": 32,
             "sample_size": 8, "caption_channels": 8, "video_length": 3}


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_latte_t2v_count_equals_diffusers_latte_1_exactly_part_by_part():
    with torch.device("meta"):
        ref = diffusers.LatteTransformer3DModel(**LATTE_1)
    ours = zoo.create_model("latte_t2v", "paper", device="meta")
    assert _count(ours) == _count(ref) == 1_057_246_880
    spatial = sum(_count(b) for b in ours.blocks if b.attention == "spatial")
    temporal = sum(_count(b) for b in ours.blocks if b.attention == "temporal")
    assert (spatial, temporal) == (_count(ref.transformer_blocks), _count(ref.temporal_transformer_blocks)) \
        == (595_155_456, 446_390_784)
    assert _count(ours.embed) + _count(ours.shared_modulation) == _count(ref.adaln_single)
    assert _count(ours.context_proj) == _count(ref.caption_projection)
    assert _count(ours.final) == _count(ref.proj_out) + ref.scale_shift_table.numel()
    assert _count(ours.patch) == _count(ref.pos_embed)


def _from_diffusers(ref) -> dict:
    """diffusers Latte state dict -> ours: layer i's spatial / temporal blocks are our blocks 2i / 2i + 1."""
    renames = {"attn1.": "attn.", "attn2.": "cross_attn.", "to_out.0.": "to_out.", "ff.net.0.proj.": "mlp.fc1.",
               "ff.net.2.": "mlp.fc2.", "pos_embed.proj.": "patch.proj.", "proj_out.": "final.linear.",
               "adaln_single.emb.timestep_embedder.linear_": "embed.timestep.mlp.fc",
               "adaln_single.linear.": "shared_modulation.1.", "caption_projection.": "context_proj."}
    out = {}
    for name, value in ref.state_dict().items():
        for prefix, offset in (("transformer_blocks.", 0), ("temporal_transformer_blocks.", 1)):
            if name.startswith(prefix):
                layer, rest = name[len(prefix):].split(".", 1)
                name = f"blocks.{2 * int(layer) + offset}.{rest}"
        name = "final.scale_shift_table" if name == "scale_shift_table" else name
        for old, new in renames.items():
            name = name.replace(old, new)
        out[name] = value[:, :, None] if name == "patch.proj.weight" else value
    return out


@pytest.mark.parametrize("frames", [1, 3])
def test_latte_t2v_forward_equals_diffusers_with_the_same_weights(frames):
    """Same weights, same prediction. Latte-1 adds its 1-D temporal table after the first spatial block, ours adds it
    to the input (``sincos_2d_1d``): both are compared without it (diffusers' table zeroed, ours ``sincos_2d``)."""
    torch.manual_seed(0)
    ref = diffusers.LatteTransformer3DModel(**TINY_PEER).eval()
    ref.temp_pos_embed.zero_()
    ours = zoo.create_model("latte_t2v", "tiny", hidden_dim=32, depth=4, frequency_dim=256, input_size=(3, 8, 8),
                            context_dim=8, pos_embed="sincos_2d").eval()
    ours.load_state_dict(_from_diffusers(ref), strict=True)
    g = torch.Generator().manual_seed(1)
    x, text = torch.randn(2, 4, frames, 8, 8, generator=g), torch.randn(2, 5, 8, generator=g)
    t = torch.tensor([10, 900])
    with torch.no_grad():
        expected = ref(x, t, encoder_hidden_states=text).sample
        torch.testing.assert_close(ours(x, t, context=text), expected, rtol=1e-4, atol=1e-5)


def test_latte_t2v_cross_attends_in_spatial_blocks_only_and_needs_context():
    model = zoo.create_model("latte_t2v", "tiny").eval()
    assert [(b.attention, b.cross_attn is not None) for b in model.blocks] == [("spatial", True), ("temporal", False)]
    x, t = torch.randn(1, 4, 2, 8, 8), torch.tensor([500])
    with pytest.raises(ValueError, match="context must be tokens of shape"):
        model(x, t)
    with pytest.raises(ValueError, match="context must be tokens of shape"):
        model(x, t, context=torch.randn(1, 3, 9))
    with pytest.raises(ValueError, match="not built to take 'class_labels'"):
        model(x, t, context=torch.randn(1, 3, 8), class_labels=torch.tensor([1]))


def test_latte_t2v_prediction_depends_on_the_text():
    torch.manual_seed(0)
    model = zoo.create_model("latte_t2v", "tiny").eval()
    with torch.no_grad():
        for block in model.blocks:
            if block.cross_attn is not None:
                block.cross_attn.to_out.weight.normal_(0, 0.2)  # PixArt-α zero-initialises it
        model.final.linear.weight.normal_(0, 0.2)
        x, t = torch.randn(1, 4, 2, 8, 8), torch.tensor([500])
        a, b = model(x, t, context=torch.randn(1, 3, 8)), model(x, t, context=torch.randn(1, 3, 8))
    assert not torch.allclose(a, b)


def test_latte_t2v_tiny_pipeline_samples_with_a_context():
    video = zoo.create_pipeline("latte_t2v", "tiny")(num_frames=2, steps=2, seed=0, context=torch.randn(1, 3, 8))
    assert video.shape == (1, 4, 2, 8, 8) and torch.isfinite(video).all()


def test_latte_t2v_positions_are_buffers_so_the_state_dict_has_no_table():
    model = zoo.create_model("latte_t2v", "tiny")
    assert "pos_embed" not in model.state_dict() and "pos_embed" not in dict(model.named_parameters())
    assert "pos_embed" in zoo.create_model("latte", "tiny").state_dict()  # DiT's frozen parameter, as before


@pytest.mark.parametrize("frames", [1, 2])
def test_dit_block_with_cross_attention_is_identity_at_init(frames):
    torch.manual_seed(0)
    block = components.build("block/dit_adaln_zero", dim=16, num_heads=2, cond_dim=12, attention="spatial",
                             context_dim=8).eval()
    x, c, context = torch.randn(2, frames * 16, 16), torch.randn(2, 12), torch.randn(2, 3, 8)
    with torch.no_grad():
        assert torch.equal(block(x, c, grid=(frames, 4, 4), context=context), x)
    with pytest.raises(ValueError, match="context"):
        block(x, c, grid=(frames, 4, 4))


def test_adaln_single_block_modulates_with_its_table_plus_the_shared_projection():
    torch.manual_seed(0)
    block = components.build("block/dit_adaln_zero", dim=16, num_heads=2, attention="spacetime",
                             modulation="adaln_single").eval()
    assert block.cond_dim == 96 and not hasattr(block, "modulation")
    x, c = torch.randn(2, 32, 16), torch.randn(2, 96)
    shift1, scale1, gate1, shift2, scale2, gate2 = (block.scale_shift_table[None] + c.view(2, 6, 16)).chunk(6, dim=1)
    with torch.no_grad():
        y = rearrange(block.norm1(x) * (1 + scale1) + shift1, "b (t h w) d -> b d t h w", t=2, h=4, w=4)
        h = x + gate1 * rearrange(block.attn(y), "b d t h w -> b (t h w) d")
        expected = h + gate2 * block.mlp(block.norm2(h) * (1 + scale2) + shift2)
        torch.testing.assert_close(block(x, c, grid=(2, 4, 4)), expected)
    with pytest.raises(ValueError, match="cond_dim must be None or 6·dim"):
        components.build("block/dit_adaln_zero", dim=16, num_heads=2, cond_dim=12, modulation="adaln_single")
