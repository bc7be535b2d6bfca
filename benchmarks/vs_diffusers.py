"""Transformer forward time, zoo vs diffusers on identical weights: CogVideoX, HunyuanVideo, LTX-Video, Wan 2.1, Mochi
(issue #20). ``python -m benchmarks.vs_diffusers [--quick] [--rounds N] [--write]`` prints the table; ``--write``
puts it into docs/benchmarks/cpu/vs_diffusers.md (between this script's markers, the suite's rows kept).

Method: the suite's (benchmarks/suites/vs_diffusers.py, docs/perf.md §7): a random diffusers model (weights moved off
their init), converted with ``zoo.from_diffusers``; the outputs compared first (max |Δ| recorded, > 1e-3 is an error);
then interleaved A/B blocks (order reversed every other round), ``torch.set_num_threads(1)``, the median of the
per-round ratios ``zoo / diffusers`` with its quartiles. Goal ≤ 1.0. Inputs in each side's own layout, made outside
the timed region; what diffusers' pipeline computes once per run (CogVideoX 5B's rotary tables, LTX's flattened
tokens) is given to diffusers precomputed, while ours computes it inside every forward (so the ratio counts it
against us).

Shapes (batch 1, fp32, heads of 64 at ``small``; Wan's rows are the suite's ``build_pair``):

* ``cogvideox``: 4 heads × 64, 2 blocks, 16 latent channels, 3 × 16×16 latents (192 video tokens) + 226 T5 tokens,
  rotary positions (the 5B's form); ``tiny``: tests/convert's tiny pipeline transformer, 3 × 8×8 latents;
* ``hunyuan_video``: 4 heads × 64 (rope (16, 24, 24)), 2 dual + 2 single blocks, 1 refiner block, 3 × 16×16 latents
  (192 video tokens) + 256 text tokens of which 40 are real (the pipeline's padded, masked LLaMA tokens); ``tiny``:
  zoo/testing/tiny_hunyuan_video.py's transformer, 3 × 8×8 latents, 16 text tokens;
* ``ltx_video``: zoo/testing/tiny_ltx_video.py's config (read-only), ``small`` at 4 heads × 64 and 4 blocks;
  3 × 16×16 latents (768 tokens, LTX patchifies 1×1) + 32 text tokens; ``tiny``: 3 × 8×8 latents, 7 text tokens.
* ``mochi``: 4 heads × 64, 2 blocks (the last context_pre_only), text stream 64, 3 × 16×16 latents (192 video tokens)
  + 256 T5 tokens of which 40 are real (MochiPipeline's padded, masked tokens: diffusers drops the padding per
  sample, ours masks it as keys, so the padding counts against us); ``tiny``: zoo/testing/tiny_mochi.py's
  transformer, 3 × 8×8 latents, 16 text tokens (10 real).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
from pathlib import Path

import torch

import zoo

from .suites.vs_diffusers import build_pair as suite_pair
from .timing import interleaved, ratio_stats


MODELS = ("cogvideox", "hunyuan_video", "ltx_video", "wan", "mochi")
SIZES = ("tiny", "small")
DOC = Path(__file__).resolve().parent.parent / "docs/benchmarks/cpu/vs_diffusers.md"
BEGIN, END = "<!-- benchmarks/vs_diffusers.py: begin -->", "<!-- benchmarks/vs_diffusers.py: end -->"
TOL = 1e-3


def _perturbed(model):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def _cogvideox(size: str, g: torch.Generator):
    import diffusers
    from diffusers.models.embeddings import get_3d_rotary_pos_embed

    from zoo.testing.tiny_cogvideox import COGVIDEOX_T2V

    cfg = dict(COGVIDEOX_T2V, use_rotary_positional_embeddings=True)
    frames, hw, text = 3, 8, 226
    if size == "small":
        cfg.update(num_attention_heads=4, attention_head_dim=64, in_channels=16, out_channels=16,
                   time_embed_dim=128, text_embed_dim=64, sample_width=16, sample_height=16)
        hw = 16
    torch.manual_seed(0)
    theirs = _perturbed(diffusers.CogVideoXTransformer3DModel(**cfg))
    x = torch.randn(1, cfg["in_channels"], frames, hw, hw, generator=g)
    context = torch.randn(1, text, cfg["text_embed_dim"], generator=g)
    t = torch.tensor([500])
    p = cfg["patch_size"]
    # the pipeline's rotary tables at a grid equal to the training grid (no resize-crop): once per run in diffusers
    cos, sin = get_3d_rotary_pos_embed(cfg["attention_head_dim"], ((0, 0), (hw // p, hw // p)),
                                       (hw // p, hw // p), frames)
    sample = x.transpose(1, 2).contiguous()  # diffusers: B T C H W
    ours = zoo.from_diffusers(theirs).eval()
    return (ours, lambda: theirs(hidden_states=sample, encoder_hidden_states=context, timestep=t,
                                 image_rotary_emb=(cos, sin)).sample.transpose(1, 2),
            lambda: ours(x, t, context=context), f"B1 F{frames} {hw}x{hw} lat, {text} text, "
                                                 f"{cfg['num_attention_heads']}x{cfg['attention_head_dim']}")


def _hunyuan_video(size: str, g: torch.Generator):
    import diffusers

    from zoo.testing.tiny_hunyuan_video import HUNYUAN_VIDEO_T2V

    cfg = dict(HUNYUAN_VIDEO_T2V)
    hw, text, real = 8, 16, 10
    if size == "small":
        cfg.update(num_attention_heads=4, attention_head_dim=64, rope_axes_dim=(16, 24, 24), num_layers=2,
                   num_single_layers=2, text_embed_dim=64, pooled_projection_dim=32)
        hw, text, real = 16, 256, 40
    torch.manual_seed(0)
    theirs = _perturbed(diffusers.HunyuanVideoTransformer3DModel(**cfg))
    x = torch.randn(1, cfg["in_channels"], 3, hw, hw, generator=g)
    context = torch.randn(1, text, cfg["text_embed_dim"], generator=g)
    pooled = torch.randn(1, cfg["pooled_projection_dim"], generator=g)
    mask = (torch.arange(text) < real)[None]
    t, w = torch.tensor([700.0]), torch.tensor([6000.0])
    kw = dict(context=context, added_cond=pooled, context_mask=mask, guidance=w)
    ours = zoo.from_diffusers(theirs).eval()
    return (ours, lambda: theirs(hidden_states=x, timestep=t, encoder_hidden_states=context,
                                 encoder_attention_mask=mask, pooled_projections=pooled, guidance=w).sample,
            lambda: ours(x, t, **kw), f"B1 F3 {hw}x{hw} lat, {text} text ({real} real), "
                                      f"{cfg['num_attention_heads']}x{cfg['attention_head_dim']}")


def _ltx_video(size: str, g: torch.Generator):
    import diffusers

    from zoo.testing.tiny_ltx_video import LTX_VIDEO_T2V

    cfg = dict(LTX_VIDEO_T2V)
    hw, text = 8, 7
    if size == "small":
        cfg.update(num_attention_heads=4, attention_head_dim=64, cross_attention_dim=256, num_layers=4,
                   caption_channels=64)
        hw, text = 16, 32
    torch.manual_seed(0)
    theirs = _perturbed(diffusers.LTXVideoTransformer3DModel(**cfg))
    x = torch.randn(1, cfg["in_channels"], 3, hw, hw, generator=g)
    context = torch.randn(1, text, cfg["caption_channels"], generator=g)
    t = torch.tensor([500.0])
    tokens, ones = x.flatten(2).transpose(1, 2).contiguous(), torch.ones(1, text)  # the pipeline packs once per run

    def theirs_call():
        out = theirs(hidden_states=tokens, encoder_hidden_states=context, timestep=t, encoder_attention_mask=ones,
                     num_frames=3, height=hw, width=hw, rope_interpolation_scale=(8 / 25.0, 32, 32)).sample
        return out.transpose(1, 2).reshape(x.shape)

    ours = zoo.from_diffusers(theirs).eval()
    return (ours, theirs_call, lambda: ours(x, t, context=context),
            f"B1 F3 {hw}x{hw} lat, {text} text, {cfg['num_attention_heads']}x{cfg['attention_head_dim']}")


def _mochi(size: str, g: torch.Generator):
    import diffusers

    from zoo.testing.tiny_mochi import MOCHI_T2V

    cfg = dict(MOCHI_T2V)
    hw, text, real = 8, 16, 10
    if size == "small":
        cfg.update(num_attention_heads=4, attention_head_dim=64, pooled_projection_dim=64, text_embed_dim=64)
        hw, text, real = 16, 256, 40
    torch.manual_seed(0)
    theirs = _perturbed(diffusers.MochiTransformer3DModel(**cfg))
    x = torch.randn(1, cfg["in_channels"], 3, hw, hw, generator=g)
    context = torch.randn(1, text, cfg["text_embed_dim"], generator=g)
    mask = (torch.arange(text) < real)[None]
    t = torch.tensor([300.0])
    ours = zoo.from_diffusers(theirs).eval()
    return (ours, lambda: theirs(hidden_states=x, timestep=t, encoder_hidden_states=context,
                                 encoder_attention_mask=mask).sample,
            lambda: ours(x, t, context=context, context_mask=mask),
            f"B1 F3 {hw}x{hw} lat, {text} text ({real} real), "
            f"{cfg['num_attention_heads']}x{cfg['attention_head_dim']}")


def _wan(size: str, g: torch.Generator):
    """The suite's own pair (its inputs, its converted model)."""
    from .suites.vs_diffusers import SIZES as SUITE

    _, ours, theirs_call, ours_call, (b, f, h, w) = suite_pair("wan", size, torch.device("cpu"), torch.float32)
    config, *_, tokens = SUITE[("wan", size)]
    return (ours, theirs_call, ours_call,
            f"B{b} F{f} {h}x{w} lat, {tokens} text, {config['num_attention_heads']}x{config['attention_head_dim']}")


BUILDERS = {"cogvideox": _cogvideox, "hunyuan_video": _hunyuan_video, "ltx_video": _ltx_video, "wan": _wan,
            "mochi": _mochi}


def run_case(model: str, size: str, rounds: int) -> dict:
    """One row: ``{model, size, shape, zoo_ms, diffusers_ms, ratio, q1, q3, max_abs_diff}``."""
    _, theirs_call, ours_call, shape = BUILDERS[model](size, torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = float((ours_call() - theirs_call()).abs().max())
        if not diff <= TOL:
            raise ValueError(f"{model}/{size}: outputs differ, max |zoo - diffusers| = {diff:.3g} > {TOL}")
        times = interleaved({"zoo": ours_call, "diffusers": theirs_call}, torch.device("cpu"),
                            rounds=rounds, warmup=1, block_ms=50.0)
    ratio, q1, q3 = ratio_stats(times["zoo"], times["diffusers"])
    return dict(model=model, size=size, shape=shape, zoo_ms=statistics.median(times["zoo"]),
                diffusers_ms=statistics.median(times["diffusers"]), ratio=ratio, q1=q1, q3=q3, max_abs_diff=diff,
                rounds=rounds)


def table(rows: list[dict]) -> str:
    lines = ["| model | size | shape (batch, latent frames, latent H×W, text tokens, heads × head dim) | zoo ms | "
             "diffusers ms | ratio zoo/diffusers [IQR] | max \\|Δ\\| |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['size']} | {r['shape']} | {r['zoo_ms']:.3g} | {r['diffusers_ms']:.3g} | "
                     f"{r['ratio']:.3f} [{r['q1']:.3f}–{r['q3']:.3f}] | {r['max_abs_diff']:.1e} |")
    return "\n".join(lines)


def write(section: str) -> None:
    text = DOC.read_text() if DOC.is_file() else "# Benchmark results: vs_diffusers (cpu)\n"
    block = f"{BEGIN}\n{section}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.vs_diffusers", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes only")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds per case (default 9)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--write", action="store_true", help=f"write the table into {DOC.name}")
    args = parser.parse_args(argv)
    if args.rounds < 3:
        parser.error(f"--rounds must be >= 3 (quartiles of the per-round ratios), got {args.rounds}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = []
        for model in args.models:
            for size in SIZES[:1] if args.quick else SIZES:
                rows.append(run_case(model, size, args.rounds))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    finally:
        torch.set_num_threads(threads)
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    header = (f"### Transformers (issue #20): `python -m benchmarks.vs_diffusers{' --quick' if args.quick else ''}`"
              f"\n\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
              f"**1 thread**, fp32, {args.rounds} interleaved rounds; load average at the end {load} (shared "
              "machine: the ratios, not the absolute times, are the result).\n")
    section = header + "\n" + table(rows)
    print("\n" + section)
    if args.write:
        write(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
