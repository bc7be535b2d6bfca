"""Long-video extension (``extend_video``) and its CLI module ``zoo.extend_cli``."""

from __future__ import annotations

import argparse

import pytest
import torch

import components
from components.diffusion import extend_video
from components.diffusion._video import AR1GaussianDenoiser
from components.diffusion.schedules import karras_sigmas


def clip(frames=4):
    return torch.randn(2, 1, frames, 1, 3, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("guidance", ["reconstruction", "replacement"])
def test_extension_appends_frames_and_keeps_the_given_ones(guidance):
    video = clip()
    out = extend_video(AR1GaussianDenoiser(0.9), video, new_frames=5, context_frames=2, sampler="sampler/euler",
                       sigmas=karras_sigmas(8, 0.01, 20.0), guidance=guidance, weight=3.0,
                       generator=torch.Generator().manual_seed(1))
    assert out.shape == (2, 1, 9, 1, 3) and torch.isfinite(out).all()
    assert torch.equal(out[:, :, :4], video)


def test_reconstruction_continues_smoothly():
    """With ρ = 0.99 the next frame is nearly the last one; guidance keeps the seam small (mean over 64 clips)."""
    video = torch.randn(64, 1, 1, 1, 2, generator=torch.Generator().manual_seed(2)).expand(-1, -1, 4, -1, -1)
    kw = dict(new_frames=1, context_frames=3, sampler="sampler/euler", sigmas=karras_sigmas(16, 0.01, 20.0),
              generator=torch.Generator().manual_seed(3))
    seams = {g: float((extend_video(AR1GaussianDenoiser(0.99), video, guidance=g, weight=5.0, **kw)[:, :, 4]
                       - video[:, :, 3]).square().mean()) for g in ("reconstruction", "replacement")}
    assert seams["reconstruction"] < 0.5 * seams["replacement"]


def test_extend_a_pipeline_from_scratch():
    zoo = pytest.importorskip("zoo")
    torch.manual_seed(0)
    pipe = zoo.create_pipeline("vdm", "tiny")
    out = pipe.extend(None, new_frames=3, context_frames=2, steps=2, weight=2.0, seed=0)
    c, t, h, w = pipe.sample_shape
    assert out.shape == (1, c, t + 3, h, w) and torch.isfinite(out).all()
    # the first window is the pipeline's own sample from the same generator: one way to sample from noise
    first = pipe(num_inference_steps=2, generator=torch.Generator().manual_seed(0), guidance=False)
    torch.testing.assert_close(out[:, :, :t], first)


def test_a_bare_denoiser_generates_from_scratch_with_a_shape():
    out = extend_video(AR1GaussianDenoiser(0.9), None, shape=(1, 4, 1, 4), new_frames=2, context_frames=2,
                       sampler="sampler/euler", sigmas=karras_sigmas(4, 0.01, 20.0),
                       generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, 1, 6, 1, 4) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match=r"video=None \(generate from scratch\) needs shape"):
        extend_video(AR1GaussianDenoiser(0.9), None, new_frames=2, context_frames=2, sampler="sampler/euler",
                     sigmas=karras_sigmas(4, 0.01, 20.0))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"context_frames": 4}, "context_frames must satisfy 0 < context_frames < window=4"),
    ({"guidance": "inpaint"}, "guidance must be one of"),
    ({"new_frames": -1}, "new_frames must be >= 0"),
    ({"sampler": None}, "sampler and sigmas are needed"),
])
def test_bad_arguments_are_named(kwargs, match):
    args = {"new_frames": 2, "context_frames": 2, "sampler": "sampler/euler", "sigmas": karras_sigmas(4, 0.01, 20.0),
            **kwargs}
    with pytest.raises(ValueError, match=match):
        extend_video(AR1GaussianDenoiser(), clip(), **args)


def test_cli_writes_an_extended_gif(tmp_path, capsys):
    pytest.importorskip("PIL")
    from zoo import extend_cli

    parser = argparse.ArgumentParser()
    extend_cli.add_arguments(parser)
    out = tmp_path / "ext.gif"
    args = parser.parse_args(["vdm", "--preset", "tiny", "--frames", "4", "--extend-by", "3", "--context", "2",
                              "--steps", "2", "--weight", "2", "--out", str(out)])
    assert extend_cli.main(args) == 0
    assert out.is_file() and "4 + 3 frames" in capsys.readouterr().out


def test_cli_refuses_context_not_below_frames(tmp_path):
    from zoo import extend_cli

    parser = argparse.ArgumentParser()
    extend_cli.add_arguments(parser)
    args = parser.parse_args(["vdm", "--frames", "4", "--extend-by", "3", "--context", "4",
                              "--out", str(tmp_path / "x.gif")])
    with pytest.raises(ValueError, match="--context"):
        extend_cli.main(args)


def test_registry_lists_the_techniques():
    keys = set(components.list_components("wrapper/*")) | set(components.list_components("sampler/*"))
    assert {"wrapper/replacement", "wrapper/reconstruction", "wrapper/multidiffusion",
            "wrapper/interleaved_smoother", "wrapper/masked_conditioning", "sampler/hierarchical"} <= keys
