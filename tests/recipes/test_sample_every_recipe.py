"""``python -m zoo sample NAME --preset tiny`` writes an RGB video for every recipe in the registry (issue #14 items
2-4): latent recipes decode through their declared autoencoder, conditioned ones get valid random conditioning."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

import components
import zoo
from zoo.cli import main


def _expected_frames_and_size(name: str) -> tuple[int, int]:
    """(T, H) of the written video, computed from the preset and the autoencoder's config, not from the pipeline."""
    recipe = zoo.get_recipe(name)
    p = recipe.preset("tiny")
    if recipe.autoencoder is None:
        return p.frames, p.height
    spec = recipe.autoencoder.for_preset("tiny")
    cfg = {**components.get_component(spec.net).tiny, **spec.config}
    if "temporal_expansions" in cfg:  # Mochi's VAE: per-level factors
        temporal, spatial = math.prod(cfg["temporal_expansions"]), math.prod(cfg["spatial_expansions"])
        return 1 + temporal * (p.frames - 1), p.height * spatial
    levels = len(cfg["channel_mults"] if "channel_mults" in cfg else cfg["block_channels"])  # Wan's / CogVideoX's
    spatial = 2 ** (levels - 1) * cfg.get("patch_size", 1)  # one 2× up-sampling per level
    # a causal VAE: 1 + f_t (T − 1) frames
    temporal = cfg.get("temporal_factor") or 2 ** sum(map(bool, cfg.get("temporal_downsample",
                                                                    cfg.get("spatio_temporal_scaling", ()))))  # LTX
    return 1 + temporal * (p.frames - 1), p.height * spatial


@pytest.mark.parametrize("name", zoo.list_models())
def test_sample_writes_an_rgb_video_for_every_recipe(name, tmp_path, capsys):
    out = tmp_path / f"{name}.gif"
    assert main(["sample", name, "--preset", "tiny", "--steps", "1", "--out", str(out), "--no-progress"]) == 0
    frames, size = _expected_frames_and_size(name)
    gif = Image.open(out)
    assert gif.size == (size, size) and 1 <= gif.n_frames <= frames  # GIF merges identical consecutive frames
    assert f"(3, {frames}, {size}, {size})" in capsys.readouterr().out  # RGB, never latents


def test_chunked_decode_of_an_image_vae_equals_per_frame_decoding():
    pipe = zoo.create_pipeline("modelscope_t2v", "tiny")
    pipe.decode_chunk = 2
    z = torch.randn(1, 4, 5, 8, 8, generator=torch.Generator().manual_seed(0))
    vae = pipe.autoencoder
    assert vae.scaling_factor == 0.18215  # docs/papers.md: SD VAE latents ×0.18215
    with torch.no_grad():
        expected = torch.cat([vae.decode(z[:, :, i:i + 1] / 0.18215) for i in range(5)], dim=2)
    torch.testing.assert_close(pipe.decode(z), expected, rtol=1e-5, atol=1e-5)


def test_pixel_recipe_samples_are_not_decoded():
    pipe = zoo.create_pipeline("vdm", "tiny")
    assert pipe.autoencoder is None
    z = torch.randn(1, 3, 2, 8, 8)
    assert pipe.decode(z) is z
