"""The whole diffusers ``StableVideoDiffusionPipeline`` call with our U-Net (through ``DiffusersUNet``) vs with
diffusers' own, on identical weights, in the same process (issue #14 item 5).

Two pipelines share every component (CLIP image encoder, temporal-decoder VAE, Euler scheduler, feature extractor)
but the U-Net: diffusers' random ``UNetSpatioTemporalConditionModel`` (weights moved off their init) in one,
``DiffusersUNet.from_diffusers`` of it in the other. The timed call is everything a user runs: CLIP embedding, VAE
encoding of the conditioning frame, ``steps`` Euler steps with classifier-free guidance (batch 2 through the U-Net),
VAE decoding of every frame, ``output_type="pt"``, same image and seed.

* correctness first: the frames must agree (max |Δ| recorded; above 1e-3 in fp32 the case is an ``error``);
* then interleaved A/B blocks (zoo, diffusers, diffusers, zoo, …): the **median of the per-round ratios**
  ``zoo / diffusers`` with its IQR (docs/perf.md §7), ``torch.set_num_threads(1)`` on CPU, as ``vs_diffusers``.

Goal: ratio ≤ 1.0. Sizes: ``tiny`` = ``zoo.testing.tiny_pipelines.tiny_svd_pipeline()`` (U-Net (32, 64), one
res-block per level, 3 frames, 8×8 latents = 16×16 video, 4 steps); ``small`` = ``vs_diffusers``' SVD small U-Net
((64, 128), two res-blocks per level, head size 64, 8 frames, 32×32 latents = 64×64 video, 2 steps). ``--quick``
runs ``tiny`` only.
"""

from __future__ import annotations

import statistics

import numpy as np
import torch

from ..cases import Context, base_record, error_record
from ..timing import ratio_stats
from .vs_diffusers import checked_timings


SUITE = "diffusers_pipeline"
TARGET = 1.0  # zoo U-Net pipeline time / diffusers U-Net pipeline time

_SMALL_UNET = dict(block_out_channels=(64, 128), layers_per_block=2, cross_attention_dim=64, num_attention_heads=(1, 2),
                   addition_time_embed_dim=32, projection_class_embeddings_input_dim=96, num_frames=8, sample_size=32)
# size -> (U-Net overrides of tiny_svd_pipeline's, frames, latent height = width, steps)
SIZES = {"tiny": ({}, 3, 8, 4), "small": (_SMALL_UNET, 8, 32, 2)}


def build_pair(size: str, device: torch.device, dtype: torch.dtype):
    """``(zoo_call, diffusers_call, (frames, pixels, steps))``: two no-argument calls of the same pipeline (but for
    the U-Net) on the same image and seed, each returning frames ``(B, T, C, H, W)``."""
    import diffusers
    from PIL import Image

    from zoo.convert.diffusers_adapter import DiffusersUNet
    from zoo.testing.tiny_pipelines import tiny_svd_pipeline

    unet, frames, latent, steps = SIZES[size]
    theirs = tiny_svd_pipeline(unet=unet)
    if device.type != "cpu" or dtype != torch.float32:
        theirs = theirs.to(device=device, dtype=dtype)
    parts = dict(theirs.components, unet=DiffusersUNet.from_diffusers(theirs.unet))
    ours = diffusers.StableVideoDiffusionPipeline(**parts)
    pixels = 2 * latent  # the tiny VAE's two levels: f = 2
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (pixels, pixels, 3), dtype=np.uint8))
    for pipe in (ours, theirs):
        pipe.set_progress_bar_config(disable=True)

    def call(pipe):
        def run():
            return pipe(image, height=pixels, width=pixels, num_frames=frames, num_inference_steps=steps,
                        decode_chunk_size=frames, output_type="pt", generator=torch.Generator().manual_seed(0)).frames
        return run

    return call(ours), call(theirs), (frames, pixels, steps)


def _case(ctx: Context, size: str) -> dict:
    name = f"svd_pipeline/{size}"
    fields = dict(key="zoo/svd", preset=size, direction="fwd", backend="zoo U-Net vs diffusers U-Net")
    try:
        ours_call, theirs_call, (frames, pixels, steps) = build_pair(size, ctx.device, ctx.dtype)
        fields.update(shape=f"B1 F{frames} {pixels}x{pixels} px, {steps} Euler steps with CFG", steps=steps)
        diff, times = checked_timings(ctx, ours_call, theirs_call, "frames")
    except Exception as exc:  # noqa: BLE001 - one failing case must not lose the other
        return error_record(ctx, SUITE, name, exc, **fields)
    ratio, q1, q3 = ratio_stats(times["zoo"], times["diffusers"])
    ours_ms, theirs_ms = statistics.median(times["zoo"]), statistics.median(times["diffusers"])
    return base_record(
        ctx, SUITE, name, ms=ours_ms, diffusers_ms=theirs_ms, ratio=ratio, ratio_q1=q1, ratio_q3=q3,
        metric="pipeline time with zoo U-Net / with diffusers U-Net", target=f"<= {TARGET}",
        target_met=None if ctx.quick else ratio <= TARGET, rounds=len(times["zoo"]), max_abs_diff=diff,
        threads=torch.get_num_threads(),
        note=f"zoo {ours_ms:.4g} ms vs diffusers {theirs_ms:.4g} ms per pipeline call (medians)", **fields)


def run(ctx: Context) -> list[dict]:
    try:
        import diffusers  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        ctx.log(f"{SUITE}: skipped ({exc.name} is not installed)")
        return [base_record(ctx, SUITE, SUITE, status="skipped", note=f"{exc.name} is not installed")]
    threads = torch.get_num_threads()
    if ctx.device.type == "cpu":
        torch.set_num_threads(1)  # docs/perf.md §7: one thread, so a concurrent process hits both sides alike
    try:
        records = []
        for size in SIZES:
            if ctx.quick and size != "tiny":
                continue
            ctx.log(f"{SUITE}: {size}")
            records.append(_case(ctx, size))
        return records
    finally:
        torch.set_num_threads(threads)
