"""CogVideoX (and HunyuanVideo) with their real clients: our transformer inside diffusers' own ``CogVideoXPipeline``
through ``DiffusersTransformer``, and a CogVideoX ``save_pretrained`` folder loaded with ``--weights DIR``
(``load_pretrained_folder``) and sampled through ``zoo``'s pipeline. Offline, fp32, tiny random weights
(``zoo.testing.tiny_cogvideox``).

Error budget of the frames comparison (2 DDIM steps, guidance 6, 64×64 × 9 frames): one transformer call differs by
δ ≈ 1e-6 (fp32 rounding in another order); guidance multiplies it by |s| + |1 − s| = 11, the v-prediction DDIM step
by ≤ ~2 per step, the tiny VAE decoder by < 4: ≤ ~2e-4 δ-worst; measured ≤ 5.3e-6; asserted 1e-4.
"""

from __future__ import annotations

import pytest
import torch

import zoo


diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from zoo.convert.diffusers_adapter import DiffusersTransformer, ZooModel  # noqa: E402
from zoo.convert.folder import load_pretrained_folder  # noqa: E402
from zoo.testing.tiny_cogvideox import tiny_cogvideox_pipeline  # noqa: E402
from zoo.testing.tiny_hunyuan_video import tiny_hunyuan_video_transformer  # noqa: E402


ATOL = 1e-4
SIZE = dict(num_frames=9, height=64, width=64)


def _frames(pipe) -> torch.Tensor:
    return pipe(prompt="a dog on a skateboard", negative_prompt="blurry", **SIZE, num_inference_steps=2,
                guidance_scale=6.0, output_type="pt", generator=torch.Generator().manual_seed(0)).frames


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("cogvideox") / "cogvideox_5b"
    tiny_cogvideox_pipeline("5b").save_pretrained(path, safe_serialization=True)
    return path


@pytest.mark.parametrize("variant", ["2b", "5b"])
def test_our_transformer_in_diffusers_cogvideox_pipeline_gives_its_frames(variant):
    """``pipe.transformer`` replaced by ``DiffusersTransformer`` around the converted net (which recomputes the 5B's
    rotary tables the pipeline passes as ``image_rotary_emb``): diffusers' frames to 1e-4. Measured: 5.0e-6 (2B),
    5.3e-6 (5B)."""
    pipe = tiny_cogvideox_pipeline(variant)
    expected = _frames(pipe)
    pipe.transformer = DiffusersTransformer.from_diffusers(pipe.transformer)
    got = _frames(pipe)
    assert got.shape == expected.shape == (1, 9, 3, 64, 64) and expected.std() > 0.01
    err = float((got - expected).abs().max())
    assert err <= ATOL, f"{variant}: frames max |Δ| {err:.2e}"


def test_cogvideox_adapter_takes_frames_first_and_refuses_unknown_keywords():
    pipe = tiny_cogvideox_pipeline("5b")
    adapted = DiffusersTransformer.from_diffusers(pipe.transformer)
    x, context = torch.randn(1, 3, 4, 8, 8), torch.randn(1, 226, 32)  # (B, T, C, H, W)
    with torch.no_grad(), adapted.cache_context("cond_uncond"):
        out = adapted(hidden_states=x, timestep=torch.tensor([500]), encoder_hidden_states=context,
                      image_rotary_emb=None, return_dict=False)[0]
    assert out.shape == x.shape
    with pytest.raises(ValueError, match="ofs"):
        adapted(x, 1.0, context, ofs=torch.ones(1))


def test_zoo_model_refuses_a_net_whose_pipeline_computes_its_inputs():
    with pytest.raises(ValueError, match="class_name must be one of"):
        ZooModel(tiny_cogvideox_pipeline("5b").transformer)


def test_hunyuan_video_adapter_maps_pooled_mask_and_guidance():
    """``HunyuanVideoTransformer3DModel``'s keywords: pooled_projections -> added_cond, encoder_attention_mask ->
    context_mask, guidance (1000·w) passed through; the converted net equals diffusers' call to 1e-5."""
    ref = tiny_hunyuan_video_transformer()
    adapted = DiffusersTransformer.from_diffusers(ref)
    cfg = ref.config
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, cfg.in_channels, 3, 4, 4, generator=g)
    context = torch.randn(1, 6, cfg.text_embed_dim, generator=g)
    pooled = torch.randn(1, cfg.pooled_projection_dim, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    kw = dict(encoder_hidden_states=context, encoder_attention_mask=mask, pooled_projections=pooled,
              guidance=torch.tensor([6000.0]))
    with torch.no_grad():
        expected = ref(hidden_states=x, timestep=torch.tensor([700.0]), return_dict=False, **kw)[0]
        got = adapted(hidden_states=x, timestep=torch.tensor([700.0]), return_dict=False, **kw)[0]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


# ---------------------------------------------------------------------- --weights DIR


def test_cogvideox_folder_loads_and_samples_through_our_pipeline(folder):
    """The folder's parts (converted transformer and VAE, the VAE's scaling factor, T5 text encoder + tokenizer) in
    ``zoo``'s pipeline: text in, decoded frames out; the text tokens are diffusers' own ``encode_prompt``'s."""
    parts = load_pretrained_folder("cogvideox_5b", folder, preset="tiny")
    assert parts["latent_normalization"] == {"scaling_factor": pytest.approx(1.15258426)}
    assert type(parts["text_encoder"]).__name__ == "T5EncoderModel"
    pipe = zoo.create_pipeline("cogvideox_5b", "tiny", model=parts.pop("model"))
    pipe.use_parts(parts)
    context = pipe.encode(prompt="a dog on a skateboard")["context"]
    theirs, _ = diffusers.CogVideoXPipeline.from_pretrained(folder, local_files_only=True).encode_prompt(
        "a dog on a skateboard", do_classifier_free_guidance=False)
    torch.testing.assert_close(context, theirs, atol=1e-5, rtol=0)
    video = pipe(prompt="a dog on a skateboard", seed=0, decode=True)
    assert video.shape == (1, 3, 9, 32, 32) and torch.isfinite(video).all() and video.std() > 0.01


def test_a_folder_of_the_other_cogvideox_is_refused(folder):
    with pytest.raises(ValueError, match="pos_embed='sincos_3d' \\(the folder's net has 'rope_3d'\\)"):
        load_pretrained_folder("cogvideox_2b", folder, preset="tiny")


def test_a_folder_of_another_model_is_refused(folder):
    with pytest.raises(ValueError, match="transformer/ holds a CogVideoXTransformer3DModel, the recipe expects "
                                         "WanTransformer3DModel"):
        load_pretrained_folder("wan2_1_t2v_1_3b", folder, preset="tiny")
