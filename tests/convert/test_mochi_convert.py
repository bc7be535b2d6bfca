"""zoo.from_diffusers(MochiTransformer3DModel / AutoencoderKLMochi): tiny random Mochi models convert to
``net/mochi_transformer`` / ``net/mochi_vae`` and agree with diffusers to 1e-4 in fp32 (text padding masked, the
last block context_pre_only, learned RoPE frequencies off zero); the rename tables run both ways; the published sizes
have diffusers' parameter counts; the tiny diffusers models are the recipe's tiny preset; the recipe's sampler (Euler
on the linear-quadratic grid, flow time in) follows diffusers' MochiPipeline loop (inverted sigmas, reversed time).

Error budget: the same fp32 ops on both sides except the attention kernel calls (ours one masked call per batch,
diffusers one unmasked call per sample over the real tokens) and the rotary application order (fp32 either way).
Measured on CPU (torch 2.x, diffusers 0.42.1): transformer ≤ 5e-7, VAE encode ≤ 6e-7, decode 0 (outputs ~1–3).
The sampling loop differs in one place by design: our grid starts at t = 1 − 1e-6 (σ_VE finite), which moves the
first network timestep from 0 to 1000·1e-6; measured end-to-end 5e-6 after 8 steps (samples ~5); bound 1e-4.
"""

from __future__ import annotations

import pytest
import torch

import components
import zoo
from components.nets.mochi import MOCHI_SIZES
from zoo.convert.mochi_transformer import mochi_to_diffusers_state_dict, mochi_transformer_config
from zoo.convert.vae_mochi import vae_mochi_to_diffusers_state_dict
from zoo.testing.tiny_mochi import tiny_mochi_transformer, tiny_mochi_vae


diffusers = pytest.importorskip("diffusers")
pytestmark = pytest.mark.filterwarnings("ignore:In CPU autocast")  # diffusers' MochiRoPE asks autocast for fp32


@pytest.fixture(scope="module")
def transformer():
    ref = tiny_mochi_transformer()
    return ref, zoo.from_diffusers(ref)


def _inputs(frames: int = 3):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 12, frames, 6, 10, generator=g)  # a (T, 3, 5) token grid
    text = torch.randn(2, 5, 16, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)  # prefix masks, as the pipeline's
    return x, torch.tensor([3.0, 701.0]), text, mask


@pytest.mark.parametrize("frames", [1, 3])
def test_converted_mochi_transformer_matches_diffusers(transformer, frames):
    ref, ours = transformer
    x, t, text, mask = _inputs(frames)
    with torch.no_grad():
        expected = ref(hidden_states=x, timestep=t, encoder_hidden_states=text, encoder_attention_mask=mask).sample
        out = ours(x, t, context=text, context_mask=mask)
    assert out.shape == expected.shape == x.shape
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)


def test_masked_text_tokens_do_not_change_the_video(transformer):
    _, ours = transformer
    x, t, text, mask = _inputs()
    changed = text.clone()
    changed[0, 3:] = 100.0  # the first sample's padding
    with torch.no_grad():
        torch.testing.assert_close(ours(x, t, context=text, context_mask=mask),
                                   ours(x, t, context=changed, context_mask=mask), atol=1e-5, rtol=1e-5)


def test_flow_time_is_the_reversed_timestep_and_negated_output(transformer):
    """The recipe's net (``flow_time=True``, ``time_scale=1000``) at flow time σ is −diffusers(1000·(1 − σ))."""
    ref, ours = transformer
    flow = components.build({**ours.to_config(), "flow_time": True, "time_scale": 1000.0})
    flow.load_state_dict(ours.state_dict())
    x, _, text, mask = _inputs()
    sigma = torch.tensor([0.9, 0.25])
    with torch.no_grad():
        expected = ref(hidden_states=x, timestep=1000 * (1 - sigma), encoder_hidden_states=text,
                       encoder_attention_mask=mask).sample
        torch.testing.assert_close(flow.eval()(x, sigma, context=text, context_mask=mask), -expected, atol=1e-4,
                                   rtol=1e-4)


def test_zoo_model_with_flow_time_is_the_recipes_net(transformer):
    """``ZooModel(diffusers' net, time_scale=1000, flow_time=True)``: diffusers' Mochi in our convention at flow time σ
    (the recipe's) — the same prediction as the recipe's converted net (the budget above: ≤ 1e-4)."""
    from zoo.convert.diffusers_adapter import ZooModel

    ref, ours = transformer
    flow = components.build({**ours.to_config(), "flow_time": True, "time_scale": 1000.0})
    flow.load_state_dict(ours.state_dict())
    wrapped = ZooModel(ref.eval(), time_scale=1000.0, flow_time=True)
    x, _, text, mask = _inputs()
    sigma = torch.tensor([0.9, 0.25])
    with torch.no_grad():
        expected = flow.eval()(x, sigma, context=text, context_mask=mask)
        torch.testing.assert_close(wrapped(x, sigma, context=text, context_mask=mask), expected, atol=1e-4, rtol=1e-4)


def test_mochi_state_dict_round_trips_into_diffusers(transformer):
    ref, ours = transformer
    state = mochi_to_diffusers_state_dict(ours, ref)
    assert set(state) == set(ref.state_dict())
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(state[key], value, atol=0, rtol=0)


def test_published_sizes_have_diffusers_parameter_counts():
    with torch.device("meta"):
        ref = diffusers.MochiTransformer3DModel()
        vae = diffusers.AutoencoderKLMochi()
    ours = components.build("net/mochi_transformer", **MOCHI_SIZES["mochi_1"], device="meta")
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters()) == 10_027_677_744
    assert mochi_transformer_config(ref.config) == {**MOCHI_SIZES["mochi_1"], "out_channels": 12, "freq_dim": 256}
    from zoo.recipes.mochi import MOCHI_VAE

    ours_vae = components.build("net/mochi_vae", **MOCHI_VAE, device="meta")
    assert sum(p.numel() for p in ours_vae.parameters()) == sum(p.numel() for p in vae.parameters()) == 459_748_611
    assert sum(p.numel() for p in ours_vae.encoder.parameters()) == 97_222_016
    assert sum(p.numel() for p in ours_vae.decoder.parameters()) == 362_526_595


def test_unsupported_activation_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="activation_fn"):
        mochi_transformer_config({"activation_fn": "geglu"})


@pytest.fixture(scope="module")
def vae():
    ref = tiny_mochi_vae()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return ref, zoo.from_diffusers(ref)


@pytest.mark.parametrize("frames", [1, 13])
def test_converted_vae_encodes_and_decodes_as_diffusers(vae, frames):
    ref, ours = vae
    x = torch.randn(1, 3, frames, 16, 24, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        posterior = ref.encode(x).latent_dist
        mean, logvar = ours.encode_moments(x)
        torch.testing.assert_close(mean, posterior.mean, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(logvar, posterior.logvar, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(ours.decode(mean), ref.decode(posterior.mean).sample, atol=1e-4, rtol=1e-4)
    assert mean.shape[2] == 1 + (frames - 1) // 6
    assert ours.decode(mean).shape[2] == frames


def test_vae_state_dict_round_trips_into_diffusers(vae):
    ref, ours = vae
    state = vae_mochi_to_diffusers_state_dict(ours, ref)
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(state[key], value, atol=0, rtol=0)


def test_vae_refuses_a_frame_count_it_cannot_take(vae):
    _, ours = vae
    with pytest.raises(ValueError, match="x frames must be 1 \\+ 6·k"):
        ours.encode(torch.zeros(1, 3, 4, 16, 16))


def test_tiny_diffusers_models_convert_to_the_tiny_preset():
    def plain(config):  # to_config() records tuples as lists
        return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}

    recipe = zoo.get_recipe("mochi")
    preset = recipe.preset("tiny")
    net = zoo.from_diffusers(tiny_mochi_transformer())
    expected = {k: v for k, v in preset.config.items() if k not in ("flow_time", "time_scale")}
    assert plain({k: v for k, v in net.to_config().items() if k in expected}) == plain(expected)
    vae = zoo.from_diffusers(tiny_mochi_vae())
    tiny_vae = recipe.autoencoder.for_preset("tiny").config
    assert plain({k: v for k, v in vae.to_config().items() if k in tiny_vae}) == plain(tiny_vae)


def test_recipe_sampler_follows_the_mochi_pipeline_loop(transformer):
    """diffusers' MochiPipeline denoising loop (no guidance): ``FlowMatchEulerDiscreteScheduler(invert_sigmas=True)``
    on ``linear_quadratic_schedule(n, 0.025)``, the network called with the scheduler's (reversed) timesteps — against
    the recipe's ``schedule/linear_quadratic`` + ``denoiser/vp`` (flow) + ``sampler/euler`` on the flow-time net."""
    from diffusers.pipelines.mochi.pipeline_mochi import linear_quadratic_schedule

    ref, ours = transformer
    x, _, text, mask = _inputs(2)
    steps = 8
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(invert_sigmas=True)
    scheduler.set_timesteps(sigmas=linear_quadratic_schedule(steps, 0.025))
    z = x.clone()
    with torch.no_grad():
        for t in scheduler.timesteps:
            pred = ref(hidden_states=z, timestep=t.expand(2), encoder_hidden_states=text,
                       encoder_attention_mask=mask).sample
            z = scheduler.step(pred, t, z).prev_sample
    flow = components.build({**ours.to_config(), "flow_time": True, "time_scale": 1000.0})
    flow.load_state_dict(ours.state_dict())
    schedule = components.build("schedule/linear_quadratic", threshold_noise=0.025)
    denoiser = components.build("denoiser/vp", model=flow.eval(), schedule=schedule, parameterization="flow",
                                model_time="t")
    sigmas = schedule.sigmas(steps)
    with torch.no_grad():
        got = components.build("sampler/euler")(denoiser, x * sigmas[0], sigmas,
                                                extra_args={"context": text, "context_mask": mask})
    torch.testing.assert_close(got, z, atol=1e-4, rtol=1e-4)
