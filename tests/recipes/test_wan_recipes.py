"""The Wan recipes: the A14B expert switch is the recipe's (exactly the steps at or above the boundary run the
high-noise expert), the noise-level guidance, the causal latent space (1 + 4k frames, per-channel normalisation)."""

from __future__ import annotations

import pytest
import torch

import components
import zoo
from components.nets.latent_space import LatentSpace
from zoo.pipeline import Pipeline
from zoo.recipes.autoencoders import WAN21_LATENTS_MEAN, WAN21_LATENTS_STD
from zoo.recipes.wan import A14B_BOUNDARY


def test_a14b_runs_the_high_noise_expert_exactly_on_the_steps_above_the_boundary():
    steps = 10
    pipe = Pipeline.from_plan(zoo.resolve("wan2_2_t2v_a14b", "tiny", steps=steps))
    seen = []  # (expert, network time of the call)
    for name in ("high_noise", "low_noise"):
        getattr(pipe.model, name).register_forward_pre_hook(
            lambda module, args, name=name: seen.append((name, float(args[1].reshape(-1)[0]))))
    pipe("a cat", num_inference_steps=steps, output_type="latent")
    sigmas = pipe.schedule.sigmas(steps)[:-1].double()
    flow_t = sigmas / (1 + sigmas)  # the rectified-flow time of each step's level: σ_VE = t / (1 − t)
    expected = ["high_noise" if t >= A14B_BOUNDARY else "low_noise" for t in flow_t.tolist()]
    assert [name for name, _ in seen] == expected  # one guided call (batch 2B) per UniPC step
    assert 0 < expected.count("high_noise") < steps  # the grid crosses the boundary (shift 12: 7 of 10 above)
    torch.testing.assert_close(torch.tensor([t for _, t in seen], dtype=torch.float64), flow_t, rtol=1e-5, atol=1e-6)


def test_experts_route_each_row_by_its_own_time():
    torch.manual_seed(0)
    net = components.build("net/noise_experts", **components.get_component("net/noise_experts").tiny).eval()
    with torch.no_grad():  # off the DiT's zero-output init, each expert differently
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    (x, _), cond = components.get_component("net/noise_experts").inputs(components.get_component(
        "net/noise_experts").tiny, batch=3)
    t = torch.tensor([0.9, 0.2, 0.5])  # tiny boundary 0.5: rows 0 and 2 high, row 1 low
    with torch.no_grad():
        out = net(x, t, **cond)
        for row, expert in ((0, net.high_noise), (1, net.low_noise), (2, net.high_noise)):
            alone = expert(x[row:row + 1], t[row:row + 1], **{k: v[row:row + 1] for k, v in cond.items()})
            torch.testing.assert_close(out[row:row + 1], alone, rtol=1e-5, atol=1e-6)
        assert (net.high_noise(x[1:2], t[1:2], **{k: v[1:2] for k, v in cond.items()}) - out[1:2]).abs().max() > 1e-3


def test_noise_level_guidance_switches_scale_at_the_boundary():
    guide = components.build("guidance/cfg_by_noise_level", high_noise_scale=4.0, low_noise_scale=3.0,
                             boundary_sigma=7.0,
                             denoiser=lambda x, sigma, context=None: x + (0 if context is None else context))
    x, context = torch.zeros(2, 3), torch.ones(2, 3)
    for sigma, scale in ((7.0, 4.0), (50.0, 4.0), (6.99, 3.0), (0.1, 3.0)):
        out = guide(x, torch.full((2,), sigma), context=context)  # x_u = 0, x_c = 1: x̃ = s
        torch.testing.assert_close(out, torch.full((2, 3), scale))
    assert guide.at_scale(5.0).low_noise_scale == guide.at_scale(5.0).high_noise_scale == 5.0


def test_wan_latent_space_normalises_per_channel_and_counts_causal_frames():
    vae = components.build("net/wan_vae", latent_channels=16, base_channels=8, channel_mults=(1, 1, 1, 1),
                           num_res_blocks=1, temporal_downsample=(False, True, True)).eval()
    space = LatentSpace(vae, latents_mean=WAN21_LATENTS_MEAN, latents_std=WAN21_LATENTS_STD)
    assert (space.spatial_factor, space.temporal_factor) == (8, 4)
    assert [space.latent_frames(f) for f in (1, 5, 81)] == [1, 2, 21] and space.pixel_frames(21) == 81
    with pytest.raises(ValueError, match=r"num_frames must be 1 \+ 4·k frames .* got 80"):
        space.latent_frames(80)
    z = torch.randn(1, 16, 2, 3, 3, generator=torch.Generator().manual_seed(0))
    mean, std = torch.tensor(WAN21_LATENTS_MEAN).view(1, -1, 1, 1, 1), torch.tensor(WAN21_LATENTS_STD).view(1, -1, 1, 1, 1)
    torch.testing.assert_close(space.to_model(z), (z - mean) / std)  # diffusers: latents / (1/std) + mean to decode
    torch.testing.assert_close(space.to_raw(space.to_model(z)), z)
    video = torch.rand(1, 3, 5, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(space.encode(video), (vae.encode(video) - mean) / std)
        assert space.decode(space.encode(video)).shape == (1, 3, 5, 16, 16)


def test_wan_pipeline_refuses_frame_counts_the_causal_vae_cannot_make():
    pipe = Pipeline.from_plan(zoo.resolve("wan2_1_t2v_1_3b", "tiny"))
    with pytest.raises(ValueError, match=r"num_frames must be 1 \+ 4·k frames .* got 8"):
        pipe("a cat", num_frames=8, num_inference_steps=1)
    out = pipe("a cat", num_frames=5, num_inference_steps=1, output_type="pt")
    assert out.shape == (1, 5, 3, 32, 32)


def test_i2v_recipe_needs_an_image():
    pipe = Pipeline.from_plan(zoo.resolve("wan2_1_i2v_14b", "tiny"))
    with pytest.raises(ValueError, match="image"):
        pipe("a cat", num_inference_steps=1)


@pytest.mark.parametrize("name", ["wan2_2_t2v_a14b", "wan2_1_i2v_14b"])
def test_wan_recipes_train_and_sample_from_the_cli(name, tmp_path, capsys):
    from zoo.cli import main

    run = tmp_path / "run"
    assert main(["train", name, "--preset", "tiny", "--steps", "2", "--batch-size", "2", "--out", str(run),
                 "--no-progress"]) == 0
    out, inputs = tmp_path / "clip.gif", ["--prompt", "a cat"]
    if "i2v" in name:  # image to video: the first frame
        from PIL import Image

        Image.new("RGB", (32, 32), (200, 30, 60)).save(tmp_path / "first.png")
        inputs += ["--image", str(tmp_path / "first.png")]
    assert main(["sample", name, "--checkpoint", str(run), "--frames", "5", "--steps", "2", "--out", str(out),
                 "--no-progress", *inputs]) == 0
    assert "(3, 5, 32, 32)" in capsys.readouterr().out  # 5 frames (2 latent frames) of 32×32 RGB


def test_wan_pipeline_refuses_sizes_the_vae_and_patch_do_not_divide():
    pipe = Pipeline.from_plan(zoo.resolve("wan2_1_t2v_1_3b", "tiny"))
    with pytest.raises(ValueError, match="height must be a multiple of 8 .* got 36"):
        pipe("a cat", height=36, num_inference_steps=1)
    with pytest.raises(ValueError, match=r"height: .* multiple of 2 \(a height that is a multiple of 16\); got "
                                         r"height=40"):
        pipe("a cat", height=40, num_inference_steps=1)


def test_sample_command_runs_in_bfloat16(tmp_path, capsys):
    from zoo.cli import main

    out = tmp_path / "fox.gif"
    assert main(["sample", "wan2_1_t2v_1_3b", "--dtype", "bfloat16", "--steps", "2", "--prompt", "a fox", "--out",
                 str(out), "--no-progress"]) == 0
    assert "(3, 9, 32, 32)" in capsys.readouterr().out and out.exists()
