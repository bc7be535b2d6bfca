"""zoo.from_diffusers(WanTransformer3DModel): tiny random Wan 2.1 T2V, 2.1 I2V and 2.2 TI2V (per-token timesteps)
transformers convert to ``net/wan_transformer`` and agree with diffusers to 1e-4 in fp32; the rename table runs both
ways (strict load into diffusers, same output); our RoPE tables equal ``WanRotaryPosEmbed``'s; the published sizes
have diffusers' parameter counts.

Error budget: both sides run the same fp32 ops in the same order on CPU except the attention kernel call (SDPA on
both sides, possibly different head layouts), the sinusoid (ours fp32 from the same formula) and the RoPE rotation
(ours ``x·cos + rotate(x)·sin``, diffusers' strided pair writes): at most a few fp32 ulps per layer on O(1)
activations. Measured on CPU (torch 2.x, diffusers 0.42): 0 (bitwise equal) for all three; 1e-4 leaves room for other
BLAS / SDPA builds choosing other kernels per side.
"""

from __future__ import annotations

import pytest
import torch

import components
import zoo
from components.embed.rope import RoPE3d, wan_axes_dim
from components.nets.wan import WAN_SIZES
from zoo.convert.wan_transformer import wan_to_diffusers_state_dict, wan_transformer_config


diffusers = pytest.importorskip("diffusers")
from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed  # noqa: E402


BASE = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=4, out_channels=4,
            text_dim=16, freq_dim=32, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
            eps=1e-6)
CONFIGS = {
    "t2v": BASE,
    # diffusers' I2V processor takes the last 512 context tokens as text: our test's text must be 512 tokens long
    "i2v": {**BASE, "in_channels": 6, "image_dim": 8, "added_kv_proj_dim": 24},
    "ti2v": {**BASE, "attention_head_dim": 24, "in_channels": 6, "out_channels": 6},  # 2.2 TI2V: per-token t
}
TEXT_TOKENS = {"t2v": 7, "i2v": 512, "ti2v": 7}


def _pair(name: str):
    torch.manual_seed(0)
    ref = diffusers.WanTransformer3DModel(**CONFIGS[name]).eval()
    with torch.no_grad():  # off the init, so every weight (zero biases, unit norms) is exercised
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return ref, zoo.from_diffusers(ref)


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def case(request):
    name = request.param
    ref, ours = _pair(name)
    g = torch.Generator().manual_seed(1)
    cfg = CONFIGS[name]
    x = torch.randn(2, cfg["in_channels"], 3, 8, 8, generator=g)  # 3 frames, 8×8 latents -> a (3, 4, 4) grid
    text = torch.randn(2, TEXT_TOKENS[name], cfg["text_dim"], generator=g)
    image = torch.randn(2, 5, cfg["image_dim"], generator=g) if "image_dim" in cfg else None
    t = torch.tensor([3.0, 701.0])
    if name == "ti2v":  # the first frame's 16 tokens are the clean conditioning frame: t = 0 there
        t = torch.cat([torch.zeros(2, 16), t[:, None].expand(2, 32)], dim=1)
    return name, ref, ours, x, t, text, image


def _theirs(ref, x, t, text, image):
    return ref(hidden_states=x, timestep=t, encoder_hidden_states=text, encoder_hidden_states_image=image).sample


def _ours(ours, x, t, text, image):
    return ours(x, t, context=text, **({} if image is None else {"image_context": image}))


def test_converted_wan_transformer_matches_diffusers(case):
    name, ref, ours, x, t, text, image = case
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    with torch.no_grad():
        expected, out = _theirs(ref, x, t, text, image), _ours(ours, x, t, text, image)
    assert out.shape == expected.shape == (2, CONFIGS[name]["out_channels"], 3, 8, 8)
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)


def test_time_scale_takes_t_in_unit_interval(case):
    name, ref, ours, x, t, text, image = case
    scaled = components.build("net/wan_transformer", **{**wan_transformer_config(ref.config), "time_scale": 1000.0})
    scaled.load_state_dict(ours.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(_ours(scaled.eval(), x, t / 1000, text, image), _theirs(ref, x, t, text, image),
                                   atol=1e-4, rtol=1e-4)  # t/1000·1000 ≠ t by an ulp: the budget still holds


def test_rename_table_round_trips_into_diffusers(case):
    name, ref, ours, x, t, text, image = case
    back = wan_to_diffusers_state_dict(ours, ref)
    fresh = diffusers.WanTransformer3DModel(**CONFIGS[name]).eval()
    fresh.load_state_dict(back, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(_theirs(fresh, x, t, text, image), _theirs(ref, x, t, text, image),
                                   atol=0, rtol=0)


@pytest.mark.parametrize("head_dim, grid", [(12, (3, 4, 4)), (24, (2, 5, 3)), (128, (21, 30, 52))])
def test_rope_tables_equal_wan_rotary_pos_embed(head_dim, grid):
    t, h, w = grid
    cos, sin = RoPE3d(head_dim, wan_axes_dim(head_dim)).tables(grid)
    ref_cos, ref_sin = WanRotaryPosEmbed(head_dim, (1, 2, 2), 1024)(torch.zeros(1, 1, t, 2 * h, 2 * w))
    assert torch.equal(cos, ref_cos.reshape(t * h * w, head_dim))
    assert torch.equal(sin, ref_sin.reshape(t * h * w, head_dim))


def test_i2v_net_refuses_a_call_without_image_tokens(case):
    name, ref, ours, x, t, text, image = case
    if image is None:
        with pytest.raises(ValueError, match="not built to take 'image_context'"):
            ours(x, t, context=text, image_context=torch.zeros(2, 5, 8))
    else:
        with pytest.raises(ValueError, match="image_context must be image tokens"):
            ours(x, t, context=text)


def test_bad_spatial_size_and_context_width_are_refused():
    _, ours = _pair("t2v")
    with pytest.raises(ValueError, match="width=7 must be divisible by patch_size"):
        ours(torch.zeros(1, 4, 3, 8, 7), torch.zeros(1), context=torch.zeros(1, 7, 16))
    with pytest.raises(ValueError, match=r"context must be tokens of shape \(B, M, context_dim\)"):
        ours(torch.zeros(1, 4, 3, 8, 8), torch.zeros(1), context=torch.zeros(1, 7, 15))
    with pytest.raises(ValueError, match=r"per token \(B, N\) = \(1, 48\)"):
        ours(torch.zeros(1, 4, 3, 8, 8), torch.zeros(1, 47), context=torch.zeros(1, 7, 16))


@pytest.mark.parametrize("problem, match", [
    ({"qk_norm": "rms_norm"}, "qk_norm"),
    ({"eps": 1e-5}, "eps must be 1e-6"),
    ({"image_dim": 8}, "given together"),
    ({"image_dim": 8, "added_kv_proj_dim": 16}, "added_kv_proj_dim must equal"),
])
def test_unsupported_config_is_refused(problem, match):
    with pytest.raises(ValueError, match=match):
        wan_transformer_config({**BASE, **problem})


# diffusers configs of the published checkpoints (scripts/convert_wan_to_diffusers.py; Wan2.2 model cards)
_DIFFUSERS_SIZES = {
    "wan2.1_t2v_1.3b": dict(num_attention_heads=12, ffn_dim=8960, num_layers=30, in_channels=16, out_channels=16),
    "wan2.1_t2v_14b": dict(num_attention_heads=40, ffn_dim=13824, num_layers=40, in_channels=16, out_channels=16),
    "wan2.1_i2v_14b": dict(num_attention_heads=40, ffn_dim=13824, num_layers=40, in_channels=36, out_channels=16,
                           image_dim=1280, added_kv_proj_dim=5120),
    "wan2.2_ti2v_5b": dict(num_attention_heads=24, ffn_dim=14336, num_layers=30, in_channels=48, out_channels=48),
    "wan2.2_t2v_a14b": dict(num_attention_heads=40, ffn_dim=13824, num_layers=40, in_channels=16, out_channels=16),
    "wan2.2_i2v_a14b": dict(num_attention_heads=40, ffn_dim=13824, num_layers=40, in_channels=36, out_channels=16),
}


@pytest.mark.parametrize("size", sorted(WAN_SIZES))
def test_published_sizes_have_diffusers_parameter_counts(size):
    config = dict(patch_size=(1, 2, 2), attention_head_dim=128, text_dim=4096, freq_dim=256, cross_attn_norm=True,
                  qk_norm="rms_norm_across_heads", eps=1e-6, **_DIFFUSERS_SIZES[size])
    with torch.device("meta"):
        ref = diffusers.WanTransformer3DModel(**config)
    ours = components.build("net/wan_transformer", **WAN_SIZES[size], device="meta")
    assert wan_transformer_config(config) == {**WAN_SIZES[size], "image_context_dim": WAN_SIZES[size].get(
        "image_context_dim"), "image_pos_embed_len": None, "cross_attn_norm": True}
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())


def test_gradient_checkpointing_and_backend_keep_the_function():
    ref, ours = _pair("t2v")
    config = {**wan_transformer_config(ref.config), "gradient_checkpointing": True, "attention_backend": "math"}
    other = components.build("net/wan_transformer", **config)
    other.load_state_dict(ours.state_dict())
    x, t, text = torch.randn(1, 4, 3, 8, 8), torch.tensor([500.0]), torch.randn(1, 7, 16)
    grads = []
    for model in (ours.train(), other.train()):
        model.zero_grad()
        model(x, t, context=text).square().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=1e-4)
