"""Our converted U-Nets inside diffusers' own pipelines, unchanged, and diffusers' U-Nets inside ours.

``StableVideoDiffusionPipeline`` and ``TextToVideoSDPipeline`` are built offline from tiny random components
(``zoo.convert.tiny_pipelines``); with ``pipe.unet`` replaced by ``DiffusersUNet`` around ``zoo.from_diffusers(unet)``
the same seed gives the same frames as diffusers' own U-Net (<= 1e-4, fp32). The reverse: ``zoo.create_pipeline``
driving diffusers' U-Net through ``ZooUNet`` gives the frames of our pipeline with our converted U-Net.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zoo
from zoo.convert.diffusers_adapter import DiffusersUNet, ZooUNet


diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")
from zoo.convert.tiny_pipelines import tiny_svd_pipeline, tiny_t2v_pipeline  # noqa: E402


def _frames(pipe, **kwargs) -> torch.Tensor:
    return pipe(**kwargs, num_frames=3, height=8, width=8, num_inference_steps=2, output_type="pt",
                generator=torch.Generator().manual_seed(0)).frames


@pytest.fixture(scope="module")
def svd():
    return tiny_svd_pipeline()


@pytest.fixture(scope="module")
def t2v(tmp_path_factory):
    return tiny_t2v_pipeline(tmp_path_factory.mktemp("tokenizer"))


def test_svd_pipeline_with_our_unet_gives_diffusers_frames(svd):
    from PIL import Image

    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8))
    theirs = svd.unet
    expected = _frames(svd, image=image, decode_chunk_size=3)
    try:
        svd.unet = DiffusersUNet.from_diffusers(theirs)
        got = _frames(svd, image=image, decode_chunk_size=3)
    finally:
        svd.unet = theirs
    assert got.shape == expected.shape == (1, 3, 3, 8, 8)  # B T C H W
    assert expected.std() > 0.01
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_text_to_video_pipeline_with_our_unet_gives_diffusers_frames(t2v):
    theirs = t2v.unet
    expected = _frames(t2v, prompt="a cat")
    try:
        t2v.unet = DiffusersUNet.from_diffusers(theirs)
        got = _frames(t2v, prompt="a cat")
    finally:
        t2v.unet = theirs
    assert got.shape == expected.shape == (1, 3, 3, 8, 8)
    assert expected.std() > 0.01
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_adapter_exposes_the_fields_the_pipelines_read(svd):
    adapted = DiffusersUNet.from_diffusers(svd.unet)
    assert adapted.config.in_channels == 8 and adapted.config.num_frames == 3 and adapted.config.sample_size == 8
    assert adapted.add_embedding.linear_1.in_features == svd.unet.add_embedding.linear_1.in_features
    assert adapted.dtype == torch.float32 and adapted.device.type == "cpu"
    with pytest.raises(TypeError, match="frozen"):
        adapted.config["in_channels"] = 4


def _zoo_svd_conditioning(batch: int = 1) -> dict:
    g = torch.Generator().manual_seed(3)
    return {"concat": torch.randn(batch, 4, 3, 8, 8, generator=g), "context": torch.randn(batch, 1, 16, generator=g),
            "added_cond": torch.tensor([[6.0, 127.0, 0.02]]).expand(batch, 3)}


@pytest.mark.parametrize("name", ["svd", "modelscope_t2v"])
def test_our_pipeline_drives_a_diffusers_unet_like_our_converted_one(name, svd, t2v):
    unet = (svd if name == "svd" else t2v).unet
    cond = (_zoo_svd_conditioning() if name == "svd"
            else {"context": torch.randn(1, 5, 16, generator=torch.Generator().manual_seed(3))})
    expected = zoo.create_pipeline(name, "tiny", model=zoo.from_diffusers(unet))(seed=0, **cond)
    got = zoo.create_pipeline(name, "tiny", model=ZooUNet(unet))(seed=0, **cond)
    assert got.shape == expected.shape == (1, 4, 3, 8, 8)
    assert expected.std() > 0.01
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_adapters_refuse_what_they_cannot_pass_on(svd):
    adapted = DiffusersUNet.from_diffusers(svd.unet)
    sample = torch.zeros(1, 3, 8, 8, 8)
    with pytest.raises(ValueError, match="cross_attention_kwargs"):
        adapted(sample, 1.0, torch.zeros(1, 1, 16), torch.zeros(1, 3), cross_attention_kwargs={"scale": 0.5})
    with pytest.raises(ValueError, match=r"timestep must be .* shape \(\) or \(1,\)"):
        adapted(sample, torch.zeros(2), torch.zeros(1, 1, 16), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="class_name must be one of"):
        DiffusersUNet(adapted.model, {"in_channels": 8}, class_name="UNet2DConditionModel")
    with pytest.raises(ValueError, match="x must be 5-D"):
        ZooUNet(svd.unet)(torch.zeros(1, 8, 8, 8), torch.zeros(1))
