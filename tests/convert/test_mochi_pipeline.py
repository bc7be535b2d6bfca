"""Mochi 1 with its real clients: our transformer inside diffusers' own ``MochiPipeline`` (through
``DiffusersTransformer``, both as converted and as the recipe's flow-time net), and a ``MochiPipeline``
``save_pretrained`` folder loaded with ``--weights DIR`` (``load_pretrained_folder``: converted transformer and VAE,
the VAE's per-channel ``latents_mean`` / ``latents_std``, T5 into ``conditioning/text`` with ``mask="encode"``) and
sampled through ``zoo``'s pipeline with classifier-free guidance. Offline, fp32, tiny random weights
(``zoo.testing.tiny_mochi``: 12 latent channels, as MochiPipeline's decode assumes; statistics off identity).

Unconditional branch: MochiPipeline encodes the negative prompt "" as the tokenizer does (one ``</s>``, mask 1 then
0s) unless ``force_zeros_for_empty_prompt`` (default false) zeros the ids and the mask; ``conditioning/text``'s null is
the former, so the folder loader refuses the latter (tested).

Error budget (2 Euler steps, 7 frames of 32×32, 2 × 4×4 latents, CFG 4.5): one transformer call differs by
δ ≤ 1e-6 (fp32; tests/convert/test_mochi_convert.py measures ≤ 5e-7); CFG amplifies a branch difference by
≤ 2w + 1 = 10; our first level is t = 1 − 1e-6 (σ_VE finite) where diffusers' timestep is 0, moving the network's
timestep by 1e-3 (measured 5e-6 end-to-end in test_mochi_convert); an Euler step carries an input error with factor
≤ 1 + |Δt| L (L = O(1) at this size), the de-normalisation by max std 1.25, the VAE decoder by < 4: ≤ ~1e-4 for the
frames, 1e-4 asserted.
"""

from __future__ import annotations

import pytest
import torch

import zoo


diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from zoo.convert.diffusers_adapter import DiffusersTransformer  # noqa: E402
from zoo.convert.folder import load_pretrained_folder  # noqa: E402
from zoo.testing.tiny_mochi import tiny_mochi_pipeline  # noqa: E402


ATOL = 1e-4
PROMPT = "a dog on a skateboard"
SIZE = dict(num_frames=7, height=32, width=32, num_inference_steps=2)  # 2 × 4×4 latents


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(diffusers' pipeline, its save_pretrained folder)."""
    root = tmp_path_factory.mktemp("mochi")
    pipe = tiny_mochi_pipeline()
    pipe.save_pretrained(root / "mochi", safe_serialization=True)
    return pipe, root / "mochi"


def _ours(folder):
    parts = load_pretrained_folder("mochi", folder, preset="tiny")
    pipe = zoo.create_pipeline("mochi", "tiny", model=parts.pop("model"))
    pipe.use_parts(parts)
    return pipe


def _noise():
    return torch.randn(1, 12, 2, 4, 4, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("flow_time", [False, True], ids=["converted", "recipe_net"])
def test_our_transformer_in_diffusers_mochi_pipeline_gives_its_frames(saved, flow_time):
    """``pipe.transformer`` replaced by ``DiffusersTransformer`` around the converted net (``flow_time=False``:
    diffusers' convention) or the recipe's net (flow time σ in, ε − x0 out; the adapter reverses the time and the
    sign): diffusers' own sampler with CFG, T5 and VAE give the same frames to 1e-4 (measured 3e-7 both)."""
    pipe = diffusers.MochiPipeline.from_pretrained(saved[1], local_files_only=True)
    kw = dict(prompt=PROMPT, **SIZE, output_type="pt", latents=_noise())
    expected = pipe(**kw).frames
    adapted = DiffusersTransformer.from_diffusers(pipe.transformer)
    if flow_time:
        import components

        net = components.build({**adapted.model.to_config(), "flow_time": True, "time_scale": 1000.0})
        net.load_state_dict(adapted.model.state_dict())
        adapted = DiffusersTransformer(net.eval(), pipe.transformer.config)
    pipe.transformer = adapted
    got = pipe(**kw).frames
    assert got.shape == expected.shape == (1, 7, 3, 32, 32) and expected.std() > 0.01
    err = float((got - expected).abs().max())
    assert err <= ATOL, f"frames max |Δ| {err:.2e}"


def test_mochi_folder_encodes_prompts_and_the_empty_prompt_as_diffusers(saved):
    """``pipe.encode`` (T5 under its mask, the mask as ``context_mask``) equals diffusers' ``encode_prompt`` for the
    prompt and for the negative prompt "" (the unconditional branch): same modules and ops, 1e-6."""
    theirs, folder = saved
    ours = _ours(folder)
    prompts = [PROMPT, ""]
    cond = ours.encode(prompt=prompts, batch=2)
    with torch.no_grad():
        embeds, mask, _, _ = theirs.encode_prompt(prompts, do_classifier_free_guidance=False)
    assert cond["context"].shape == (2, 256, 16)
    torch.testing.assert_close(cond["context"], embeds, atol=1e-6, rtol=0)
    assert torch.equal(cond["context_mask"].bool(), mask) and cond["context_mask"].sum(1).tolist() == [23, 1]
    null = ours.encoders()["conditioning/text"].null(1)
    torch.testing.assert_close(null["context"], embeds[1:], atol=1e-6, rtol=0)


@pytest.mark.parametrize("output_type", [pytest.param("latent", marks=pytest.mark.slow), "pt"])
def test_mochi_folder_samples_diffusers_pipelines_video(saved, output_type):
    """``--weights DIR`` through our pipeline (prompt in, T5 with its mask, CFG 4.5 against the empty prompt, Euler
    on the linear-quadratic grid, the folder's per-channel latent statistics) equals ``MochiPipeline`` on the same
    noise: latents and frames to 1e-4 (module docstring; measured 2.8e-5 on latents of max 4.4, 2.5e-6 on frames; the
    latent case is marked slow, the frames carry its error)."""
    theirs, folder = saved
    noise = _noise()
    expected = theirs(prompt=PROMPT, **SIZE, latents=noise, output_type=output_type).frames
    got = _ours(folder)(prompt=PROMPT, **SIZE, latents=noise, output_type=output_type)
    assert got.shape == expected.shape and expected.std() > 0.01
    err = float((got - expected).abs().max())
    assert err <= ATOL, f"{output_type}: max |Δ| {err:.2e}"


def test_the_recipe_declares_t5_under_its_mask_sized_to_the_net():
    """``conditioning/text``: T5, 256 tokens (MochiPipeline's max_sequence_length), ``mask="encode"``; its width is the
    net's ``context_dim``: T5-XXL's 4096 for the paper preset, 16 for the tiny one."""
    recipe = zoo.get_recipe("mochi")
    assert recipe.encoders["context"] == recipe.encoders["context_mask"] == (
        "conditioning/text", {"kind": "t5", "max_length": 256, "mask": "encode"})
    assert recipe.preset("paper").config["context_dim"] == 4096
    encoder = zoo.create_pipeline("mochi", "tiny").encoders()["conditioning/text"]
    assert (encoder.context_dim, encoder.kind, encoder.mask, encoder.max_length) == (16, "t5", "encode", 256)


def test_a_mochi_folder_that_zeros_the_empty_prompt_is_refused(saved, tmp_path):
    """``force_zeros_for_empty_prompt=true`` makes diffusers guide against zeroed ids and an all-false mask, which
    conditioning/text's null (the tokenizer's "") is not: such a folder is refused with one line naming the folder and
    the setting, before anything is loaded."""
    import json
    import shutil

    zeroing = tiny_mochi_pipeline(force_zeros_for_empty_prompt=True)
    with torch.no_grad():
        _, zero_mask = zeroing._get_t5_prompt_embeds("")
        _, mask = saved[0]._get_t5_prompt_embeds("")
    assert not zero_mask.any() and mask.sum() == 1

    folder = tmp_path / "mochi"
    shutil.copytree(saved[1], folder)
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({**index, "force_zeros_for_empty_prompt": True}))
    with pytest.raises(ValueError, match="force_zeros_for_empty_prompt=true") as err:
        load_pretrained_folder("mochi", folder, preset="tiny")
    assert "\n" not in str(err.value) and str(folder) in str(err.value)


@pytest.mark.parametrize("name, found", [("hunyuan_video", "MochiTransformer3DModel"),
                                         ("cogvideox_5b", "MochiTransformer3DModel")])
def test_a_mochi_folder_is_refused_by_other_recipes(saved, name, found):
    with pytest.raises(ValueError, match=f"weights folder .*mochi.*(transformer/ holds a {found}|has no )") as err:
        load_pretrained_folder(name, saved[1], preset="tiny")
    assert "\n" not in str(err.value)


def test_a_folder_of_another_model_is_refused_by_mochi(tmp_path):
    """A HunyuanVideo-like transformer/ in a Mochi-shaped folder: one line naming the folder, the subfolder, what it
    holds and what mochi expects."""
    import json

    for sub in ("transformer", "vae", "text_encoder", "tokenizer"):
        (tmp_path / sub).mkdir()
    (tmp_path / "transformer" / "config.json").write_text(json.dumps(
        {"_class_name": "HunyuanVideoTransformer3DModel"}))
    with pytest.raises(ValueError) as err:
        load_pretrained_folder("mochi", tmp_path, preset="tiny")
    message = str(err.value)
    assert "\n" not in message and str(tmp_path) in message
    assert "transformer/ holds a HunyuanVideoTransformer3DModel, the recipe expects MochiTransformer3DModel" in message
