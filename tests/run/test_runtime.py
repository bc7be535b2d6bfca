"""The sampling runtime (#18): one plan resolved once, one pipeline class, the explicit step context, dtypes, and
the diffusers-style call."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import zoo
from zoo.pipeline import Pipeline


ALL = zoo.list_models()


def _pipe(name, **kwargs):
    torch.manual_seed(0)
    return zoo.create_pipeline(name, "tiny", **kwargs)


# ------------------------------------------------------------------------------------------ plan
def test_resolve_gives_a_frozen_plan_with_the_overrides():
    plan = zoo.resolve("vdm", "tiny", sampler="euler", steps=3, attention_backend="math")
    assert plan.sampling.sampler == "sampler/euler" and plan.sampling.steps == 3 and plan.attention_backend == "math"
    assert plan.sampling.sampler_kwargs == {}  # the recipe's DDIM knobs do not leak into another sampler
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.preset = "paper"
    assert zoo.Plan.from_config(plan.to_config()) == plan


def test_resolve_keeps_the_recipes_sampler_knobs_for_its_own_sampler():
    recipe = zoo.get_recipe("vdm").sampling_for("tiny")
    plan = zoo.resolve("vdm", "tiny", sampler=recipe.sampler.split("/")[1])
    assert plan.sampling.sampler_kwargs == recipe.sampler_kwargs


@pytest.mark.parametrize("kwargs, match", [
    (dict(sampler="eulr"), "sampler: unknown sampler 'eulr'. Did you mean 'euler'"),
    (dict(guidance="cgf"), "guidance: unknown guidance 'cgf'"),
    (dict(attention_backend="flash"), "attention_backend must be one of .* got 'flash'"),
    (dict(steps=0), "steps must be an integer >= 1, got 0"),
])
def test_resolve_refuses_bad_overrides_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        zoo.resolve("vdm", "tiny", **kwargs)


def test_a_cascade_plan_resolves_every_stage_with_the_same_overrides():
    plan = zoo.resolve("imagen_video", "tiny", sampler="euler")
    assert plan.stages and all(p.sampling.sampler == "sampler/euler" for _, p in plan.stages)


def test_one_pipeline_class_for_cascades_and_a_sampler_override_works_on_them():
    """`sample imagen_video --sampler euler` crashed on CascadePipeline.sampling."""
    pipe = _pipe("imagen_video", sampler="euler")
    assert type(pipe) is Pipeline and all(type(p) is Pipeline for _, p in pipe.stages)
    assert pipe.sampler.key == "sampler/euler" and all(p.sampler.key == "sampler/euler" for _, p in pipe.stages)
    out = pipe(num_inference_steps=2, **pipe.example_conditioning(1))
    assert out.shape == (1, *pipe.sample_shape)


# ------------------------------------------------------------------------------------------ determinism
@pytest.mark.parametrize("name", ALL)
def test_the_same_seeded_call_twice_is_bit_identical(name):
    """No state survives a call: guidance/oscillating (Imagen Video) read the sampler's step, not a call count."""
    pipe = _pipe(name)
    cond = pipe.example_conditioning(1, generator=torch.Generator().manual_seed(1))
    first = pipe(num_inference_steps=3, seed=7, **cond)
    second = pipe(num_inference_steps=3, seed=7, **cond)
    assert torch.equal(first, second)


# ------------------------------------------------------------------------------------------ dtypes
# bf16 has a unit roundoff of 2^-8 ≈ 3.9e-3. A 2-step sample of a random tiny net passes the noise through two
# network evaluations of a few layers each; the sampler's own arithmetic is fp32. Relative errors per layer of a few
# roundoffs, summed over ~10 layers and 2 steps, stay below ~0.1 of the sample's RMS; a sample from the wrong
# dtype path (e.g. the conditioning or time dropped, or a cast that saturates) is off by O(1).
BF16_REL_BOUND = 0.1


@pytest.mark.parametrize("name", ALL)
def test_every_recipe_samples_in_bf16_close_to_fp32(name):
    ref_pipe = _pipe(name)
    cond = ref_pipe.example_conditioning(1, generator=torch.Generator().manual_seed(1))
    ref = ref_pipe(num_inference_steps=2, seed=3, **cond)
    pipe = _pipe(name, dtype=torch.bfloat16)
    assert all(p.dtype == torch.bfloat16 for p in pipe.model.parameters())
    out = pipe(num_inference_steps=2, seed=3, **cond)
    assert out.dtype == torch.bfloat16 and out.shape == ref.shape and bool(out.isfinite().all())
    rel = float((out.float() - ref).norm() / ref.norm())
    assert rel < BF16_REL_BOUND, f"{name}: bf16 sample differs from fp32 by {rel:.3g} of its norm"


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
@pytest.mark.parametrize("name", ["vdm", "svd", "sora_dit"])
def test_fp16_and_fp64_pipelines_sample(name, dtype):
    pipe = _pipe(name).to(dtype)
    out = pipe(num_inference_steps=2, **pipe.example_conditioning(1))
    assert out.dtype == dtype and bool(out.isfinite().all())


def test_fp64_pipeline_matches_fp32_to_fp32_roundoff():
    """float64 runs the network and the sampler in float64; fp32 differs by its roundoff (2^-24 ≈ 6e-8 per op;
    1e-4 relative leaves a 1000x margin for a few hundred ops)."""
    ref = _pipe("vdm")(num_inference_steps=3)
    out = _pipe("vdm", dtype=torch.float64)(num_inference_steps=3)
    assert out.dtype == torch.float64
    assert float((out - ref.double()).norm() / ref.double().norm()) < 1e-4


def test_to_moves_parts_built_before_and_after():
    pipe = _pipe("svd")
    vae = pipe.autoencoder
    pipe.to(torch.bfloat16)
    assert next(vae.parameters()).dtype == torch.bfloat16 and pipe.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="dtype must be a floating-point dtype"):
        pipe.to(torch.int8)


# ------------------------------------------------------------------------------------------ the diffusers-style call
def test_deprecated_names_warn_and_equal_the_diffusers_names():
    pipe = _pipe("vdm")
    new = pipe(num_inference_steps=2, num_videos_per_prompt=2)
    with pytest.warns(DeprecationWarning, match="steps= is deprecated; use num_inference_steps="):
        old = pipe(steps=2, batch_size=2)
    assert torch.equal(new, old)


def test_latents_are_the_starting_noise():
    pipe = _pipe("vdm")
    noise = torch.randn(1, *pipe.sample_shape, generator=torch.Generator().manual_seed(5))
    a = pipe(num_inference_steps=2, latents=noise, seed=1)
    b = pipe(num_inference_steps=2, latents=noise, seed=2)  # the seed only feeds ancestral noise (none in DDIM η=0)
    c = pipe(num_inference_steps=2, seed=1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="latents must have shape"):
        pipe(latents=noise[:, :, :2])


def test_output_types_follow_diffusers_conventions():
    pipe = _pipe("svd")
    cond = pipe.example_conditioning(1)
    rgb = pipe(num_inference_steps=2, decode=True, **cond)  # (B, 3, T, H, W) in [-1, 1]
    pt = pipe(num_inference_steps=2, output_type="pt", **cond)
    np_out = pipe(num_inference_steps=2, output_type="np", **cond)
    pil = pipe(num_inference_steps=2, output_type="pil", **cond)
    b, c, t, h, w = rgb.shape
    assert pt.shape == (b, t, c, h, w) and 0 <= float(pt.min()) and float(pt.max()) <= 1
    torch.testing.assert_close(pt, ((rgb.clamp(-1, 1) + 1) / 2).permute(0, 2, 1, 3, 4))
    assert isinstance(np_out, np.ndarray) and np_out.shape == (b, t, h, w, c)
    assert len(pil) == b and len(pil[0]) == t and pil[0][0].size == (w, h) and pil[0][0].mode == "RGB"
    with pytest.raises(ValueError, match="output_type must be one of"):
        pipe(output_type="mp4", **cond)


def test_height_and_width_are_decoded_pixels():
    pipe = _pipe("svd")
    f = pipe.spatial_factor
    assert f > 1
    cond = pipe.example_conditioning(1, height=4, width=6)
    video = pipe(num_inference_steps=1, height=4 * f, width=6 * f, decode=True, **cond)
    assert video.shape[-2:] == (4 * f, 6 * f)
    with pytest.raises(ValueError, match=f"height must be a multiple of {f} .* got {4 * f + 1}"):
        pipe(height=4 * f + 1, **cond)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_frames=0), "num_frames must be an integer >= 1, got 0"),
    (dict(num_inference_steps=0), "num_inference_steps must be an integer >= 1, got 0"),
    (dict(num_videos_per_prompt=0), "num_videos_per_prompt must be an integer >= 1, got 0"),
    (dict(num_inference_step=2), "unknown argument 'num_inference_step'. Did you mean 'num_inference_steps'"),
    (dict(guidance_scale=7.5), "samples without guidance"),
])
def test_bad_call_arguments_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _pipe("vdm")(**kwargs)


def test_guidance_scale_is_diffusers_s_and_at_most_one_turns_guidance_off():
    pipe = _pipe("modelscope_t2v")
    cond = pipe.example_conditioning(1)
    off = pipe(num_inference_steps=2, guidance=False, **cond)
    assert torch.equal(pipe(num_inference_steps=2, guidance_scale=1.0, **cond), off)
    s9 = pipe(num_inference_steps=2, guidance_scale=9.0, **cond)
    s3 = pipe(num_inference_steps=2, guidance_scale=3.0, **cond)
    assert not torch.equal(s9, s3) and not torch.equal(s3, off)
    # the recipe's own scale equals passing it explicitly
    recipe_scale = pipe.sampling.guidance_kwargs["scale"]
    assert pipe.sampling.guidance_kwargs.get("form", "scale") == "scale"
    assert torch.equal(pipe(num_inference_steps=2, guidance_scale=recipe_scale, **cond),
                       pipe(num_inference_steps=2, **cond))


def test_a_list_of_prompts_batches_and_negative_prompts_change_the_unconditional_branch():
    pipe = _pipe("modelscope_t2v")
    out = pipe(["a dog", "a cat"], num_inference_steps=2, num_videos_per_prompt=2)
    assert out.shape[0] == 4
    single = pipe("a dog", num_inference_steps=2)
    assert torch.equal(pipe(["a dog"], num_inference_steps=2), single)
    negative = pipe("a dog", negative_prompt="blurry", num_inference_steps=2)
    assert not torch.equal(negative, single)
    with pytest.raises(ValueError, match="negative_prompt needs a prompt"):
        pipe(negative_prompt="blurry")


# ------------------------------------------------------------------------------------------ attention backend
def test_the_plans_attention_backend_is_set_on_every_net_and_recorded_in_its_config():
    from components import build, config_of
    from components.attention import attention_backends_of

    pipe = _pipe("imagen_video", attention_backend="math")
    for model in [pipe.model, *(p.model for _, p in pipe.stages)]:
        assert attention_backends_of(model) == {"math"}
        assert attention_backends_of(build(config_of(model))) == {"math"}


def test_a_per_call_attention_backend_gives_the_same_sample_and_is_undone():
    from components.attention import attention_backends_of

    pipe = _pipe("vdm")
    ref = pipe(num_inference_steps=2)
    out = pipe(num_inference_steps=2, attention_backend="math")
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)  # fp32 kernels: math vs SDPA roundoff only
    assert attention_backends_of(pipe.model) == {"auto"}


def test_the_cli_takes_an_attention_backend_and_refuses_an_unknown_one(tmp_path, capsys):
    from zoo.cli import main

    out = tmp_path / "o.gif"
    assert main(["sample", "vdm", "--steps", "1", "--attention-backend", "math", "--out", str(out),
                 "--no-progress"]) == 0 and out.is_file()
    assert main(["sample", "vdm", "--attention-backend", "mathh", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--attention-backend mathh" in err and "Did you mean 'math'" in err and "Traceback" not in err


def test_the_cli_samples_a_cascade_with_another_sampler(tmp_path):
    from zoo.cli import main

    out = tmp_path / "o.gif"
    assert main(["sample", "imagen_video", "--steps", "1", "--sampler", "euler", "--out", str(out),
                 "--no-progress"]) == 0 and out.is_file()


@pytest.mark.parametrize("name, kwargs, match", [
    ("svd", dict(height=10, width=8), "height: svd samples 5 latent pixels there, which its network needs to be a "
                                      r"multiple of 2 \(a height that is a multiple of 4\); got height=10"),
    ("sora_dit", dict(num_frames=3), "num_frames: sora_dit samples 3 frames there, which its network needs to be a "
                                     "multiple of 2"),
])
def test_a_size_the_network_cannot_divide_is_refused_before_sampling(name, kwargs, match, monkeypatch):
    pipe = _pipe(name)
    cond = pipe.example_conditioning(1, num_frames=kwargs.get("num_frames"))

    def reached(*args, **kw):
        raise AssertionError("the sampler ran")

    monkeypatch.setattr(pipe, "sampler", reached)
    with pytest.raises(ValueError, match=match):
        pipe(num_inference_steps=1, **kwargs, **cond)


def test_guidance_overrides_resolve_into_the_plan():
    recipe = zoo.get_recipe("modelscope_t2v").sampling_for("tiny")
    plan = zoo.resolve("modelscope_t2v", "tiny", guidance_kwargs={"scale": 2.0})
    assert plan.sampling.guidance == recipe.guidance
    assert plan.sampling.guidance_kwargs == {**recipe.guidance_kwargs, "scale": 2.0}
    assert zoo.resolve("modelscope_t2v", "tiny", guidance=False).sampling.guidance is None
    with pytest.raises(ValueError, match="guidance_kwargs: this plan of 'modelscope_t2v' samples without guidance"):
        zoo.resolve("modelscope_t2v", "tiny", guidance=False, guidance_kwargs={"scale": 2.0})
    pipe = _pipe("modelscope_t2v", guidance_kwargs={"scale": 2.0})
    cond = pipe.example_conditioning(1)
    assert torch.equal(pipe(num_inference_steps=2, **cond), _pipe("modelscope_t2v")(num_inference_steps=2,
                                                                                     guidance_scale=2.0, **cond))
