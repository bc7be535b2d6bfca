"""The repeated unit of ``SpaceTimeUNet`` and its registry metadata (tiny inputs, bad inputs).

A unit is ``block/resnet`` (its temporal conv res-block switched on for ``temporal="conv"``), then optionally
``block/spatial_transformer`` (spatial self-attention, cross-attention to ``context``) and
``block/temporal_transformer`` (VDM: "a temporal attention block after every spatial attention block"). It owns no
layer of its own: it only wires registered blocks in order, so it is the one thing gradient checkpointing wraps.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import registry
from ..registry import BadInput


TEMPORAL_MODES = ("none", "conv", "attention", "both")


class UNetUnit(nn.Module):
    """``(B, C_in, T, H, W), emb (B, emb_dim), context -> (B, C_out, T, H, W)``: res-block [→ spatial attn] [→ temporal
    attn]. Heads are ``C_out // head_dim``, or ``num_heads`` fixed at every width when given.

    Which registered block fills each slot is configuration (``res_block``, ``spatial_block``, ``temporal_block``
    registry keys, each with extra constructor keywords), so a paper's variant of a slot (Tune-A-Video's transformer,
    SVD's alpha-merged blocks, ModelScope's temporal convs) is a registered block and a recipe line, not a new U-Net.
    """

    def __init__(self, in_channels: int, out_channels: int, *, emb_dim: int, num_groups: int, dropout: float,
                 scale_shift: bool, temporal_conv: bool, spatial_attention: bool, temporal_attention: bool,
                 head_dim: int, depth: int, ff_mult: float, context_dim: int | None, temporal_context: bool,
                 temporal_position: str, num_heads: int | None = None,
                 res_block: str = "block/resnet", res_block_kwargs: dict | None = None,
                 spatial_block: str = "block/spatial_transformer", spatial_block_kwargs: dict | None = None,
                 temporal_block: str = "block/temporal_transformer", temporal_block_kwargs: dict | None = None,
                 device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        heads = (
            {"num_heads": num_heads, "head_dim": out_channels // num_heads} if num_heads is not None
            else {"num_heads": out_channels // head_dim, "head_dim": head_dim}
        )
        heads.update({"depth": depth, "ff_mult": ff_mult, "num_groups": num_groups, "dropout": dropout})
        self.res = registry.build(res_block, in_channels=in_channels, out_channels=out_channels,
                                  emb_dim=emb_dim, num_groups=num_groups, dropout=dropout, scale_shift=scale_shift,
                                  temporal=temporal_conv, **(res_block_kwargs or {}), **factory)
        self.spatial = (
            registry.build(spatial_block, dim=out_channels, context_dim=context_dim, **heads,
                           **(spatial_block_kwargs or {}), **factory)
            if spatial_attention else None
        )
        self.temporal = (
            registry.build(temporal_block, dim=out_channels, position=temporal_position,
                           context_dim=context_dim if temporal_context else None, **heads,
                           **(temporal_block_kwargs or {}), **factory)
            if temporal_attention else None
        )
        self.temporal_context = temporal_context

    def forward(self, x: Tensor, emb: Tensor, context: Tensor | None = None) -> Tensor:
        h = self.res(x, emb)
        if self.spatial is not None:
            h = self.spatial(h, context)
        if self.temporal is not None:
            h = self.temporal(h, context if self.temporal_context else None)
        return h


def unet_inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None,
                size: tuple[int, int] = (8, 8)):
    """``(x, t), cond`` for a U-Net config: ``x ~ N(0, 1)``, ``t`` on a 1/32 grid of [0, 1] (continuous time), and every
    conditioning keyword the config takes."""
    c = cfg.get("in_channels", 3)
    x = torch.randn(batch, c, frames, *size, generator=generator)
    t = torch.randint(0, 33, (batch,), generator=generator) / 32  # exact in bf16/fp16, so casts keep t
    cond = {}
    if cfg.get("concat_channels"):
        cond["concat"] = torch.randn(batch, cfg["concat_channels"], frames, *size, generator=generator)
    if cfg.get("context_dim") is not None:
        cond["context"] = torch.randn(batch, 3, cfg["context_dim"], generator=generator)
    if cfg.get("added_cond_dim") is not None:
        cond["added_cond"] = torch.randn(batch, cfg["added_cond_dim"], generator=generator)
    if cfg.get("num_classes") is not None:
        cond["class_labels"] = torch.randint(0, cfg["num_classes"], (batch,), generator=generator)
    return (x, t), cond


def unet_output_shape(cfg: dict, x: Tensor, *args, **kwargs) -> tuple[int, ...]:
    b, c, t, h, w = x.shape
    return (b, cfg.get("out_channels") or cfg.get("in_channels", 3), t, h, w)


def bad_unet_inputs(tiny: dict) -> list[BadInput]:
    c = tiny["in_channels"]

    def call(x_shape, **cond):
        return lambda cfg: ((torch.zeros(*x_shape), torch.zeros(x_shape[0])), cond)

    return [
        BadInput(match="B C T H W", inputs=call((2, c, 8, 8)), why="a 4-D image"),
        BadInput(match="channels", inputs=call((2, c + 1, 2, 8, 8)), why="channels != in_channels"),
        BadInput(match="height=7 must be divisible", inputs=call((2, c, 2, 7, 8)), why="H not divisible by 2^levels"),
        BadInput(match="unknown conditioning keyword 'encoder_hidden_states'", error=TypeError,
                 inputs=call((2, c, 2, 8, 8), encoder_hidden_states=torch.zeros(2, 3, 4)),
                 why="a diffusers keyword name"),
        BadInput(match="not built to take 'context'", inputs=call((2, c, 2, 8, 8), context=torch.zeros(2, 3, 4)),
                 why="cross-attention context without context_dim"),
        BadInput(match="t must be a scalar or shape", inputs=lambda cfg: ((torch.zeros(2, c, 2, 8, 8),
                                                                           torch.zeros(3)), {}),
                 why="timesteps for the wrong batch"),
        BadInput(match="temporal must be one of", init={"temporal": "pseudo3d"}, why="unknown temporal mixing"),
        BadInput(match="must be divisible by head_dim", init={"head_dim": 12}, why="channels % head_dim != 0"),
        BadInput(match="attention_levels must be level indices", init={"attention_levels": (5,)},
                 why="an attention level that does not exist"),
    ]
