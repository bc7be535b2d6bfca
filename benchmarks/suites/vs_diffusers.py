"""Whole-denoiser forward, zoo vs diffusers on identical weights: SVD, ModelScope-T2V (UNet3D) and the Wan 2.1
transformer; and the Wan causal VAE's decode (``wan_vae``: latent frames streamed one at a time on both sides).

For each model × size a random diffusers model is built (weights moved off their init, so zero-initialised parts do
real work), converted with ``zoo.from_diffusers`` and both are run on the same inputs in the same process:

* correctness first: the outputs must agree (max |Δ| is recorded; a case whose outputs differ is an ``error``);
* then interleaved A/B blocks (zoo, diffusers, diffusers, zoo, …), the **median of the per-round ratios**
  ``zoo / diffusers`` with its IQR (docs/perf.md §7 method), ``torch.set_num_threads(1)`` on CPU for the suite.

Goal: ratio ≤ 1.0 (we are not slower than the peer on its own model; docs/perf.md §8 asks ≥ 1.3× on GPU). Inputs use
each side's own layout (SVD: diffusers ``B T C H W``, ours ``B C T H W``), prepared outside the timed region.

Sizes (batch 1, one video as in unguided sampling): ``tiny`` is the converter tests' config (block_out_channels
(32, 64), 3 frames, 16×16 latents; Wan: 2 heads of 12, 2 layers); ``small`` is (64, 128) channels, head size 64,
8 frames, 32×32 latents (Wan: 4 heads of 64, 4 layers, 5 frames of 32×32 latents = 1,280 tokens). Wan VAE: ``tiny``
base 8, z 4, 2 latent frames of 4×4 (5 frames of 32×32 pixels); ``small`` base 32, mults (1, 2, 4, 4), 2 res-blocks,
z 16, 3 latent frames of 8×8 (9 frames of 64×64). ``--quick`` runs ``tiny`` only.
"""

from __future__ import annotations

import statistics

import torch

from ..cases import Context, base_record, error_record
from ..timing import interleaved, ratio_stats


SUITE = "vs_diffusers"
TARGET = 1.0  # zoo time / diffusers time

SVD_TYPES = dict(down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
                 up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"))
UNET3D_TYPES = dict(down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
                    up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"))

# (diffusers config, batch, frames, height, width, context tokens)
SIZES = {
    ("svd", "tiny"): (dict(in_channels=8, out_channels=4, block_out_channels=(32, 64), layers_per_block=2,
                           cross_attention_dim=16, num_attention_heads=(2, 4), addition_time_embed_dim=8,
                           projection_class_embeddings_input_dim=24, num_frames=3, sample_size=16, **SVD_TYPES),
                      1, 3, 16, 16, 1),
    ("svd", "small"): (dict(in_channels=8, out_channels=4, block_out_channels=(64, 128), layers_per_block=2,
                            cross_attention_dim=64, num_attention_heads=(1, 2), addition_time_embed_dim=32,
                            projection_class_embeddings_input_dim=96, num_frames=8, sample_size=32, **SVD_TYPES),
                       1, 8, 32, 32, 1),
    ("unet3d", "tiny"): (dict(in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=2,
                              norm_num_groups=8, attention_head_dim=8, cross_attention_dim=16, sample_size=16,
                              **UNET3D_TYPES),
                         1, 3, 16, 16, 5),
    ("unet3d", "small"): (dict(in_channels=4, out_channels=4, block_out_channels=(64, 128), layers_per_block=2,
                               norm_num_groups=32, attention_head_dim=64, cross_attention_dim=64, sample_size=32,
                               **UNET3D_TYPES),
                          1, 8, 32, 32, 16),
}
WAN = dict(patch_size=(1, 2, 2), cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, in_channels=4,
           out_channels=4)
SIZES |= {
    ("wan", "tiny"): (dict(num_attention_heads=2, attention_head_dim=12, text_dim=16, freq_dim=32, ffn_dim=32,
                           num_layers=2, **WAN), 1, 3, 16, 16, 7),
    ("wan", "small"): (dict(num_attention_heads=4, attention_head_dim=64, text_dim=64, freq_dim=256, ffn_dim=1024,
                            num_layers=4, **WAN), 1, 5, 32, 32, 32),
}
# Wan's causal VAE, decode only (the pipelines' per-video cost): (config, batch, latent frames, latent h, w, -)
WAN_VAE = dict(temperal_downsample=[False, True, True])
SIZES |= {
    ("wan_vae", "tiny"): (dict(base_dim=8, z_dim=4, dim_mult=[1, 2, 2, 2], num_res_blocks=1, **WAN_VAE),
                          1, 2, 4, 4, 0),
    ("wan_vae", "small"): (dict(base_dim=32, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, **WAN_VAE),
                           1, 3, 8, 8, 0),
}
RECIPE = {"svd": "zoo/svd", "unet3d": "zoo/modelscope_t2v", "wan": "net/wan_transformer", "wan_vae": "net/wan_vae"}
CLASSES = {"svd": "UNetSpatioTemporalConditionModel", "unet3d": "UNet3DConditionModel", "wan": "WanTransformer3DModel",
           "wan_vae": "AutoencoderKLWan"}


def build_pair(model: str, size: str, device: torch.device, dtype: torch.dtype):
    """``(diffusers_model, zoo_model, diffusers_call, zoo_call, (B, F, H, W))`` for one case; the calls take no
    arguments and return ``B C T H W`` outputs."""
    import diffusers

    import zoo

    config, batch, frames, height, width, tokens = SIZES[(model, size)]
    torch.manual_seed(0)
    theirs = getattr(diffusers, CLASSES[model])(**config).eval()
    with torch.no_grad():  # off the (partly zero) init, so every layer does real work
        for p in theirs.parameters():
            p.add_(0.05 * torch.randn_like(p))
    if device.type != "cpu" or dtype != torch.float32:
        theirs = theirs.to(device=device, dtype=dtype)
    ours = zoo.from_diffusers(theirs).eval()
    g = torch.Generator().manual_seed(1)

    def rand(*shape):
        return torch.randn(*shape, generator=g).to(device=device, dtype=dtype)

    if model == "wan_vae":  # decode raw latents (B, z, T, h, w), the same tensor on both sides
        z = rand(batch, config["z_dim"], frames, height, width)
        return theirs, ours, lambda: theirs.decode(z).sample, lambda: ours.decode(z), (batch, frames, height, width)
    context = rand(batch, tokens, config["text_dim" if model == "wan" else "cross_attention_dim"])
    if model == "svd":
        sample = rand(batch, frames, config["in_channels"], height, width)  # diffusers: B T C H W
        x = sample.permute(0, 2, 1, 3, 4).contiguous()  # ours: B C T H W, converted outside the timed region
        t = torch.linspace(-0.5, 0.5, batch).to(device=device, dtype=dtype)  # EDM c_noise
        added = torch.tensor([[6.0, 127.0, 0.02]]).repeat(batch, 1).to(device=device, dtype=dtype)

        def theirs_call():
            return theirs(sample, t, context, added).sample.permute(0, 2, 1, 3, 4)

        def ours_call():
            return ours(x, t, context=context, added_cond=added)
    elif model == "wan":
        x = rand(batch, config["in_channels"], frames, height, width)  # both B C T H W
        t = torch.linspace(10, 900, batch).to(device=device, dtype=dtype)  # diffusers' timesteps (time_scale 1)

        def theirs_call():
            return theirs(hidden_states=x, timestep=t, encoder_hidden_states=context).sample

        def ours_call():
            return ours(x, t, context=context)
    else:
        x = rand(batch, config["in_channels"], frames, height, width)  # both B C T H W
        t = torch.linspace(10, 900, batch).long().to(device)

        def theirs_call():
            return theirs(x, t, encoder_hidden_states=context).sample

        def ours_call():
            return ours(x, t, context=context)

    return theirs, ours, theirs_call, ours_call, (batch, frames, height, width)


def checked_timings(ctx: Context, ours_call, theirs_call, what: str) -> tuple[float, dict]:
    """``(max |zoo − diffusers|, interleaved times)``: the outputs are compared first (a ValueError past 1e-3 in fp32,
    5e-2 in half precision), then both calls are timed interleaved in this process."""
    with torch.no_grad():
        diff = (ours_call().float() - theirs_call().float()).abs().max().item()
        tol = 1e-3 if ctx.dtype == torch.float32 else 5e-2
        if not diff <= tol:
            raise ValueError(f"{what} differ: max |zoo - diffusers| = {diff:.3g} > {tol}")
        times = interleaved({"zoo": ours_call, "diffusers": theirs_call}, ctx.device,
                            rounds=max(ctx.rounds, 3), warmup=max(ctx.warmup, 1), block_ms=ctx.block_ms)
    return diff, times


def _case(ctx: Context, model: str, size: str) -> dict:
    name = f"{model}/{size}/fwd"
    fields = dict(key=RECIPE[model], preset=size, direction="fwd", backend="zoo vs diffusers")
    try:
        theirs, ours, theirs_call, ours_call, (b, f, h, w) = build_pair(model, size, ctx.device, ctx.dtype)
        config = SIZES[(model, size)][0]
        width = (config.get("block_out_channels") or config.get("base_dim")
                 or config["num_attention_heads"] * config["attention_head_dim"])
        fields["shape"] = f"B{b} F{f} {h}x{w} ch{width}"
        diff, times = checked_timings(ctx, ours_call, theirs_call, "outputs")
    except Exception as exc:  # noqa: BLE001 - one failing case must not lose the others
        return error_record(ctx, SUITE, name, exc, **fields)
    ratio, q1, q3 = ratio_stats(times["zoo"], times["diffusers"])
    ours_ms, theirs_ms = statistics.median(times["zoo"]), statistics.median(times["diffusers"])
    return base_record(
        ctx, SUITE, name, ms=ours_ms, diffusers_ms=theirs_ms, ratio=ratio, ratio_q1=q1, ratio_q3=q3,
        metric="zoo time / diffusers time (same weights)", target=f"<= {TARGET}",
        target_met=None if ctx.quick else ratio <= TARGET, rounds=len(times["zoo"]), max_abs_diff=diff,
        params=sum(p.numel() for p in ours.parameters()), threads=torch.get_num_threads(),
        note=f"zoo {ours_ms:.3g} ms vs diffusers {theirs_ms:.3g} ms per forward (medians)", **fields)


def run(ctx: Context) -> list[dict]:
    try:
        import diffusers  # noqa: F401
    except ImportError:
        ctx.log(f"{SUITE}: skipped (diffusers is not installed)")
        return [base_record(ctx, SUITE, SUITE, status="skipped", note="diffusers is not installed")]
    threads = torch.get_num_threads()
    if ctx.device.type == "cpu":
        torch.set_num_threads(1)  # docs/perf.md §7: one thread, so a concurrent process hits both sides alike
    try:
        records = []
        for model, size in SIZES:
            if ctx.quick and size != "tiny":
                continue
            ctx.log(f"{SUITE}: {model} {size}")
            records.append(_case(ctx, model, size))
        return records
    finally:
        torch.set_num_threads(threads)
