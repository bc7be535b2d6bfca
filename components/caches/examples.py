"""Example inputs of the ``cache/*`` entries for the conformance suite: one network call of a tiny DiT at a step."""

from __future__ import annotations

import torch

from ..diffusion.step import Step
from ..registry import BadInput


# a cache holds no parameters: the network it runs keeps its own dtype (the nets' conformance covers bf16 / fp16)
CACHE_DTYPES = ("float32",)

def cache_inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    """``(net, x, t), {"step": Step, **cond}``: the tiny ``net/space_time_dit`` (fixed seed) at step 3 of 10."""
    from ..nets.dit import TINY
    from ..registry import build

    torch.manual_seed(0)
    net = build("net/space_time_dit", **TINY).eval()
    x = torch.randn(batch, 4, frames, 8, 8, generator=generator)
    t = torch.randint(0, 1000, (batch,), generator=generator)
    labels = torch.randint(0, 10, (batch,), generator=generator)
    return (net, x, t), {"step": Step(index=3, num_steps=10), "class_labels": labels}


def no_step(match: str = "needs the sampler's step context") -> BadInput:
    """A call without the step context is refused."""
    def make(cfg):
        (net, x, t), cond = cache_inputs(cfg)
        return (net, x, t), {**cond, "step": None}

    return BadInput(match=match, inputs=make, why="a cache call without the sampler's step")


def no_blocks(match: str = "has no block structure it needs") -> BadInput:
    """A network without a block stack (a U-Net) is refused by the block-level caches."""
    def make(cfg):
        from ..registry import build, get_component

        entry = get_component("net/space_time_unet")
        torch.manual_seed(0)
        net = build("net/space_time_unet", **entry.tiny).eval()
        args, kwargs = entry.inputs(entry.tiny, frames=2, batch=2, generator=torch.Generator().manual_seed(0))
        return (net, *args), {**kwargs, "step": Step(index=0, num_steps=2)}

    return BadInput(match=match, inputs=make, why="a U-Net has no stack of same-width blocks")


def cache_output_shape(cfg: dict, net, x, *args, **kwargs) -> tuple[int, ...]:
    """The network's output: ``(B, out_channels, T, H, W)``."""
    return (x.shape[0], net.out_channels, *x.shape[2:])
