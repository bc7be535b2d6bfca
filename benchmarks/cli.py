"""``python -m benchmarks SUITE [--device cpu|cuda] [--quick] [--out DIR] [--compare OLD.json] [--threshold R]``

Runs one suite (or ``all``), measures the GEMM/copy ceilings first, and writes ``OUT/SUITE.json``, ``.csv``, ``.md``
and, with matplotlib, plots. ``--compare OLD.json`` is a regression gate: exit status 1 when any case common to
both runs got slower than the band (report.compare). Bad arguments: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from . import report
from .cases import Context, base_record
from .hardware import datasheet_peak, environment, measure_ceilings
from .suites import SUITES, get_suite


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# (warmup, repeats, interleaved rounds, block ms of back-to-back calls) per tier
TIERS = {"quick": (1, 3, 3, 1.0), "cpu": (1, 3, 9, 20.0), "gpu": (5, 30, 11, 2.0)}


class UsageError(Exception):
    """A bad command line: reported as one line on stderr with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one clear line instead of usage + error
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("suite", choices=[*SUITES, "all"], help="which suite to run")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--quick", action="store_true", help="tiny registry configs, few repeats (smoke run)")
    p.add_argument("--out", default="benchmark-results", help="output directory (default: ./benchmark-results)")
    p.add_argument("--compare", metavar="OLD.json", help="fail (exit 1) when a case got slower than in OLD.json")
    p.add_argument("--threshold", type=float, default=None,
                   help="relative slow-down allowed by --compare (default 0.05 on cuda, 0.25 on cpu)")
    p.add_argument("--floor-us", type=float, default=None,
                   help="absolute slow-down always allowed, µs (default 30 on cuda, 100 on cpu)")
    p.add_argument("--dtype", choices=list(DTYPES), default=None, help="default bfloat16 on cuda, float32 on cpu")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    p.add_argument("--repeats", type=int, default=None, help="timed samples per case (override the tier default)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds per ratio case")
    p.add_argument("--no-plots", action="store_true", help="skip the matplotlib plots")
    return p


def _validate(args) -> tuple[torch.device, torch.dtype, dict | None]:
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise UsageError(f"--device must be cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available to this PyTorch")
    if args.threshold is not None and not args.threshold >= 0:
        raise UsageError(f"--threshold must be >= 0, got {args.threshold}")
    if args.floor_us is not None and not args.floor_us >= 0:
        raise UsageError(f"--floor-us must be >= 0, got {args.floor_us}")
    for name in ("threads", "repeats", "rounds"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name} must be >= 1, got {value}")
    old = None
    if args.compare:
        try:
            old = report.load_json(args.compare)
        except (OSError, ValueError) as exc:
            raise UsageError(f"--compare {args.compare}: {exc}") from None
    dtype = DTYPES[args.dtype] if args.dtype else (torch.bfloat16 if device == "cuda" else torch.float32)
    return torch.device(device), dtype, old


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args) -> int:
    device, dtype, old = _validate(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    ctx = Context(device=device, dtype=dtype, quick=args.quick, log=_log)
    ctx.warmup, ctx.repeats, ctx.rounds, ctx.block_ms = TIERS[ctx.tier]
    ctx.repeats = args.repeats or ctx.repeats
    ctx.rounds = args.rounds or ctx.rounds
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _log(f"measuring GEMM and copy ceilings on {device} ...")
    ctx.ceilings = measure_ceilings(device, dtype, quick=args.quick)
    ctx.peak = datasheet_peak(device, dtype)
    suites = list(SUITES) if args.suite == "all" else [args.suite]
    cases, crashed, started = [], [], time.perf_counter()
    for name in suites:
        t0 = time.perf_counter()
        try:
            cases += get_suite(name)(ctx)
        except Exception as exc:  # noqa: BLE001 - one broken suite must not lose the others' results
            crashed.append(name)
            cases.append(base_record(ctx, name, "suite", status="error", note=f"{type(exc).__name__}: {exc}"[:300]))
            _log(f"{name}: suite crashed: {type(exc).__name__}: {exc}")
        _log(f"{name}: {time.perf_counter() - t0:.1f} s")
    payload = {"schema": report.SCHEMA, "suite": args.suite, "env": environment(device, dtype),
               "ceilings": ctx.ceilings, "peak": ctx.peak, "cases": cases,
               "settings": {"quick": args.quick, "tier": ctx.tier, "warmup": ctx.warmup, "repeats": ctx.repeats,
                            "rounds": ctx.rounds, "block_ms": ctx.block_ms,
                            "wall_s": round(time.perf_counter() - started, 1)}}
    stem = out / args.suite
    report.write_json(stem.with_suffix(".json"), payload)
    report.write_csv(stem.with_suffix(".csv"), cases)
    stem.with_suffix(".md").write_text(report.markdown(payload))
    written = [stem.with_suffix(s) for s in (".json", ".csv", ".md")]
    if not args.no_plots:
        from . import plots

        why = plots.available()
        if why:
            _log(why)
        else:
            written += plots.write_plots(payload, out)
    counts = {s: sum(c.get("status") == s for c in cases) for s in dict.fromkeys(c.get("status") for c in cases)}
    print(f"{len(cases)} cases ({', '.join(f'{v} {k}' for k, v in counts.items())}); wrote "
          + ", ".join(str(p) for p in written))
    status = 1 if crashed else 0
    if old is not None:
        rows, slower = report.compare(cases, old["cases"], device=device.type, threshold=args.threshold,
                                      floor_ms=None if args.floor_us is None else args.floor_us / 1e3)
        print(f"compare with {args.compare}: {len(rows)} common cases, {len(slower)} slower "
              f"(band {rows[0]['band'] if rows else '–'})")
        for row in slower:
            print(f"  SLOWER {row['id']}: {row['old_ms']:.4g} -> {row['new_ms']:.4g} ms ({row['change_pct']:+.1f} %)")
        if slower:
            status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        return run(args)
    except UsageError as exc:
        print(f"python -m benchmarks: error: {exc}", file=sys.stderr)
        return 2
