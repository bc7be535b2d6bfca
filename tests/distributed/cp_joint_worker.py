"""Run under torchrun (gloo, CPU) by tests/distributed/test_context_parallel_joint.py: joint (MM-DiT) attention and
the MM-DiT blocks with the video tokens sharded and the text whole, against one process; rank 0 writes JSON.

``python -m torch.distributed.run --nproc_per_node N cp_joint_worker.py OUT SPEC [SPEC ...]``; each SPEC is a
``--context-parallel`` value. Results: ``OUT/results.json`` keyed ``"<check>/<spec>/<case>"``: max errors against one
process, the max difference of the text output between ranks, and the bytes that leave rank 0 (``cp_worker``'s
counting wrappers of the functional collectives).
"""

import json
import sys
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from cp_worker import SENT, _counting, _randomise

import components
from components.attention import init_context_parallel
from components.attention.context_parallel import sequence_shard
from components.attention.joint import JointAttention
from components.registry import get_component


DIM, HEADS, TEXT = 32, 4, 5
CASES = {  # HunyuanVideo dual stream; CogVideoX (shared projections, [text ; video]); Mochi's last block
    "dual": dict(separate_context=True, qk_norm="rms"),
    "shared_context_first": dict(separate_context=False, context_first=True, qk_norm="layer"),
    "pre_only": dict(separate_context=True, context_dim=8, context_pre_only=True),
}
BLOCKS = ("block/hunyuan_video_dual", "block/hunyuan_video_single", "block/cogvideox", "block/mochi")


def _spread(x, me):
    """Max difference between rank 0's ``x`` and this rank's (0 when every rank holds the same bits)."""
    if x is None:
        return 0.0
    first = x.detach().clone()
    dist.broadcast(first, 0)
    diff = (x - first).abs().max()
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    return diff.item()


def _sharded(module, attn, cp, n, x, rope, *args, **kwargs):
    """``module(x, *args, rope=rope, **kwargs)`` on this rank's shard of the ``n`` video tokens (``attn``: its joint
    attention, marked sharded for the call) -> the gathered video output and the text output."""
    attn.sequence_sharded = True
    try:
        with sequence_shard(cp, n) as shard:
            if rope is not None:
                kwargs["rope"] = tuple(shard.split(t, dim=t.ndim - 2) for t in rope)
            out_x, out_c, *_ = module(shard.split(x), *args, **kwargs)
            return shard.gather(out_x), out_c
    finally:
        attn.sequence_sharded = False


def attention_checks(cp, tag, results):
    for name, cfg in CASES.items():
        for n in (12, 13, 7):
            for backend in ("math", "sdpa"):
                torch.manual_seed(n)
                attn = _randomise(JointAttention(DIM, HEADS, backend=backend, **cfg).eval())
                g = torch.Generator().manual_seed(n)
                x = torch.randn(2, n, DIM, generator=g)
                c = torch.randn(2, TEXT, attn.context_width, generator=g)
                mask = torch.tensor([[True] * TEXT, [True, True, True, False, False]])
                angles = torch.randn(n, DIM // HEADS, generator=g)
                rope = (angles.cos(), angles.sin())
                with torch.no_grad():
                    ref_x, ref_c = attn(x, c, rope=rope, context_mask=mask)
                    SENT["bytes"] = 0
                    out_x, out_c = _sharded(attn, attn, cp, n, x, rope, c, context_mask=mask)
                key = f"{tag}/{name}/{n}/{backend}"
                results[f"bytes/{key}"] = SENT["bytes"]
                results[f"video/{key}"] = (out_x - ref_x).abs().max().item()
                results[f"text/{key}"] = 0.0 if ref_c is None else (out_c - ref_c).abs().max().item()
                results[f"text_spread/{key}"] = _spread(out_c, dist.get_rank())
    results[f"dims/{tag}"] = [DIM, TEXT]


def gradient_checks(cp, tag, results):
    """Each rank's loss covers its video rows (and, once, the text rows); parameter gradients summed over ranks
    equal one process's."""
    n = 13
    torch.manual_seed(1)
    attn = _randomise(JointAttention(DIM, HEADS, **CASES["dual"]))
    g = torch.Generator().manual_seed(1)
    x, c = torch.randn(2, n, DIM, generator=g), torch.randn(2, TEXT, DIM, generator=g)
    wx, wc = torch.randn(2, n, DIM, generator=g), torch.randn(2, TEXT, DIM, generator=g)
    ref_x, ref_c = attn(x, c)
    ref = torch.autograd.grad((ref_x * wx).sum() + (ref_c * wc).sum(), list(attn.parameters()))
    attn.sequence_sharded = True
    with sequence_shard(cp, n) as shard:
        out_x, out_c = attn(shard.split(x), c)
        loss = (out_x * shard.split(wx)).sum() + (out_c * wc).sum() / cp.degree
        grads = torch.autograd.grad(loss, list(attn.parameters()))
    attn.sequence_sharded = False
    grads = [gr.clone() for gr in grads]
    for gr in grads:
        dist.all_reduce(gr)
    results[f"gradient/{tag}"] = max((a - b).abs().max().item() for a, b in zip(grads, ref))


def block_checks(cp, tag, results):
    n = 13  # padded on 2 ranks
    for key in BLOCKS:
        entry = get_component(key)
        torch.manual_seed(0)
        block = _randomise(components.build(key, **entry.tiny).eval())
        args, kwargs = entry.inputs(entry.tiny, frames=3, generator=torch.Generator().manual_seed(0))  # 18 tokens
        x, rest = args[0][:, :n], args[1:]
        rope = kwargs.pop("rope", None)
        rope = None if rope is None else tuple(t[..., :n, :] for t in rope)
        with torch.no_grad():
            ref_x, ref_c, *_ = block(x, *rest, **kwargs, **({} if rope is None else {"rope": rope}))
            out_x, out_c = _sharded(block, block.attn, cp, n, x, rope, *rest, **kwargs)
        name = key.split("/")[1]
        results[f"block/{tag}/{name}"] = max((out_x - ref_x).abs().max().item(), (out_c - ref_c).abs().max().item())
        results[f"block_spread/{tag}/{name}"] = _spread(out_c, dist.get_rank())


# sin-cos and RoPE CogVideoX; HunyuanVideo (refiner whole); Mochi (per-head rope tables, caption pool whole); LTX-Video
# (a SpaceTimeDiT with per-head rope tables)
NETS = ("cogvideox_2b", "cogvideox_5b", "hunyuan_video", "mochi", "ltx_video")


def net_checks(cp, tag, results):
    """Whole tiny MM-DiT nets (weights moved off their init), video tokens sharded, text whole, against one process;
    HunyuanVideo with a padded prompt (``context_mask``)."""
    import zoo
    from components.attention import set_context_parallel

    for name in NETS:
        torch.manual_seed(0)
        pipe = zoo.create_pipeline(name, "tiny")
        model = _randomise(pipe.model.eval())
        p = zoo.get_recipe(name).preset("tiny")
        g = torch.Generator().manual_seed(0)
        x = torch.randn(2, p.channels, p.frames, p.height, p.width, generator=g)
        cond = pipe.example_conditioning(2, generator=g)
        if "context_mask" in cond:
            cond["context_mask"] = torch.ones_like(cond["context_mask"])
            cond["context_mask"][0, -2:] = 0
        t = torch.tensor([0.7, 0.2]) if pipe.sampling.time_input == "continuous" else torch.tensor([700, 20])
        with torch.no_grad():
            ref = model(x, t, **cond)
            set_context_parallel(model, cp)
            out = model(x, t, **cond)
            set_context_parallel(model, None)
        results[f"net/{tag}/{name}"] = (out - ref).abs().max().item()
        results[f"net_scale/{tag}/{name}"] = ref.abs().max().item()


if __name__ == "__main__":
    out_dir, specs = Path(sys.argv[1]), sys.argv[2:]
    torch.set_num_threads(1)
    dist.init_process_group("gloo", timeout=timedelta(seconds=60))
    for name in ("all_to_all_single", "all_gather_single_autograd"):
        _counting(name)
    results = {}
    for spec in specs:
        cp = init_context_parallel(spec)
        attention_checks(cp, spec, results)
        gradient_checks(cp, spec, results)
        block_checks(cp, spec, results)
        net_checks(cp, spec, results)
    if dist.get_rank() == 0:
        (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    dist.destroy_process_group()
