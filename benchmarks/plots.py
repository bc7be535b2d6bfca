"""Plots of a result file (needs matplotlib: ``pip install 'video-diffusion-zoo[plot]'``).

* ``time_vs_frames.png``: forward ms against frames for every attention variant × backend measured at several
  frame counts (same spatial size and width).
* ``tflops_by_backend.png``: forward TFLOP/s of each attention variant (first shape) per requested backend.
* ``roofline_attention.png``: attained TFLOP/s against arithmetic intensity (logical FLOPs / logical bytes) for the
  attention core cases (``attention_core``) and attention modules, under the measured GEMM (flat) and copy (slope)
  ceilings and, on a known GPU, the datasheet ones.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path


def available() -> str | None:
    """None when matplotlib can be imported, else the message to show."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "matplotlib is not installed: plots skipped (pip install 'video-diffusion-zoo[plot]')"
    return None


def _ok(cases, suite, direction="fwd"):
    return [c for c in cases if c["suite"] == suite and c.get("status") == "ok" and c.get("ms")
            and c.get("direction", "fwd") == direction]


def time_vs_frames(plt, cases, path: Path) -> bool:
    series = defaultdict(list)
    for c in _ok(cases, "attention"):
        if c.get("frames"):
            series[(c["key"], c.get("backend_requested"), c.get("height"), c.get("channels"))].append(
                (c["frames"], c["ms"]))
    series = {k: sorted(v) for k, v in series.items() if len({f for f, _ in v}) > 1}
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (key, backend, hw, ch), points in sorted(series.items(), key=lambda kv: str(kv[0])):
        ax.plot([f for f, _ in points], [m for _, m in points], marker="o", label=f"{key} [{backend}] {hw}² C{ch}")
    ax.set(xlabel="frames", ylabel="forward ms (median)", yscale="log", title="Attention time vs frames")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def tflops_by_backend(plt, cases, path: Path) -> bool:
    first_shape, values = {}, defaultdict(dict)
    for c in _ok(cases, "attention"):
        first_shape.setdefault(c["key"], c.get("shape"))
        if c.get("shape") == first_shape[c["key"]] and c.get("tflops"):
            values[c["key"]][c.get("backend_requested")] = c["tflops"]
    if not values:
        return False
    keys = sorted(values)
    backends = sorted({b for v in values.values() for b in v})
    width = 0.8 / len(backends)
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(keys)), 4.5))
    for i, backend in enumerate(backends):
        ax.bar([j + i * width for j in range(len(keys))], [values[k].get(backend, 0) for k in keys], width,
               label=backend)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(keys))],
                  [f"{k.split('/', 1)[1]}\n{first_shape[k]}" for k in keys], fontsize=7)
    ax.set(ylabel="TFLOP/s (module, forward)", title="Attention variants by backend")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def roofline(plt, payload, path: Path) -> bool:
    cases = payload["cases"]
    points = {"attention core (attend)": [(c["flops"] / c["bytes"], c["tflops"]) for c in _ok(cases, "attention_core")
                                          if c.get("flops") and c.get("bytes") and c.get("tflops")],
              # core FLOPs over the whole module's time: a lower bound on what the core attained inside it
              "attention modules (fwd, core FLOPs / module time)": [
                  (c["attn_flops"] / c["bytes"], c["attn_flops"] / (c["ms"] * 1e9)) for c in _ok(cases, "attention")
                  if c.get("attn_flops") and c.get("bytes")]}
    if not any(points.values()):
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [x for pts in points.values() for x, _ in pts]
    grid = [min(xs) / 2 * 1.25**i for i in range(200) if min(xs) / 2 * 1.25**i < max(xs) * 4]
    ceil, peak = payload.get("ceilings", {}), payload.get("peak", {})
    for label, tflops, gbps, style in (("measured", ceil.get("gemm_tflops"), ceil.get("copy_gbps"), "-"),
                                       ("datasheet", peak.get("tflops"), peak.get("gbps"), "--")):
        if tflops and gbps:
            ax.plot(grid, [min(tflops, gbps * x / 1e3) for x in grid], "k" + style, lw=1, label=f"{label} roof")
    for (label, pts), marker in zip(points.items(), "os"):
        if pts:
            ax.scatter([x for x, _ in pts], [y for _, y in pts], marker=marker, label=label)
    ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (logical FLOP / logical byte)",
           ylabel="TFLOP/s", title=f"Attention roofline ({payload['env']['device_name']})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def write_plots(payload: dict, out: Path) -> list[Path]:
    """Write every plot the data supports; returns the files written ([] without matplotlib)."""
    if available():
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, draw, arg in (("time_vs_frames.png", time_vs_frames, payload["cases"]),
                            ("tflops_by_backend.png", tflops_by_backend, payload["cases"]),
                            ("roofline_attention.png", roofline, payload)):
        if draw(plt, arg, out / name):
            written.append(out / name)
    return written
