"""zoo.from_diffusers(HunyuanVideoTransformer3DModel / AutoencoderKLHunyuanVideo): tiny random HunyuanVideo models
convert to ``net/hunyuan_video_transformer`` / ``net/hunyuan_video_vae`` and agree with diffusers to 1e-4 in fp32
(text padding masked, embedded guidance, pooled text); the rename tables run both ways; the published sizes have
diffusers' parameter counts; the tiny diffusers models are the recipe's tiny preset.

Error budget: the same fp32 ops on both sides except the attention kernel call and the rotary tables (ours from fp64
angles, diffusers' fp32). Measured on CPU (torch 2.x, diffusers 0.42.1): transformer ≤ 1e-6, VAE encode ≤ 1e-6,
decode ≤ 2e-5 (outputs of magnitude ~1).
"""

from __future__ import annotations

import pytest
import torch

import components
import zoo
from components.nets.hunyuan_video import HUNYUAN_VIDEO_SIZES
from zoo.convert.hunyuan_video_transformer import (
    hunyuan_video_to_diffusers_state_dict,
    hunyuan_video_transformer_config,
)
from zoo.convert.vae_hunyuan_video import vae_hunyuan_video_to_diffusers_state_dict
from zoo.testing.tiny_hunyuan_video import tiny_hunyuan_video_transformer, tiny_hunyuan_video_vae


diffusers = pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def transformer():
    ref = tiny_hunyuan_video_transformer()
    return ref, zoo.from_diffusers(ref)


def _inputs(frames: int = 3):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, frames, 6, 10, generator=g)  # a (T, 3, 5) token grid
    text, pooled = torch.randn(2, 5, 16, generator=g), torch.randn(2, 8, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)  # prefix masks, as the pipeline's
    return x, torch.tensor([3.0, 701.0]), text, pooled, mask, torch.tensor([6000.0, 3500.0])


@pytest.mark.parametrize("frames", [1, 3])
def test_converted_hunyuan_video_transformer_matches_diffusers(transformer, frames):
    ref, ours = transformer
    x, t, text, pooled, mask, guidance = _inputs(frames)
    with torch.no_grad():
        expected = ref(hidden_states=x, timestep=t, encoder_hidden_states=text, encoder_attention_mask=mask,
                       pooled_projections=pooled, guidance=guidance).sample
        out = ours(x, t, context=text, added_cond=pooled, context_mask=mask, guidance=guidance)
    assert out.shape == expected.shape == x.shape
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)


def test_masked_text_tokens_do_not_change_the_video(transformer):
    _, ours = transformer
    x, t, text, pooled, mask, guidance = _inputs()
    changed = text.clone()
    changed[0, 3:] = 100.0  # the first sample's padding
    with torch.no_grad():
        a = ours(x, t, context=text, added_cond=pooled, context_mask=mask, guidance=guidance)
        b = ours(x, t, context=changed, added_cond=pooled, context_mask=mask, guidance=guidance)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_hunyuan_video_state_dict_round_trips_into_diffusers(transformer):
    ref, ours = transformer
    state = hunyuan_video_to_diffusers_state_dict(ours, ref)
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(state[key], value, atol=0, rtol=0)


def test_published_size_has_diffusers_parameter_count():
    with torch.device("meta"):
        ref = diffusers.HunyuanVideoTransformer3DModel()
        vae = diffusers.AutoencoderKLHunyuanVideo()
    ours = components.build("net/hunyuan_video_transformer", **HUNYUAN_VIDEO_SIZES["hunyuan_video"], device="meta")
    n = sum(p.numel() for p in ours.parameters())
    assert n == sum(p.numel() for p in ref.parameters()) == 12_821_012_544
    assert hunyuan_video_transformer_config(ref.config) == {**HUNYUAN_VIDEO_SIZES["hunyuan_video"], "out_channels": 16,
                                                            "mlp_ratio": 4.0}
    from zoo.recipes.hunyuan_video import HUNYUAN_VIDEO_VAE

    ours_vae = components.build("net/hunyuan_video_vae", **HUNYUAN_VIDEO_VAE, device="meta")
    assert sum(p.numel() for p in ours_vae.parameters()) == sum(p.numel() for p in vae.parameters()) == 246_478_803


def test_image_conditioned_config_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="image_condition_type"):
        hunyuan_video_transformer_config({"image_condition_type": "token_replace"})


def test_guidance_is_required_without_a_default(transformer):
    _, ours = transformer
    x, t, text, pooled, mask, _ = _inputs()
    with pytest.raises(ValueError, match="guidance must be given"):
        ours(x, t, context=text, added_cond=pooled, context_mask=mask)


@pytest.fixture(scope="module")
def vae():
    ref = tiny_hunyuan_video_vae()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return ref, zoo.from_diffusers(ref)


@pytest.mark.parametrize("frames", [1, 9])
def test_converted_vae_encodes_and_decodes_as_diffusers(vae, frames):
    ref, ours = vae
    x = torch.randn(1, 3, frames, 16, 24, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        mean = ref.encode(x).latent_dist.mean
        torch.testing.assert_close(ours.encode(x), mean, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(ours.decode(mean), ref.decode(mean).sample, atol=1e-4, rtol=1e-4)
    assert mean.shape[2] == 1 + (frames - 1) // 4


def test_vae_state_dict_round_trips_into_diffusers(vae):
    ref, ours = vae
    state = vae_hunyuan_video_to_diffusers_state_dict(ours, ref)
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(state[key], value, atol=0, rtol=0)


def test_vae_refuses_a_frame_count_it_cannot_take(vae):
    _, ours = vae
    with pytest.raises(ValueError, match="x frames must be 1 \\+ 4·k"):
        ours.encode(torch.zeros(1, 3, 4, 16, 16))


def test_tiny_diffusers_models_convert_to_the_tiny_preset():
    def plain(config):  # to_config() records tuples as lists
        return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}

    recipe = zoo.get_recipe("hunyuan_video")
    preset = recipe.preset("tiny")
    net = zoo.from_diffusers(tiny_hunyuan_video_transformer())
    expected = {k: v for k, v in preset.config.items() if k not in ("time_scale", "guidance_default")}
    assert plain({k: v for k, v in net.to_config().items() if k in expected}) == plain(expected)
    vae = zoo.from_diffusers(tiny_hunyuan_video_vae())
    tiny_vae = recipe.autoencoder.for_preset("tiny").config
    assert plain({k: v for k, v in vae.to_config().items() if k in tiny_vae}) == plain(tiny_vae)
