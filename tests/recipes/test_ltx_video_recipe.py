"""The ``ltx_video`` recipe against LTXPipeline: the published size, steps, guidance, frame rate and text length are
the pipeline's defaults; the declared μ is ``calculate_shift`` at that size with the published scheduler's numbers;
the VAE is the 0.9.1 config (diffusers' parameter count); the causal latent space takes 1 + 8k frames and sizes that
are multiples of 32, refusing others in one line; the tiny preset matches the tiny diffusers transformer."""

from __future__ import annotations

import inspect

import pytest
import torch

import components
import zoo
from zoo.pipeline import Pipeline
from zoo.recipes.ltx_video import LTX_VIDEO_VAE_091, MU, TINY_NET


diffusers = pytest.importorskip("diffusers")


def test_paper_preset_is_ltx_pipelines_defaults():
    defaults = {k: p.default for k, p in inspect.signature(diffusers.LTXPipeline.__call__).parameters.items()}
    recipe = zoo.get_recipe("ltx_video")
    p = recipe.preset("paper")
    f_t, f = 8, 32
    assert (1 + f_t * (p.frames - 1), p.height * f, p.width * f) == (defaults["num_frames"], defaults["height"],
                                                                       defaults["width"])
    assert recipe.sampling.steps == defaults["num_inference_steps"]
    assert recipe.sampling.guidance_kwargs["scale"] == defaults["guidance_scale"]
    assert p.config["frame_rate"] == defaults["frame_rate"]
    assert recipe.encoders["context"][1]["max_length"] == defaults["max_sequence_length"]


def test_declared_mu_is_the_pipelines_calculate_shift_at_the_published_size():
    """scripts/convert_ltx_to_diffusers.py's scheduler: base_shift 0.95, max_shift 2.05, seq lens 1024 / 4096."""
    from diffusers.pipelines.ltx.pipeline_ltx import calculate_shift

    p = zoo.get_recipe("ltx_video").preset("paper")
    assert MU == pytest.approx(calculate_shift(p.frames * p.height * p.width, 1024, 4096, 0.95, 2.05), abs=1e-12)
    assert zoo.get_recipe("ltx_video").sampling.schedule_kwargs == {"mu": MU, "shift_terminal": 0.1}


@pytest.mark.parametrize("steps", [2, 50])
def test_sampling_grid_is_ltx_pipelines(steps):
    """The recipe's grid is what LTXPipeline schedules at the published size: its ``sigmas`` linspace(1, 1/N, N), the
    dynamic shift at ``calculate_shift``'s μ and the stretch to ``shift_terminal`` 0.1 of the released scheduler
    config (diffusers' fp32 grid vs our float64: 1e-6)."""
    import numpy as np
    from diffusers import FlowMatchEulerDiscreteScheduler

    recipe = zoo.get_recipe("ltx_video")
    scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
                                                base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1)
    scheduler.set_timesteps(sigmas=np.linspace(1.0, 1.0 / steps, steps), mu=MU)
    ours = components.build(recipe.sampling.schedule, **recipe.sampling.schedule_kwargs).timesteps(
        steps, recipe.sampling.spacing)
    torch.testing.assert_close(ours, scheduler.sigmas[:-1].double(), rtol=0, atol=1e-6)


def test_paper_vae_is_the_091_timestep_conditioned_config():
    from zoo.convert.vae_ltx_video import vae_ltx_video_config

    official = dict(decoder_block_out_channels=(256, 512, 1024), decoder_layers_per_block=(5, 6, 7, 8),
                    decoder_spatio_temporal_scaling=(True, True, True), decoder_inject_noise=(True, True, True, False),
                    upsample_residual=(True, True, True), upsample_factor=(2, 2, 2), timestep_conditioning=True)
    with torch.device("meta"):
        ref = diffusers.AutoencoderKLLTXVideo(**official)
    assert {**vae_ltx_video_config(ref.config), **LTX_VIDEO_VAE_091} == vae_ltx_video_config(ref.config)
    ours = components.build("net/ltx_video_vae", **LTX_VIDEO_VAE_091, device="meta")
    assert sum(q.numel() for q in ours.parameters()) == sum(q.numel() for q in ref.parameters()) == 934_976_434


def test_tiny_preset_is_the_tiny_diffusers_transformer_over_a_tiny_vae_of_its_width():
    from zoo.convert.ltx_video_transformer import ltx_transformer_config
    from zoo.testing.tiny_ltx_video import LTX_VIDEO_T2V

    assert ltx_transformer_config(LTX_VIDEO_T2V) == {**TINY_NET, "out_channels": TINY_NET["in_channels"]}
    pipe = zoo.create_pipeline("ltx_video", "tiny")
    vae = pipe.autoencoder
    assert vae.latent_channels == TINY_NET["in_channels"] and vae.timestep_conditioning
    assert (pipe.spatial_factor, pipe.temporal_factor) == (32, 8)  # LTX's real compression at width 8


def test_latent_space_counts_1_plus_8k_frames_and_refuses_others_in_one_line():
    pipe = Pipeline.from_plan(zoo.resolve("ltx_video", "tiny"))
    space = pipe.latent_space
    assert [space.latent_frames(f) for f in (1, 9, 161)] == [1, 2, 21] and space.pixel_frames(21) == 161
    with pytest.raises(ValueError, match=r"num_frames must be 1 \+ 8·k frames .* got 16") as err:
        pipe("a cat", num_frames=16, num_inference_steps=1)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="height must be a multiple of 32 .* got 48") as err:
        pipe("a cat", height=48, num_inference_steps=1)
    assert "\n" not in str(err.value)
    out = pipe("a cat", num_frames=9, height=32, width=64, num_inference_steps=1, output_type="pt")
    assert tuple(out.shape) == (1, 9, 3, 32, 64)  # output_type="pt": (B, T, C, H, W), as diffusers' pipelines


def test_latent_normalisation_is_ltx_pipelines_per_channel_one():
    """LTXPipeline: ``_normalize_latents`` (z − μ)·s/σ after encoding, ``_denormalize_latents`` z·σ/s + μ before
    decoding (s = scaling_factor 1.0); the tiny preset's stand-in statistics make every channel differ."""
    space = zoo.create_pipeline("ltx_video", "tiny").latent_space
    mean, std = torch.tensor(space.latents_mean), torch.tensor(space.latents_std)
    z = torch.randn(2, 8, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(space.to_model(z), diffusers.LTXPipeline._normalize_latents(z, mean, std, 1.0))
    torch.testing.assert_close(space.to_raw(z), diffusers.LTXPipeline._denormalize_latents(z, mean, std, 1.0))
