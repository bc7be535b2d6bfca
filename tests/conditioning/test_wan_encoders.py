"""Wan's conditioning encoders against diffusers' Wan pipelines: ``conditioning/text`` with ``kind="umt5"``
(``WanPipeline.encode_prompt``) and ``conditioning/wan_image`` (``WanImageToVideoPipeline.encode_image`` and the
condition of its ``prepare_latents``), on the tiny random pipelines of ``zoo.testing.tiny_wan``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import components


diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")
from PIL import Image  # noqa: E402

from components.conditioning.wan_image import penultimate_clip  # noqa: E402
from zoo.testing.tiny_wan import tiny_wan_pipeline  # noqa: E402


PROMPTS = ["a dog  on a\tskateboard", "a cat &amp;amp; a hat", ""]  # whitespace runs, double-escaped HTML, empty


class DiffusersLatents:
    """The latent space diffusers' Wan pipelines use: the VAE posterior mean, then (z − mean) / std per channel."""

    spatial_factor, temporal_factor = 8, 4

    def __init__(self, vae):
        self.vae = vae
        self.mean, self.std = (torch.tensor(vae.config[k]).view(1, -1, 1, 1, 1) for k in ("latents_mean", "latents_std"))

    def encode(self, video):
        return (self.vae.encode(video).latent_dist.mode() - self.mean) / self.std


@pytest.fixture(scope="module")
def i2v():
    return tiny_wan_pipeline("i2v")


def _umt5(pipe):
    enc = components.build("conditioning/text", context_dim=32, kind="umt5", max_length=512)
    enc.load_parts({"text_encoder": pipe.text_encoder, "tokenizer": pipe.tokenizer})
    return enc.eval()


def test_umt5_context_is_diffusers_wan_prompt_embedding():
    """Masked encoding, each prompt trimmed to its tokens and zero-padded to 512, Wan's prompt cleaning:
    [V-code: diffusers pipeline_wan.py _get_t5_prompt_embeds] — the same arithmetic, so equal to rounding."""
    pipe = tiny_wan_pipeline("t2v")
    enc = _umt5(pipe)
    with torch.no_grad():
        ours = enc(PROMPTS)["context"]
        theirs, negative = pipe.encode_prompt(PROMPTS, negative_prompt=[""] * 3, max_sequence_length=512,
                                              device="cpu")
        null = enc.null(3)["context"]
    assert ours.shape == (3, 512, 32)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)
    torch.testing.assert_close(null, negative, atol=1e-6, rtol=0)


def test_umt5_padding_positions_are_zero_and_the_tokens_are_not():
    enc = components.build("conditioning/text", context_dim=16, num_layers=1, num_heads=2, max_length=8, kind="umt5")
    with torch.no_grad():
        context = enc("hi")["context"][0]  # byte tokens: BOS, h, i, then padding
    assert (context[3:] == 0).all() and (context[:3].abs().sum(-1) > 0).all()
    assert isinstance(enc.model, __import__("transformers").UMT5EncoderModel)


def test_wan_image_tokens_are_clip_penultimate_hidden_states(i2v):
    """CLIP's preprocessing in torch on an image at the tower's size: no resize on either side, so the same pixels
    up to the [0, 255] -> [-1, 1] -> [0, 1] rounding; tokens = ``hidden_states[-2]`` of the full tower."""
    enc = components.build("conditioning/wan_image", **components.get_component("conditioning/wan_image").tiny)
    enc.load_parts({"image_encoder": i2v.image_encoder})
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    with torch.no_grad():
        ours = enc(image, num_frames=3)["image_context"]
        theirs = i2v.encode_image(image, "cpu")
    assert ours.shape == theirs.shape == (1, 17, 16)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_wan_image_concat_is_diffusers_i2v_condition(i2v):
    """[mask (4 channels: latent frame 0 given), E([image, zeros × 8])] as ``prepare_latents`` builds it."""
    enc = components.build("conditioning/wan_image", **components.get_component("conditioning/wan_image").tiny)
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    with torch.no_grad():
        ours = enc(image, num_frames=3, latent_space=DiffusersLatents(i2v.vae))["concat"]
        pixels = i2v.video_processor.preprocess(image, height=32, width=32)
        _, theirs = i2v.prepare_latents(pixels, 1, 16, 32, 32, 9, torch.float32, "cpu",
                                        torch.Generator().manual_seed(0))
    assert ours.shape == theirs.shape == (1, 20, 3, 4, 4)
    assert (ours[:, :4, 0] == 1).all() and (ours[:, :4, 1:] == 0).all()
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


def test_wan_image_needs_an_image():
    enc = components.build("conditioning/wan_image", **components.get_component("conditioning/wan_image").tiny)
    with pytest.raises(ValueError, match="image must be given"):
        enc.encode({"image": None}, num_frames=3)
    with pytest.raises(ValueError, match="needs image"):
        enc.encode({}, num_frames=3)


def test_penultimate_clip_shares_the_towers_tensors(i2v):
    full = i2v.image_encoder
    cut = penultimate_clip(full)
    assert cut.config.num_hidden_layers == full.config.num_hidden_layers - 1
    ours, theirs = dict(cut.named_parameters()), dict(full.named_parameters())
    assert all(p.data_ptr() == theirs[name].data_ptr() for name, p in ours.items())
    assert penultimate_clip(cut) is cut


def test_wan_prompt_cleaning_works_without_ftfy():
    """HTML unescaped twice, whitespace runs to one space (diffusers' I2V pipeline needs ftfy for this)."""
    from components.conditioning.text import wan_clean

    assert wan_clean("  a&amp;amp;b \n c ") == "a&b c"
