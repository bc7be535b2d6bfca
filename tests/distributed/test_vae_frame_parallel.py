"""The tiny Wan VAE's decode split by latent frames over 2 gloo ranks equals the one-process decode.

Each rank warms its cache up on the ``R + 1`` latent frames before its chunk (components/nets/vae_frame_parallel.py),
so every kept frame is the same arithmetic on the same cache contents as in one process: the test asks for equality
(0 error), well inside the brief's 1e-5. The registry's tiny Wan VAE (``wan_vae.TINY``: f_t = 2, f = 2) looks back
R = 25 latent frames; 56 latent frames (111 pixel frames at 4 × 4): rank 1's chunk [28, 56) starts its warm-up at
frame 28 − 26 = 2 > 0, so the cold start and its dropped outputs are exercised.
"""

from __future__ import annotations

import json

import pytest
import torch
from _cp_launch import run_ranks

import components
from components.nets.vae_frame_parallel import frame_chunks, set_frame_parallel_decode
from zoo.recipes.wan import _TINY_VAE


FRAMES = 56


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae_frames")
    run = run_ranks("vae_decode_worker.py", 2, str(out), str(FRAMES))
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads((out / "results.json").read_text())


def test_the_tiny_wan_decoder_looks_back_twenty_five_latent_frames(results):
    assert results["receptive_field"] == 25  # so rank 1 of 2 warms up from frame 28 − 26 = 2, not from 0
    assert frame_chunks(FRAMES, 2)[1][0] - (results["receptive_field"] + 1) > 0


def test_frame_parallel_decode_equals_the_one_process_decode(results):
    assert results["shape"] and results["frames"] == 1 + 2 * (FRAMES - 1)
    assert results["exact"] == 0.0
    assert results["warmup/25"] == 0.0  # measured: R frames already suffice here (R + 1 is the safe bound)


def test_tiled_decode_split_by_frames_equals_the_one_process_tiled_decode(results):
    assert results["tiled"] == 0.0


def test_a_one_frame_warmup_is_not_exact(results):
    # random weights do not forget: the seam frames differ at the scale of the frames themselves
    assert results["warmup/1"] > 0.01 * results["scale"]


def test_frame_chunks_cover_the_clip_in_order():
    assert frame_chunks(7, 3) == [(0, 3), (3, 5), (5, 7)]
    assert frame_chunks(2, 4) == [(0, 1), (1, 2), (2, 2), (2, 2)]


def test_only_wan_vaes_are_split():
    with pytest.raises(ValueError, match="frame_parallel_decode: splits Wan's causal VAE"):
        set_frame_parallel_decode(torch.nn.Linear(2, 2))
    vae = components.build("net/wan_vae", **dict(_TINY_VAE, latent_channels=16))
    set_frame_parallel_decode(vae, warmup=3)
    assert "decode" in vae.__dict__
    set_frame_parallel_decode(vae, enabled=False)
    assert "decode" not in vae.__dict__
