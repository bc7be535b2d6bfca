"""HunyuanVideo with its real clients: our transformer inside diffusers' own ``HunyuanVideoPipeline`` (through
``DiffusersTransformer``), and a ``HunyuanVideoPipeline`` ``save_pretrained`` folder loaded with ``--weights DIR``
(``load_pretrained_folder``: converted transformer and VAE, the LLaMA text encoder into ``conditioning/llama_text``,
CLIP-L into ``conditioning/clip_pooled``) and sampled through ``zoo``'s pipeline. Offline, fp32, tiny random weights
(``zoo.testing.tiny_hunyuan_video``: 3-layer LLaMA, so hidden state −3 is not the last; the template's crop at 95).

Time grid: diffusers' pipeline passes ``sigmas`` = the unshifted linspace(1, 0, N + 1)[:-1] by default; the recipe
declares the same grid (``spacing="trailing"`` of ``schedule/rectified_flow``), so the end-to-end comparison runs
diffusers' pipeline with its own default grid.

Error budget (2 Euler steps, 9 frames of 32×32, embedded guidance 6, no CFG): one transformer call differs by
δ ≈ 1e-6 (fp32 summation order; the adapter test below: ≤ 1e-5 asserted); our first level is t = 1 − 1e-6
(``T_EPS``: σ_VE finite) where diffusers' is 1, moving x̂0 = x − t v by 1e-6 |v|; an Euler step carries an input
error with factor ≤ 1 + |Δt| L (L the net's Lipschitz constant, O(1) at this size), the VAE decoder by < 4:
≤ ~1e-4 for the frames, 1e-4 asserted; measured 4.6e-5 (latents), 2.7e-5 (frames).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zoo


diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from zoo.convert.diffusers_adapter import DiffusersTransformer  # noqa: E402
from zoo.convert.folder import load_pretrained_folder  # noqa: E402
from zoo.testing.tiny_hunyuan_video import tiny_hunyuan_video_pipeline  # noqa: E402


ATOL = 1e-4
PROMPT = "a dog on a skateboard"
SIZE = dict(num_frames=9, height=32, width=32, num_inference_steps=2)  # 3 × 4×4 latents


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(diffusers' pipeline, its save_pretrained folder)."""
    root = tmp_path_factory.mktemp("hunyuan_video")
    pipe = tiny_hunyuan_video_pipeline(root / "vocab")
    pipe.save_pretrained(root / "hunyuan_video", safe_serialization=True)
    return pipe, root / "hunyuan_video"


def _ours(folder):
    parts = load_pretrained_folder("hunyuan_video", folder, preset="tiny")
    pipe = zoo.create_pipeline("hunyuan_video", "tiny", model=parts.pop("model"))
    pipe.use_parts(parts)
    return pipe


def _noise():
    return torch.randn(1, 4, 3, 4, 4, generator=torch.Generator().manual_seed(0))


def test_our_transformer_in_diffusers_hunyuan_video_pipeline_gives_its_frames(saved):
    """``pipe.transformer`` replaced by ``DiffusersTransformer`` around the converted net (pooled projections,
    attention mask and guidance mapped): diffusers' own sampler, text encoders and VAE give the same frames to 1e-4
    (measured 1.5e-6)."""
    pipe = diffusers.HunyuanVideoPipeline.from_pretrained(saved[1], local_files_only=True)
    kw = dict(prompt=PROMPT, **SIZE, output_type="pt")
    expected = pipe(**kw, generator=torch.Generator().manual_seed(0)).frames
    pipe.transformer = DiffusersTransformer.from_diffusers(pipe.transformer)
    got = pipe(**kw, generator=torch.Generator().manual_seed(0)).frames
    assert got.shape == expected.shape == (1, 9, 3, 32, 32) and expected.std() > 0.01
    err = float((got - expected).abs().max())
    assert err <= ATOL, f"frames max |Δ| {err:.2e}"


def test_hunyuan_video_folder_encodes_prompts_as_diffusers(saved):
    """``pipe.encode``: context (LLaMA hidden state −3, template cropped at 95), its mask and CLIP's pooled vector
    equal diffusers' ``encode_prompt`` (same modules, the same ops: 1e-6)."""
    theirs, folder = saved
    ours = _ours(folder)
    prompts = [PROMPT, "a panda eating bamboo at night"]
    cond = ours.encode(prompt=prompts, batch=2)
    with torch.no_grad():
        embeds, pooled, mask = theirs.encode_prompt(prompts)
    assert cond["context"].shape == (2, 256, 16) and cond["added_cond"].shape == (2, 8)
    torch.testing.assert_close(cond["context"], embeds, atol=1e-6, rtol=0)
    torch.testing.assert_close(cond["added_cond"], pooled, atol=1e-6, rtol=0)
    assert torch.equal(cond["context_mask"], mask.long()) and cond["context_mask"].sum(1).tolist() == [7, 8]


@pytest.mark.parametrize("output_type", ["latent", "pt"])
def test_hunyuan_video_folder_samples_diffusers_pipelines_video(saved, output_type):
    """``--weights DIR`` through our pipeline (prompt in, our encoders, Euler on the shifted grid, the net's
    embedded guidance 6) equals ``HunyuanVideoPipeline`` on the same noise with its default grid: latents and frames
    to 1e-4 (module docstring)."""
    theirs, folder = saved
    noise = _noise()
    expected = theirs(prompt=PROMPT, **SIZE, latents=noise, output_type=output_type).frames
    got = _ours(folder)(prompt=PROMPT, **SIZE, latents=noise, output_type=output_type)
    assert got.shape == expected.shape and expected.std() > 0.01
    err = float((got - expected).abs().max())
    assert err <= ATOL, f"{output_type}: max |Δ| {err:.2e}"


def test_sample_cli_with_a_hunyuan_video_folder_writes_the_api_frames(saved, tmp_path, capsys):
    from PIL import Image

    from zoo.cli import main
    from zoo.export import save_png_strip

    out = tmp_path / "cli.png"
    assert main(["sample", "hunyuan_video", "--preset", "tiny", "--weights", str(saved[1]), "--prompt", PROMPT,
                 "--out", str(out), "--no-progress"]) == 0
    assert "random" not in capsys.readouterr().err  # every keyword came from the prompt or the net's default
    save_png_strip(_ours(saved[1])(prompt=PROMPT, seed=0, decode=True)[0], tmp_path / "api.png")
    cli, api = (np.asarray(Image.open(p), dtype=np.int16) for p in (out, tmp_path / "api.png"))
    assert cli.shape == api.shape and api.std() > 5
    assert np.abs(cli - api).max() <= 1


@pytest.mark.parametrize("name, found", [("cogvideox_5b", "HunyuanVideoTransformer3DModel"),
                                         ("wan2_1_t2v_1_3b", "HunyuanVideoTransformer3DModel")])
def test_a_hunyuan_video_folder_is_refused_by_other_recipes(saved, name, found):
    with pytest.raises(ValueError, match=f"weights folder .*hunyuan_video: transformer/ holds a {found}, the recipe "
                                         "expects"):
        load_pretrained_folder(name, saved[1], preset="tiny")


def test_a_folder_of_another_model_is_refused_naming_what_it_has(tmp_path):
    """A CogVideoX-like folder (transformer, vae, one text encoder) lacks HunyuanVideo's CLIP: one line naming the
    folder, the missing subfolders and what the folder has, before anything is loaded."""
    for sub in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        (tmp_path / sub).mkdir()
    with pytest.raises(ValueError) as err:
        load_pretrained_folder("hunyuan_video", tmp_path, preset="tiny")
    message = str(err.value)
    assert "\n" not in message and str(tmp_path) in message
    assert "has no text_encoder_2/, tokenizer_2/" in message and "text_encoder_2/ (CLIPTextModel)" in message
    assert "the folder has scheduler, text_encoder, tokenizer, transformer, vae" in message
