"""Run under torchrun (gloo, CPU) by the context-parallel tests: every check on every rank, rank 0 writes JSON.

``python -m torch.distributed.run --nproc_per_node N cp_worker.py OUT SPEC [SPEC ...]``; each SPEC is a
``--context-parallel`` value (``cfg+`` in front: with CFG-parallel). Results: ``OUT/results.json``, a dict keyed by
``"<check>/<spec>[/<case>]"`` of max errors and byte counts (bytes that leave rank 0, counted by wrapping the
functional collectives every context-parallel transfer goes through).
"""

import json
import sys
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol

import zoo
from components.attention import attend, init_context_parallel, set_context_parallel, sharded_attention
from components.attention.context_parallel import SequenceShard


SENT = {"bytes": 0}


def _counting(name):
    inner = getattr(funcol, name)

    def wrapped(tensor, *args, **kwargs):
        group = args[2] if name == "all_to_all_single" else args[1]
        group = kwargs.get("group", group)
        size, me = dist.get_world_size(group), dist.get_rank(group)
        row = tensor.element_size() * tensor[0].numel() if tensor.ndim else tensor.element_size()
        if name == "all_to_all_single":
            splits = args[1] if len(args) > 1 and args[1] is not None else [tensor.shape[0] // size] * size
            SENT["bytes"] += row * (sum(splits) - splits[me])
        else:  # all-gather: every peer receives this rank's tensor
            SENT["bytes"] += tensor.numel() * tensor.element_size() * (size - 1)
        return inner(tensor, *args, **kwargs)

    setattr(funcol, name, wrapped)


def attention_checks(cp, tag, results):
    for n in (12, 13, 7):
        for backend in ("math", "sdpa"):
            g = torch.Generator().manual_seed(n)
            q, k, v = (torch.randn(2, 4, n, 8, generator=g) for _ in range(3))
            shard = SequenceShard(cp, n)
            SENT["bytes"] = 0
            local = sharded_attention(*(shard.split(x, dim=2) for x in (q, k, v)), cp, valid=n, backend=backend)
            results[f"attention_bytes/{tag}/{n}/{backend}"] = SENT["bytes"]
            out = shard.gather(local, dim=2)
            ref = attend(q, k, v, backend="math")
            results[f"attention/{tag}/{n}/{backend}"] = (out - ref).abs().max().item()
    # gradients: each rank's loss covers its rows; the shards' gradients summed over ranks are the full gradient
    n = 13
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 4, n, 8, generator=g, requires_grad=True) for _ in range(3))
    w = torch.randn(1, 4, n, 8, generator=g)
    shard = SequenceShard(cp, n)
    local = sharded_attention(*(shard.split(x, dim=2) for x in (q, k, v)), cp, valid=n)
    (local * shard.split(w, dim=2)).sum().backward()
    grads = [x.grad.clone() for x in (q, k, v)]
    for grad in grads:
        dist.all_reduce(grad)
    ref = [torch.autograd.grad((attend(q, k, v, backend="math") * w).sum(), x)[0] for x in (q, k, v)]
    results[f"gradient/{tag}"] = max((a - b).abs().max().item() for a, b in zip(grads, ref))


def _randomise(model):
    """Move every weight off its init (the final layer starts at zero, which would hide any error)."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return model


def model_checks(cp, tag, results):
    torch.manual_seed(0)
    model = _randomise(zoo.create_model("wan2_1_t2v_1_3b", "tiny").eval())
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 16, 3, 6, 6, generator=g)  # 3·3·3 = 27 tokens: padded on 2 and 4 ranks
    t = torch.tensor([500.0, 20.0])
    context = torch.randn(2, 5, model.context_proj.linear_1.in_features, generator=g)
    with torch.no_grad():
        ref = model(x, t, context=context)
        set_context_parallel(model, cp)
        SENT["bytes"] = 0
        out = model(x, t, context=context)
        results[f"model_bytes/{tag}"] = SENT["bytes"]
        results[f"model_dims/{tag}"] = [model.hidden_dim, len(model.blocks), model.out_channels]
        results[f"model_scale/{tag}"] = ref.abs().max().item()
        set_context_parallel(model, None)
    results[f"model/{tag}"] = (out - ref).abs().max().item()

    torch.manual_seed(0)
    pipe = zoo.create_pipeline("wan2_1_t2v_1_3b", "tiny")
    _randomise(pipe.model)
    call = dict(num_inference_steps=2, guidance_scale=5.0, num_frames=5, height=16, width=16, output_type="pt")
    single = pipe("a cat", generator=torch.Generator().manual_seed(3), **call)
    set_context_parallel(pipe.model, cp)
    sharded = pipe("a cat", generator=torch.Generator().manual_seed(3), **call)
    set_context_parallel(pipe.model, None)
    results[f"sample/{tag}"] = (sharded - single).abs().max().item()


if __name__ == "__main__":
    out_dir, specs = Path(sys.argv[1]), sys.argv[2:]
    torch.set_num_threads(1)
    dist.init_process_group("gloo", timeout=timedelta(seconds=60))
    for name in ("all_to_all_single", "all_gather_single_autograd"):
        _counting(name)
    results = {}
    for spec in specs:
        cfg = spec.startswith("cfg+")
        cp = init_context_parallel(spec.removeprefix("cfg+"), cfg_parallel=cfg)
        if not cfg:
            attention_checks(cp, spec, results)
        model_checks(cp, spec, results)
    if dist.get_rank() == 0:
        (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    dist.destroy_process_group()
