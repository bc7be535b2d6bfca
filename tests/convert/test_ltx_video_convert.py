"""diffusers ``LTXVideoTransformer3DModel`` -> ``net/ltx_video_transformer``: same outputs (fp32, ≤ 1e-4) with the
pipeline's frame-rate-scaled RoPE and its text padding mask, the reverse rename, the published size's parameter count. Offline, tiny random
weights (``zoo.testing.tiny_ltx_video``)."""

from __future__ import annotations

import pytest
import torch

import components
import zoo
from components.nets.ltx_video import LTX_VIDEO_SIZES


diffusers = pytest.importorskip("diffusers")

from zoo.convert.ltx_video_transformer import ltx_to_diffusers_state_dict, ltx_transformer_config  # noqa: E402
from zoo.testing.tiny_ltx_video import LTX_VIDEO_T2V, tiny_ltx_video_transformer  # noqa: E402


@pytest.fixture(scope="module")
def transformer():
    ref = tiny_ltx_video_transformer()
    return ref, zoo.from_diffusers(ref)


def _theirs(ref, x, t, context, frame_rate=25.0, mask=None):
    b, c, f, h, w = x.shape
    mask = torch.ones(context.shape[:2]) if mask is None else mask
    out = ref(hidden_states=x.flatten(2).transpose(1, 2), encoder_hidden_states=context, timestep=t,
              encoder_attention_mask=mask, num_frames=f, height=h, width=w,
              rope_interpolation_scale=(8 / frame_rate, 32, 32), return_dict=False)[0]
    return out.transpose(1, 2).reshape(b, c, f, h, w)


@pytest.mark.parametrize("grid", [(1, 4, 4), (3, 4, 6), (5, 8, 8)])
def test_converted_ltx_video_transformer_matches_diffusers(transformer, grid):
    """Measured max |Δ|: ≤ 2e-5 (the rotary angles reach (π/2)·θ = 1.6e4 rad: diffusers' fp32 angles vs our fp64
    ones cast to fp32)."""
    ref, ours = transformer
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, LTX_VIDEO_T2V["in_channels"], *grid, generator=g)
    context, t = torch.randn(2, 7, 16, generator=g), torch.tensor([900.0, 30.0])
    with torch.no_grad():
        expected = _theirs(ref, x, t, context)
        got = ours(x, t, context=context)
    assert got.shape == expected.shape
    err = float((got - expected).abs().max())
    assert err <= 1e-4, f"max |Δ| {err:.2e}"


def _padded_text(generator):
    """T5 tokens of two prompts padded to 7: 4 and 6 real tokens (the mask a prefix of ones, as the tokenizer's)."""
    context = torch.randn(2, 7, 16, generator=generator)
    mask = torch.arange(7)[None] < torch.tensor([[4], [6]])
    return context, mask


def test_text_padding_mask_matches_diffusers_encoder_attention_mask(transformer):
    """ours(context_mask=m) = diffusers(encoder_attention_mask=m). Budget: the unmasked comparison's ≤ 2e-5 (rotary
    angles), and diffusers' −10000 logit bias vs our dropped keys differ by e^−10000 = 0 in fp32: ≤ 1e-4."""
    ref, ours = transformer
    g = torch.Generator().manual_seed(2)
    x, t = torch.randn(2, LTX_VIDEO_T2V["in_channels"], 3, 4, 6, generator=g), torch.tensor([700.0, 80.0])
    context, mask = _padded_text(g)
    with torch.no_grad():
        expected = _theirs(ref, x, t, context, mask=mask.long())
        got = ours(x, t, context=context, context_mask=mask)
        got_int = ours(x, t, context=context, context_mask=mask.long())  # the text encoder's int64 mask
    err = float((got - expected).abs().max())
    assert err <= 1e-4, f"max |Δ| {err:.2e}"
    torch.testing.assert_close(got_int, got, atol=0, rtol=0)


def test_padded_text_tokens_change_nothing_under_the_mask(transformer):
    """With the mask, the padding's values are ignored (exactly the output of the text cut to its real tokens);
    without it they move the output, so the mask is doing the work."""
    _, ours = transformer
    g = torch.Generator().manual_seed(3)
    x, t = torch.randn(2, LTX_VIDEO_T2V["in_channels"], 2, 4, 4, generator=g), torch.tensor([500.0, 500.0])
    context, mask = _padded_text(g)
    other = torch.where(mask[..., None], context, 10 * torch.randn(context.shape, generator=g))
    with torch.no_grad():
        masked = ours(x, t, context=context, context_mask=mask)
        torch.testing.assert_close(ours(x, t, context=other, context_mask=mask), masked, atol=1e-6, rtol=0)
        torch.testing.assert_close(ours(x[1:], t[1:], context=context[1:, :6]), masked[1:], atol=1e-5, rtol=0)
        assert float((ours(x, t, context=other) - ours(x, t, context=context)).abs().max()) > 1e-3


def test_a_mask_for_another_text_length_is_refused(transformer):
    _, ours = transformer
    x, context = torch.zeros(1, LTX_VIDEO_T2V["in_channels"], 1, 4, 4), torch.zeros(1, 5, 16)
    with pytest.raises(ValueError, match=r"context_mask must be \(B, M\) = \(1, 5\).*got \(1, 4\)"):
        ours(x, torch.tensor([1.0]), context=context, context_mask=torch.ones(1, 4, dtype=torch.bool))


def test_frame_rate_scales_the_time_axis_as_the_pipeline_does(transformer):
    ref, ours = transformer
    cfg = {**components.config_of(ours), "frame_rate": 12.0}
    slow = components.build(cfg.pop("type"), **cfg)
    slow.load_state_dict(ours.state_dict())
    g = torch.Generator().manual_seed(1)
    x, context, t = torch.randn(1, LTX_VIDEO_T2V["in_channels"], 3, 4, 4, generator=g), torch.randn(1, 5, 16, generator=g), torch.tensor([500.0])
    with torch.no_grad():
        torch.testing.assert_close(slow.eval()(x, t, context=context), _theirs(ref, x, t, context, 12.0),
                                   atol=1e-4, rtol=0)
        assert float((slow(x, t, context=context) - ours(x, t, context=context)).abs().max()) > 1e-4


def test_ltx_state_dict_round_trips_into_diffusers(transformer):
    ref, ours = transformer
    fresh = diffusers.LTXVideoTransformer3DModel(**ref.config)
    fresh.load_state_dict(ltx_to_diffusers_state_dict(ours, fresh), strict=True)
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[k], v, atol=0, rtol=0)


def test_published_size_has_diffusers_parameter_count():
    with torch.device("meta"):
        theirs = sum(p.numel() for p in diffusers.LTXVideoTransformer3DModel().parameters())
    ours = components.build("net/ltx_video_transformer", **LTX_VIDEO_SIZES["ltx_video_0.9"], device="meta")
    assert sum(p.numel() for p in ours.parameters()) == theirs == 1_923_385_472


def test_a_config_ours_cannot_express_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="patch_size must be 1, got 2"):
        ltx_transformer_config({**tiny_ltx_video_transformer().config, "patch_size": 2})
