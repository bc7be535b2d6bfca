"""Smoke tests of the benchmark harness: every suite runs once in ``--quick`` mode on CPU, writes JSON / CSV /
Markdown naming the registry keys, and ``--compare`` flags an injected regression and passes an unchanged run.

Nothing here asserts a timing: CPU CI can only show that the harness runs and reports (docs/perf.md §7); the numbers
themselves are produced by ``python -m benchmarks`` and committed under ``docs/benchmarks/``.
"""

from __future__ import annotations

import csv
import json

import pytest
import torch

import components
from benchmarks import report
from benchmarks.cli import main
from benchmarks.counting import probe
from benchmarks.suites import SUITES
from components.attention import available_backends


pytestmark = pytest.mark.bench


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """``python -m benchmarks all --quick --device cpu`` once for the whole module (one thread: no oversubscription)."""
    out = tmp_path_factory.mktemp("bench")
    threads = torch.get_num_threads()
    try:
        status = main(["all", "--quick", "--device", "cpu", "--threads", "1", "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
    return status, out, json.loads((out / "all.json").read_text())


def test_quick_run_writes_json_csv_markdown(quick_run):
    status, out, payload = quick_run
    assert status == 0, "a suite crashed (see the error records in all.json)"
    for suffix in ("json", "csv", "md"):
        assert (out / f"all.{suffix}").stat().st_size > 0
    for field in ("torch", "device_name", "threads", "git_commit", "date"):
        assert field in payload["env"]
    assert payload["ceilings"]["gemm_tflops"] > 0 and payload["ceilings"]["copy_gbps"] > 0


def test_every_suite_reports(quick_run):
    _, _, payload = quick_run
    assert set(SUITES) <= {c["suite"] for c in payload["cases"]}


@pytest.mark.parametrize("pattern", ["attention/*", "conv/*", "block/*"])
def test_every_registry_entry_is_named_in_every_output(quick_run, pattern):
    _, out, payload = quick_run
    keys = components.list_components(pattern)
    in_json = {c.get("key") for c in payload["cases"]}
    with (out / "all.csv").open() as f:
        in_csv = {row["key"] for row in csv.DictReader(f)}
    markdown = (out / "all.md").read_text()
    for key in keys:
        assert key in in_json and key in in_csv and f"`{key}`" in markdown, f"{key} missing from the outputs"


def test_every_attention_variant_runs_every_backend(quick_run):
    _, _, payload = quick_run
    usable = ["auto"] + [n for n, why in available_backends("cpu").items() if why is None]
    ran = {(c["key"], c.get("backend_requested")) for c in payload["cases"]
           if c["suite"] == "attention" and c["status"] == "ok" and c.get("direction") == "fwd"}
    for key in components.list_components("attention/*"):
        for backend in usable:
            assert (key, backend) in ran, f"{key} × {backend} did not run"


def test_cases_record_the_backend_that_ran_and_the_work(quick_run):
    _, _, payload = quick_run
    attention = [c for c in payload["cases"] if c["suite"] == "attention" and c["status"] == "ok"]
    assert attention
    for case in attention:
        assert case["backend"], f"{case['id']}: no resolved backend recorded"
        assert case["ms"] > 0 and case["flops"] > 0 and case["bytes"] > 0 and case["attn_flops"] > 0
    auto_temporal = [c for c in attention if c["key"] == "attention/temporal" and c["backend_requested"] == "auto"]
    assert auto_temporal and all(c["backend"] in ("math", "sdpa") for c in auto_temporal)


def test_ratio_cases_carry_targets(quick_run):
    _, _, payload = quick_run
    core = [c for c in payload["cases"] if c["suite"] == "attention_core" and c["status"] == "ok"]
    assert {c["name"].split("/")[0] for c in core} == {"overhead", "temporal_path"}
    for case in core:
        assert case["ratio"] > 0 and case["target"]


def test_vs_diffusers_times_both_models_on_identical_weights(quick_run):
    pytest.importorskip("diffusers")
    _, _, payload = quick_run
    cases = {c["name"]: c for c in payload["cases"] if c["suite"] == "vs_diffusers"}
    assert set(cases) == {"svd/tiny/fwd", "unet3d/tiny/fwd", "wan/tiny/fwd", "wan_vae/tiny/fwd"}
    for case in cases.values():
        assert case["status"] == "ok", case["note"]
        assert case["ratio"] > 0 and case["ms"] > 0 and case["diffusers_ms"] > 0 and case["target"]
        assert case["max_abs_diff"] < 1e-3  # the timed models compute the same function


def test_diffusers_pipeline_times_the_svd_pipeline_with_both_unets(quick_run):
    pytest.importorskip("diffusers")
    _, _, payload = quick_run
    cases = {c["name"]: c for c in payload["cases"] if c["suite"] == "diffusers_pipeline"}
    assert set(cases) == {"svd_pipeline/tiny"}  # --quick: tiny only
    case = cases["svd_pipeline/tiny"]
    assert case["status"] == "ok", case["note"]
    assert case["ratio"] > 0 and case["ms"] > 0 and case["diffusers_ms"] > 0 and case["target"] == "<= 1.0"
    assert case["max_abs_diff"] < 1e-3  # both pipelines produce the same frames


def test_attention_flops_follow_the_convention():
    """Probe of attention/spacetime: 4·B·H·N²·D for the core; projections 4 linears × 2·N·C²."""
    b, c, t, h, w, heads = 1, 32, 2, 4, 4, 2
    x = torch.randn(b, c, t, h, w)
    work = probe(lambda: components.build("attention/spacetime", dim=c, num_heads=heads), (x,), {},
                 device=torch.device("cpu"))
    n = t * h * w
    assert work.attn_flops == 4 * b * heads * n * n * (c // heads)
    assert work.other_flops == 4 * 2 * b * n * c * c
    assert work.flops("bwd") == 2.5 * work.attn_flops + work.other_flops_bwd


def _old_file(tmp_path, payload, scale):
    old = json.loads(json.dumps(payload))
    for case in old["cases"]:
        if case.get("ms"):
            case["ms"] *= scale
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    return path


def test_compare_passes_an_unchanged_run(quick_run):
    _, _, payload = quick_run
    rows, slower = report.compare(payload["cases"], payload["cases"], device="cpu")
    assert rows and not slower
    rows, slower = report.compare(payload["cases"], payload["cases"], device="cuda")
    assert rows and not slower


def test_compare_flags_an_injected_regression(quick_run, tmp_path, capsys):
    _, _, payload = quick_run
    regressed = _old_file(tmp_path, payload, 1e-4)  # the old run was 10,000× faster: everything regressed
    # --floor-us 0: the quick cases can take under the CPU default floor of 100 µs, which alone would absorb them
    assert main(["attention_core", "--quick", "--device", "cpu", "--out", str(tmp_path / "new"), "--no-plots",
                 "--compare", str(regressed), "--floor-us", "0"]) == 1
    assert "SLOWER attention_core:" in capsys.readouterr().out


def test_compare_cli_passes_when_nothing_got_slower(quick_run, tmp_path):
    _, _, payload = quick_run
    faster = _old_file(tmp_path, payload, 1e4)
    assert main(["attention_core", "--quick", "--device", "cpu", "--out", str(tmp_path / "new"), "--no-plots",
                 "--compare", str(faster)]) == 0


@pytest.mark.parametrize("argv", [
    ["nonsense"],
    ["attention", "--device", "tpu"],
    ["attention", "--threshold", "-1"],
    ["attention", "--compare", "/no/such/file.json"],
    ["attention", "--repeats", "0"],
])
def test_bad_arguments_exit_2_with_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m benchmarks: error:") and len(err.splitlines()) == 1


def test_plots_written_when_matplotlib_is_available(quick_run):
    pytest.importorskip("matplotlib")
    _, out, _ = quick_run
    assert (out / "tflops_by_backend.png").exists() and (out / "roofline_attention.png").exists()
