"""Sparse video attention: density, FLOPs saved, CPU time ratio against dense, and the quality cost of a sample.

    OMP_NUM_THREADS=1 python -m benchmarks.sparse_attention            # CPU: the table of docs/benchmarks/cpu/sparse_attention.md
    python -m benchmarks.sparse_attention --device cuda --dtype bfloat16 --gpu   # adds the Wan 480p token count

Module rows: each variant against ``attention/spacetime`` with the same weights on one clip, timed interleaved in the
same process (median of ``--repeats``). Recipe rows: a recipe sampled from the same noise with every spacetime
self-attention swapped (``swap_spacetime_attention``) and dense; PSNR / SSIM of the sparse sample against the dense
one (random-init weights unless a trained model is given: the numbers then measure the mechanism, not a model).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import components
from components.attention import swap_spacetime_attention


# knobs per variant on the module clip (8 frames of 16×16 tokens) and on the recipes' small token grids
MODULE_KNOBS = {
    "sliding_tile": {"tile": [2, 4, 4], "window": [3, 3, 3]},
    "radial": {"block_size": 32},
    "sparse_videogen": {},
    "video_sparse": {"tile": [2, 4, 4], "sparsity": 0.75},
}
RECIPE_KNOBS = {
    "sliding_tile": {"tile": [1, 2, 2], "window": [3, 1, 1]},
    "radial": {"block_size": 4},
    "sparse_videogen": {"num_samples": 16},
    "video_sparse": {"tile": [1, 2, 2], "sparsity": 0.5},
}


def psnr(a, b) -> float:
    """PSNR in dB of videos in [−1, 1] (peak-to-peak 2)."""
    mse = F.mse_loss(a.float().clamp(-1, 1), b.float().clamp(-1, 1)).item()
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(4.0 / mse)).item()


def ssim(a, b) -> float:
    """Mean SSIM (Wang et al. 2004, 7×7 uniform window, C1 = (0.01·2)², C2 = (0.03·2)²) over frames and channels of
    ``(B, C, T, H, W)`` videos in [−1, 1]."""
    x, y = (v.float().clamp(-1, 1).permute(0, 2, 1, 3, 4).flatten(0, 2)[:, None] for v in (a, b))
    k = min(7, x.shape[-1], x.shape[-2])
    mu_x, mu_y = F.avg_pool2d(x, k, 1), F.avg_pool2d(y, k, 1)
    var_x = F.avg_pool2d(x * x, k, 1) - mu_x**2
    var_y = F.avg_pool2d(y * y, k, 1) - mu_y**2
    cov = F.avg_pool2d(x * y, k, 1) - mu_x * mu_y
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.mean().item()


def _interleaved(fns, repeats):
    times = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def module_rows(shape, dim, heads, repeats, device, dtype, extra=None) -> list[dict]:
    extra = extra or {}
    torch.manual_seed(0)
    dense = components.build("attention/spacetime", dim=dim, num_heads=heads, **extra).to(device, dtype).eval()
    x = torch.randn(shape[0], dim, *shape[1:], device=device, dtype=dtype)
    rows = []
    for name, knobs in MODULE_KNOBS.items():
        sparse = components.build(f"attention/{name}", dim=dim, num_heads=heads, **extra, **knobs).to(device, dtype)
        sparse.load_state_dict(dense.state_dict(), strict=False)
        sparse.eval()
        with torch.no_grad():
            sparse(x)
            t_dense, t_sparse = _interleaved([lambda: dense(x), lambda s=sparse: s(x)], repeats)
        rows.append(dict(variant=name, knobs=knobs, density=sparse.last_density, flops=sparse.flops(x.shape),
                         dense_flops=dense.flops(x.shape), ms=t_sparse * 1e3, dense_ms=t_dense * 1e3))
    return rows


def recipe_rows(name, preset, frames, size, steps, repeats) -> list[dict]:
    import zoo

    rows = []
    torch.manual_seed(0)
    dense_model = zoo.create_model(name, preset).eval()
    pipe = zoo.create_pipeline(name, preset, model=dense_model)
    cond = pipe.example_conditioning(1, num_frames=pipe.model_frames(frames, "frames"),
                                     height=size // pipe.spatial_factor, width=size // pipe.spatial_factor,
                                     generator=torch.Generator().manual_seed(0))

    def sample(p):
        with torch.no_grad():
            return p(num_frames=frames, num_inference_steps=steps, seed=0, height=size, width=size, progress=False,
                     decode=True, **cond)

    for variant, knobs in RECIPE_KNOBS.items():
        torch.manual_seed(0)
        model = swap_spacetime_attention(zoo.create_model(name, preset).eval(), variant, **knobs)
        model.load_state_dict(dense_model.state_dict(), strict=False)
        sparse_pipe = zoo.create_pipeline(name, preset, model=model)
        ref, out = sample(pipe), sample(sparse_pipe)
        t_dense, t_sparse = _interleaved([lambda: sample(pipe), lambda p=sparse_pipe: sample(p)], repeats)
        mods = [m for m in model.modules() if getattr(m, "last_density", None) is not None]
        rows.append(dict(recipe=f"{name}/{preset}", variant=variant, knobs=knobs,
                         density=sum(m.last_density for m in mods) / len(mods), psnr=psnr(out, ref),
                         ssim=ssim(out, ref), ratio=t_sparse / t_dense))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--gpu", action="store_true", help="also the Wan 2.1 480p token count (21×30×52, 12×128)")
    args = parser.parse_args(argv)
    dtype = getattr(torch, args.dtype)
    print("| variant | knobs | density | attention GFLOPs sparse / dense | ms sparse / dense | time ratio |")
    print("|---|---|---|---|---|---|")
    shapes = [((1, 8, 16, 16), 512, 8, {})]
    if args.gpu:
        wan = {"position": "rope", "qk_norm": "rms_across_heads", "qkv_bias": True}
        MODULE_KNOBS.update(sliding_tile={"tile": [3, 6, 4], "window": [3, 3, 3]}, radial={},
                            video_sparse={"tile": [3, 6, 4], "sparsity": 0.875})
        shapes = [((1, 21, 30, 52), 1536, 12, wan)]
    for shape, dim, heads, extra in shapes:
        for r in module_rows(shape, dim, heads, args.repeats, args.device, dtype, extra):
            print(f"| {r['variant']} | {r['knobs']} | {r['density']:.3f} | {r['flops'] / 1e9:.2f} / "
                  f"{r['dense_flops'] / 1e9:.2f} | {r['ms']:.1f} / {r['dense_ms']:.1f} | "
                  f"{r['ms'] / r['dense_ms']:.2f} |")
    if args.gpu:
        return
    print("\n| recipe | variant | density | PSNR dB | SSIM | time ratio |")
    print("|---|---|---|---|---|---|")
    for name, preset, frames, size in (("wan2_1_t2v_1_3b", "tiny", 17, 64), ("sora_dit", "tiny", None, None)):
        try:
            rows = recipe_rows(name, preset, frames, size, steps=4, repeats=max(1, args.repeats // 2))
        except Exception as err:  # a recipe that cannot run here is reported, the others still are
            print(f"| {name}/{preset} | - | - | - | - | {type(err).__name__}: {err} |")
            continue
        for r in rows:
            print(f"| {r['recipe']} | {r['variant']} {r['knobs']} | {r['density']:.3f} | {r['psnr']:.1f} | "
                  f"{r['ssim']:.3f} | {r['ratio']:.2f} |")


if __name__ == "__main__":
    main()
