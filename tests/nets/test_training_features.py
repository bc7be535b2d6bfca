"""Training features of both assemblers on real recipes (issue #5 items 6–7, docs/quality.md items 8–9).

* Gradient checkpointing (``gradient_checkpointing=`` / ``set_gradient_checkpointing``) changes memory, not math: the
  loss agrees within 1e-5 and every parameter's gradient within 5e-5 (diffusers' tolerances), in train mode with
  dropout 0, and every checkpointed unit really is run a second time in the backward pass.
* ``torch.compile(fullgraph=True)`` traces a whole tiny U-Net and DiT forward without a graph break and matches
  eager to 1e-5 (``aot_eager`` on CPU: dynamo + AOT autograd, no code generation).
* Paper-size models build on the ``meta`` device without allocating their weights.
"""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest
import torch

import components
import zoo
from components.blocks.dit_adaln_zero import DiTBlock
from components.nets.unet_parts import UNetUnit


# recipe presets (zoo.preset_config) run through both assemblers' checkpointed paths: SVD's alpha-merged units,
# ModelScope's stem + temporal convs + temporal attention, Latte's alternating DiT, Sora-style full attention
CHECKPOINT_CASES = {
    "svd": {"dropout": 0.0},
    "modelscope_t2v": {"dropout": 0.0, "res_block_kwargs": {"temporal_dropout": 0.0}},  # ModelScope's own 0.1
    "latte": {"class_dropout_prob": 0.0},  # label dropout is random in train mode
    "sora_dit": {},
}


def _tiny_recipe(name: str, seed: int = 0, **overrides) -> tuple[torch.nn.Module, tuple, dict]:
    """The recipe's tiny model with every weight moved off its (often zero) init, and example inputs for it."""
    config = zoo.preset_config(name, "tiny", **CHECKPOINT_CASES[name], **overrides)
    key = config.pop("type")
    torch.manual_seed(seed)
    model = components.build(key, **config)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    args, kwargs = components.get_component(key).inputs(config, frames=2, batch=2,
                                                        generator=torch.Generator().manual_seed(1))
    return model, args, kwargs


def _loss_and_grads(model: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[torch.Tensor, dict]:
    model.train()
    loss = model(*args, **kwargs).square().mean()
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def _units(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in model.modules() if isinstance(m, UNetUnit | DiTBlock)]


@pytest.mark.parametrize("name", list(CHECKPOINT_CASES))
def test_gradient_checkpointing_keeps_loss_and_every_gradient(name):
    plain, args, kwargs = _tiny_recipe(name)
    checkpointed, _, _ = _tiny_recipe(name, gradient_checkpointing=True)
    loss_a, grads_a = _loss_and_grads(plain, args, kwargs)
    loss_b, grads_b = _loss_and_grads(checkpointed, args, kwargs)
    torch.testing.assert_close(loss_b, loss_a, atol=1e-5, rtol=0)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) == sum(p.requires_grad for p in plain.parameters())
    for param, grad in grads_a.items():
        assert grad.abs().sum() > 0, f"{name}: {param} got no gradient"
        torch.testing.assert_close(grads_b[param], grad, atol=5e-5, rtol=0, msg=f"{name}: gradient of {param}")


@pytest.mark.parametrize("name", ["modelscope_t2v", "latte"])
def test_checkpointed_units_are_recomputed_in_the_backward_pass(name):
    """Each U-Net unit / DiT block runs once in the forward and, only when checkpointing in training, once more in
    the backward; in eval or under ``no_grad`` the switch does nothing."""
    model, args, kwargs = _tiny_recipe(name)
    calls = []
    for unit in _units(model):
        unit.register_forward_pre_hook(lambda module, _: calls.append(module))
    expected = len(_units(model))
    assert expected > 0
    for enabled, runs in ((False, 1), (True, 2)):
        calls.clear()
        assert model.set_gradient_checkpointing(enabled) is model and model.gradient_checkpointing is enabled
        _loss_and_grads(model, args, kwargs)
        assert len(calls) == runs * expected, f"checkpointing={enabled}: {len(calls)} unit calls"
    calls.clear()
    with torch.no_grad():
        model.train()(*args, **kwargs)
    model.eval()(*args, **kwargs).sum().backward()
    assert len(calls) == 2 * expected  # one forward each, no recomputation


def test_paper_size_svd_builds_on_meta_without_allocating_memory():
    """SVD's 1.52 B parameters would take 6.1 GB in fp32; on ``meta`` the process must not grow by 200 MB."""
    rss_before = _rss_mib()
    model = zoo.create_model("svd", preset="paper", device="meta")
    grown = _rss_mib() - rss_before
    params = list(model.parameters())
    assert sum(p.numel() for p in params) == 1_524_623_082
    assert all(p.is_meta for p in params) and all(b.is_meta for b in model.buffers())
    assert grown < 200, f"building on meta grew the resident set by {grown:.0f} MiB"


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * resource.getpagesize() / 2**20


# ---- torch.compile (docs/quality.md item 9) ----

COMPILE_CASES = {
    "net/space_time_unet": dict(frames=3),
    "net/space_time_dit": dict(frames=2, class_dropout_prob=0.0),
}


def _tiny_net(key: str) -> tuple[torch.nn.Module, tuple, dict]:
    entry = components.get_component(key)
    extra = {k: v for k, v in COMPILE_CASES[key].items() if k != "frames"}
    config = {**entry.tiny, **extra}
    torch.manual_seed(0)
    model = components.build(key, **config).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    args, kwargs = entry.inputs(config, frames=COMPILE_CASES[key]["frames"], batch=2,
                                generator=torch.Generator().manual_seed(1))
    return model, args, kwargs


@pytest.mark.compile
@pytest.mark.parametrize("key", [pytest.param("net/space_time_unet", marks=pytest.mark.slow), "net/space_time_dit"])
def test_forward_compiles_as_one_graph_and_matches_eager(key):
    """``fullgraph=True`` turns any graph break into an error (data-dependent branches, ``.item()``, untraceable
    Python in the forward). Dynamo's tracing dominates: U-Net 15–30 s (so ``slow``), DiT ~4 s on a loaded 2-core
    CPU."""
    model, args, kwargs = _tiny_net(key)
    torch._dynamo.reset()
    with torch.no_grad():
        expected = model(*args, **kwargs)
        got = torch.compile(model, backend="aot_eager", fullgraph=True)(*args, **kwargs)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.compile
def test_forward_compiles_before_any_eager_call():
    """A fresh process that compiles before anything ran eagerly (attention backends are built at import, so the
    hot path never reaches the registry, whose signature inspection dynamo cannot trace)."""
    code = (
        "import torch, components\n"
        "entry = components.get_component('net/space_time_dit')\n"
        "torch.manual_seed(0)\n"
        "model = components.build('net/space_time_dit', **entry.tiny).eval()\n"
        "args, kwargs = entry.inputs(entry.tiny, frames=2, batch=2, generator=torch.Generator().manual_seed(1))\n"
        "with torch.no_grad():\n"
        "    compiled = torch.compile(model, backend='aot_eager', fullgraph=True)(*args, **kwargs)\n"
        "    eager = model(*args, **kwargs)\n"
        "torch.testing.assert_close(compiled, eager, atol=1e-5, rtol=1e-5)\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
