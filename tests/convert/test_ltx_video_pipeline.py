"""LTX-Video with its real clients: our transformer inside diffusers' own ``LTXPipeline`` through
``DiffusersTransformer`` (padded T5 text, so the ``encoder_attention_mask`` -> ``context_mask`` path is exercised), and
an ``LTXPipeline`` ``save_pretrained`` folder loaded with ``--weights DIR`` (``load_pretrained_folder``) and sampled
through ``zoo``'s pipeline (the CLI's ``--weights`` run: tests/convert/test_weights_folder.py). Offline, fp32, tiny random weights (``zoo.testing.tiny_ltx_video``).

Error budget of the frames comparison (2 Euler steps, guidance 3, 64×64 × 9 frames): one transformer call differs by
δ ≤ 3e-5 (the rotary angles: diffusers' fp32 vs our fp64 tables cast to fp32; tests/convert/test_ltx_video_convert.py);
guidance multiplies it by |s| + |1 − s| = 5, each Euler step adds Δσ·that (Δσ ≤ 1), the tiny VAE decoder (gain < 4)
and the [0, 1] postprocessing (× 1/2): ≤ ~1e-3 δ-worst in theory, measured 6.1e-6; asserted 1e-4. The VAE's decoder
injects noise from the global RNG (diffusers draws it without a generator), so both runs seed it alike.
"""

from __future__ import annotations

import pytest
import torch

import zoo


diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from zoo.convert.diffusers_adapter import DiffusersTransformer  # noqa: E402
from zoo.convert.folder import load_pretrained_folder  # noqa: E402
from zoo.testing.tiny_ltx_video import tiny_ltx_video_pipeline  # noqa: E402


ATOL = 1e-4
PROMPT = "a dog on a skateboard"
# 32 T5 tokens: the tiny tokenizer's one token per character leaves both prompts padded
CALL = dict(prompt=PROMPT, negative_prompt="blurry", num_frames=9, height=64, width=64, num_inference_steps=2,
            guidance_scale=3.0, max_sequence_length=32, output_type="pt")


def _frames(pipe, **kw) -> torch.Tensor:
    torch.manual_seed(1)  # the decoder's injected noise (global RNG)
    return pipe(**{**CALL, **kw}, generator=torch.Generator().manual_seed(0)).frames


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("ltx") / "ltx_video"
    tiny_ltx_video_pipeline().save_pretrained(path, safe_serialization=True)
    return path


def test_our_transformer_in_diffusers_ltx_pipeline_gives_its_frames():
    """``pipe.transformer`` replaced by ``DiffusersTransformer`` around the converted net: diffusers' frames to 1e-4
    (budget in the module docstring). Measured: 6.1e-6."""
    pipe = tiny_ltx_video_pipeline()
    pipe.set_progress_bar_config(disable=True)
    mask = pipe.encode_prompt(PROMPT, max_sequence_length=32, do_classifier_free_guidance=False)[1]
    assert 0 < int(mask.sum()) < mask.numel()  # the text really is padded
    expected = _frames(pipe)
    pipe.transformer = DiffusersTransformer.from_diffusers(pipe.transformer)
    got = _frames(pipe)
    assert got.shape == expected.shape == (1, 9, 3, 64, 64) and expected.std() > 0.01
    err = float((got - expected).abs().max())
    assert err <= ATOL, f"frames max |Δ| {err:.2e}"


def test_a_frame_rate_other_than_the_nets_is_refused_not_ignored():
    """LTXPipeline's ``frame_rate`` reaches the transformer as ``rope_interpolation_scale``; the converted net's frame
    rate (25) is built in, so another is refused naming both."""
    pipe = tiny_ltx_video_pipeline()
    pipe.set_progress_bar_config(disable=True)
    pipe.transformer = DiffusersTransformer.from_diffusers(pipe.transformer)
    with pytest.raises(ValueError, match=r"rope_interpolation_scale must be the adapted net's \(0.32, 32.0, 32.0\)"):
        _frames(pipe, frame_rate=12)


# ---------------------------------------------------------------------- --weights DIR


def test_ltx_video_folder_loads_and_samples_through_our_pipeline(folder):
    """The folder's parts in ``zoo``'s pipeline: the converted transformer at the preset's conventions (flow time
    × 1000, 25 fps), the VAE with its ``latents_mean`` / ``latents_std`` buffers as the latent normalisation, T5 text
    encoder + tokenizer whose tokens and mask are diffusers' own ``encode_prompt``'s; text in, decoded frames out."""
    theirs = diffusers.LTXPipeline.from_pretrained(folder, local_files_only=True)
    parts = load_pretrained_folder("ltx_video", folder, preset="tiny")
    norm = parts["latent_normalization"]
    torch.testing.assert_close(torch.tensor(norm["latents_mean"]), theirs.vae.latents_mean, atol=0, rtol=0)
    torch.testing.assert_close(torch.tensor(norm["latents_std"]), theirs.vae.latents_std, atol=0, rtol=0)
    assert norm["latents_std"] != (1.0,) * 8  # the stand-in statistics, not a fresh VAE's
    assert type(parts["text_encoder"]).__name__ == "T5EncoderModel"
    pipe = zoo.create_pipeline("ltx_video", "tiny", model=parts.pop("model"))
    pipe.use_parts(parts)
    cond = pipe.encode(prompt=PROMPT)
    context, mask, _, _ = theirs.encode_prompt(PROMPT, do_classifier_free_guidance=False)
    torch.testing.assert_close(cond["context"], context, atol=1e-5, rtol=0)
    assert torch.equal(cond["context_mask"].bool(), mask)
    latents = pipe(prompt=PROMPT, seed=0, output_type="latent")
    assert latents.shape == (1, 8, 3, 4, 4)
    # our latent space decodes as LTXPipeline does: z·std / scaling_factor + mean, then the VAE at timestep 0
    with torch.no_grad():
        torch.manual_seed(3)
        video = pipe.decode(latents)
        torch.manual_seed(3)
        raw = theirs._denormalize_latents(latents, theirs.vae.latents_mean, theirs.vae.latents_std,
                                          theirs.vae.config.scaling_factor)
        expected = theirs.vae.decode(raw, torch.tensor([0.0]), return_dict=False)[0]
    assert video.shape == expected.shape == (1, 3, 17, 128, 128) and expected.std() > 0.01
    torch.testing.assert_close(video, expected, atol=1e-4, rtol=0)


def test_a_folder_of_another_model_is_refused(folder):
    with pytest.raises(ValueError, match="transformer/ holds a LTXVideoTransformer3DModel, the recipe expects "
                                         "MochiTransformer3DModel"):
        load_pretrained_folder("mochi", folder, preset="tiny")
