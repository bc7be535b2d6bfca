"""Result files (JSON, CSV, Markdown) and the regression gate.

JSON: ``{"schema", "suite", "env", "ceilings", "peak", "settings", "cases": [...]}``; every case carries its ``id``
(``suite:name``, stable across runs), the registry ``key`` and its status. CSV: one row per case, the columns of
``COLUMNS`` first. Markdown: per suite, a timing table and a ratio table.

Regression rule (``compare``): a case is *slower* when ``new - old > threshold · old + floor``. Defaults follow
xformers' ``--fail_if_regression`` on GPU (5 % + 30 µs) and a wider band on CPU (25 % + 100 µs), where unpaired runs
of one case vary by 2-5× under load (docs/perf.md §7). Cases present on one side only are listed, not failed.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path


SCHEMA = 1
COLUMNS = ["id", "suite", "name", "key", "status", "backend_requested", "backend", "kernel", "direction", "shape",
           "dtype", "device", "ms", "ms_q1", "ms_q3", "tflops", "gbps", "pct_peak_tflops", "pct_peak_gbps",
           "pct_gemm_ceiling", "pct_copy_ceiling", "flops", "attn_flops", "bytes", "peak_mem_mb", "ratio",
           "ratio_q1", "ratio_q3", "flop_ratio", "efficiency", "target", "target_met", "note"]
DEFAULT_BAND = {"cuda": (0.05, 0.030), "cpu": (0.25, 0.100)}


def write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n")


def load_json(path: str | Path) -> dict:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise ValueError(f"{path} is not a benchmark result file (no 'cases' list)")
    return data


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def write_csv(path: Path, cases: list[dict]) -> None:
    extra = sorted({k for c in cases for k in c} - set(COLUMNS))
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS + extra)
        for case in cases:
            writer.writerow([_cell(case.get(k)) for k in COLUMNS + extra])


def fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def _timing_table(cases: list[dict]) -> list[str]:
    lines = ["| key | backend asked → ran | dir | shape | ms | TFLOP/s | GB/s | % GEMM | % copy | % peak | "
             "peak MiB | status |", "|" + "---|" * 12]
    for c in cases:
        ran = c.get("backend") or "–"
        if c.get("kernel"):
            ran += f" ({c['kernel']})"
        lines.append("| " + " | ".join([
            f"`{c.get('key')}`", f"{c.get('backend_requested') or '–'} → {ran}", fmt(c.get("direction")),
            fmt(c.get("shape")), fmt(c.get("ms")), fmt(c.get("tflops")), fmt(c.get("gbps")),
            fmt(c.get("pct_gemm_ceiling"), 2), fmt(c.get("pct_copy_ceiling"), 2), fmt(c.get("pct_peak_tflops"), 2),
            fmt(c.get("peak_mem_mb")), c.get("status", "") if c.get("status") == "ok" else
            f"{c.get('status')}: {c.get('note', '')[:80]}"]) + " |")
    return lines


def _ratio_table(cases: list[dict]) -> list[str]:
    lines = ["| case | key | backend | metric | ratio [IQR] | FLOP ratio | target | met |", "|" + "---|" * 8]
    for c in cases:
        if c.get("status") != "ok":
            lines.append(f"| {c['name']} | `{c.get('key')}` | – | – | {c.get('status')}: {c.get('note', '')[:80]} "
                         "| – | – | – |")
            continue
        iqr = f"{fmt(c.get('ratio'))} [{fmt(c.get('ratio_q1'))}–{fmt(c.get('ratio_q3'))}]"
        lines.append("| " + " | ".join([c["name"], f"`{c.get('key')}`", fmt(c.get("backend")), fmt(c.get("metric")),
                                        iqr, fmt(c.get("flop_ratio")), fmt(c.get("target")),
                                        fmt(c.get("target_met"))]) + " |")
    return lines


def markdown(payload: dict) -> str:
    env, ceil = payload["env"], payload.get("ceilings", {})
    lines = [f"# Benchmark results: {payload['suite']} ({env['device']})", "",
             f"{env['device_name']} · torch {env['torch']} · {env['threads']} threads · {env['dtype']} · "
             f"commit {str(env.get('git_commit'))[:10]}{' (dirty)' if env.get('git_dirty') else ''} · {env['date']}",
             "", f"Measured ceilings: GEMM {fmt(ceil.get('gemm_tflops'))} TFLOP/s ({ceil.get('gemm_shape')}), "
             f"copy {fmt(ceil.get('copy_gbps'))} GB/s. Datasheet peak: {payload.get('peak', {}).get('card') or 'none'}.",
             ""]
    for suite in dict.fromkeys(c["suite"] for c in payload["cases"]):
        cases = [c for c in payload["cases"] if c["suite"] == suite]
        ratios = [c for c in cases if "ratio" in c or c["suite"] in ("attention_core", "factorized")
                  or c["name"].startswith("ratio/")]
        timings = [c for c in cases if c not in ratios]
        lines += [f"## {suite}", ""]
        if ratios:
            lines += _ratio_table(ratios) + [""]
        if timings:
            lines += _timing_table(timings) + [""]
    return "\n".join(lines)


def compare(new: list[dict], old: list[dict], *, device: str, threshold: float | None = None,
            floor_ms: float | None = None) -> tuple[list[dict], list[dict]]:
    """``(rows, regressions)``: one row per case timed in both runs; regressions are rows that got slower."""
    rel, floor = DEFAULT_BAND.get(device, DEFAULT_BAND["cpu"])
    rel = rel if threshold is None else threshold
    floor = floor if floor_ms is None else floor_ms
    before = {c["id"]: c for c in old if c.get("status") == "ok" and c.get("ms")}
    rows = []
    for case in new:
        ref = before.get(case["id"])
        if case.get("status") != "ok" or not case.get("ms") or ref is None:
            continue
        delta = case["ms"] - ref["ms"]
        rows.append({"id": case["id"], "old_ms": ref["ms"], "new_ms": case["ms"], "delta_ms": delta,
                     "change_pct": 100 * delta / ref["ms"], "slower": delta > rel * ref["ms"] + floor,
                     "band": f"{100 * rel:g} % + {1e3 * floor:g} µs"})
    return rows, [r for r in rows if r["slower"]]
