"""diffusers ``UNet3DConditionModel`` (ModelScope-T2V) <-> ``net/space_time_unet`` (recipe ``modelscope_t2v``).

The zoo model is built from the diffusers config by the recipe's own layout function, so a converted model and
``zoo.create_model("modelscope_t2v", "paper")`` are the same network. Conventions bridged:

* input layout: both take ``B C T H W`` (diffusers' UNet3D folds frames itself); ``encoder_hidden_states`` is the
  ``context`` keyword; ``timestep`` is the integer step index (the recipe's ``time_scale=1``, discrete time);
* 2-D convs (``conv_in``, res-block convs, resamplers, ``conv_out``) become ``1×k×k`` space-only Conv3d weights
  (a unit axis is inserted / dropped by the shared shape rule, never silently for other shapes);
* ``temp_convs.*.conv1.2`` (no Dropout in the first layer) and ``conv{2,3,4}.3`` map to ``layers.{0..3}.3``;
* ``to_out.0`` -> ``to_out``; GEGLU ``ff.net.0.proj`` / ``ff.net.2`` -> timm ``ff.fc1`` / ``ff.fc2`` (same gate order);
* diffusers' ``attention_head_dim`` is a head *size* (it is passed to a block argument named ``num_attention_heads``
  which then divides the channels): ours is ``head_dim``; ``transformer_in`` is fixed at 8 heads of that size;
* the down-sampler of level L is the ``layers_per_block``-th entry of ``down.L`` (the up-sampler the
  ``layers_per_block + 1``-th of ``up.L``); up levels are numbered from the coarsest, as in diffusers.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..recipes.modelscope_t2v import _unet3d
from .blocks import RESNET, TRANSFORMER
from .checks import config_getter, level_problems, refuse_unsupported
from .common import RenameTable, convert_weights, param_pairs, prefixed, register_converter, rename_state_dict


__all__ = ["UNET3D_DIFFUSERS_CLASS", "unet3d_config", "unet3d_rename_table", "unet3d_to_diffusers_state_dict"]

UNET3D_DIFFUSERS_CLASS = "UNet3DConditionModel"

_TEMP_CONV = [("conv1.0", "layers.0.0"), ("conv1.2", "layers.0.3")] + [
    (f"conv{k}.{j}", f"layers.{k - 1}.{j}") for k in (2, 3, 4) for j in (0, 3)]


def unet3d_rename_table(layers_per_block: int) -> RenameTable:
    """The rename table for a UNet3D with ``layers_per_block`` res-blocks per down level (both directions)."""
    n = layers_per_block
    prefixes = [("", "", [("conv_in", "conv_in"), ("conv_out", "conv_out"), ("conv_norm_out", "norm_out"),
                          ("time_embedding.linear_1", "embed.timestep.mlp.fc1"),
                          ("time_embedding.linear_2", "embed.timestep.mlp.fc2")]),
                ("transformer_in.", "stem.", TRANSFORMER)]
    for ours, theirs in (("down", "down_blocks"), ("up", "up_blocks")):
        prefixes += [
            (f"{theirs}.{{L}}.resnets.{{i}}.", f"{ours}.{{L}}.{{i}}.res.spatial.", RESNET),
            (f"{theirs}.{{L}}.temp_convs.{{i}}.", f"{ours}.{{L}}.{{i}}.res.temporal.", _TEMP_CONV),
            (f"{theirs}.{{L}}.attentions.{{i}}.", f"{ours}.{{L}}.{{i}}.spatial.", TRANSFORMER),
            (f"{theirs}.{{L}}.temp_attentions.{{i}}.", f"{ours}.{{L}}.{{i}}.temporal.", TRANSFORMER),
        ]
    prefixes += [
        ("down_blocks.{L}.downsamplers.0.", f"down.{{L}}.{n}.", [("conv", "conv")]),
        ("up_blocks.{L}.upsamplers.0.", f"up.{{L}}.{n + 1}.", [("conv", "conv")]),
        ("mid_block.resnets.{i}.", "mid.{i}.res.spatial.", RESNET),
        ("mid_block.temp_convs.{i}.", "mid.{i}.res.temporal.", _TEMP_CONV),
        ("mid_block.attentions.0.", "mid.0.spatial.", TRANSFORMER),
        ("mid_block.temp_attentions.0.", "mid.0.temporal.", TRANSFORMER),
    ]
    return RenameTable.from_pairs(pair for theirs, ours, body in prefixes
                                  for pair in prefixed(theirs, ours, param_pairs(body)))


def unet3d_config(config) -> dict:
    """``net/space_time_unet`` keywords of a diffusers ``UNet3DConditionModel`` config (refuses what we lack)."""
    get = config_getter(config)
    widths = list(get("block_out_channels"))
    base = widths[0]
    heads = get("attention_head_dim")
    heads = list(heads) if isinstance(heads, list | tuple) else [heads] * len(widths)
    problems = level_problems(widths, list(get("down_block_types")), list(get("up_block_types")))
    if len(set(heads)) != 1:
        problems.append(f"attention_head_dim must be one size for every block, got {heads}")
    if get("num_attention_heads") is not None or get("time_cond_proj_dim") is not None:
        problems.append("num_attention_heads / time_cond_proj_dim must be None")
    if get("act_fn", "silu") != "silu" or get("norm_eps", 1e-5) != 1e-5:
        problems.append(f"act_fn must be 'silu' and norm_eps 1e-5, got {get('act_fn')!r}, {get('norm_eps')}")
    if get("downsample_padding", 1) != 1 or get("mid_block_scale_factor", 1) != 1:
        problems.append("downsample_padding and mid_block_scale_factor must be 1")
    refuse_unsupported(UNET3D_DIFFUSERS_CLASS, problems)
    cfg = _unet3d(base, tuple(w // base for w in widths), get("layers_per_block"), heads[0],
                  get("cross_attention_dim"), get("norm_num_groups"), in_channels=get("in_channels"))
    return {**cfg, "out_channels": get("out_channels")}


@register_converter(UNET3D_DIFFUSERS_CLASS)
def from_diffusers_unet3d(model: nn.Module) -> nn.Module:
    """The ``net/space_time_unet`` equal to ``model`` (weights converted; same device and dtype; eval mode)."""
    return convert_weights(model, "net/space_time_unet", unet3d_config(model.config),
                           unet3d_rename_table(model.config.layers_per_block))


def unet3d_to_diffusers_state_dict(model: nn.Module, target: nn.Module | dict[str, Tensor],
                                   layers_per_block: int) -> dict[str, Tensor]:
    """The reverse direction: our state dict renamed for a diffusers ``UNet3DConditionModel`` ``target`` (whose
    ``load_state_dict(..., strict=True)`` then accepts it)."""
    return rename_state_dict(model.state_dict(), unet3d_rename_table(layers_per_block), target,
                             direction="to_diffusers")
