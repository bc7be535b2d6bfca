"""diffusers ``UNetSpatioTemporalConditionModel`` (SVD) <-> ``net/space_time_unet`` (recipes ``svd``, ``svd_xt``).

The zoo model is built from the diffusers config by the recipe's own layout function (``zoo.svd.svd_unet``), so a
converted model and ``zoo.create_model("svd", "paper")`` are the same network. Conventions bridged:

* input layout: diffusers takes ``sample`` as ``B T C H W`` and folds frames itself; ours takes ``B C T H W``
  (``x = sample.permute(0, 2, 1, 3, 4)``, and back for the output). The model does not convert: callers do, at the
  boundary. Its 8 input channels (4 noisy + 4 conditioning-image latents) stay in ``x`` on both sides;
* ``encoder_hidden_states`` ``(B, 1, 1024)`` is ``context``; ``added_time_ids`` ``(B, 3)`` is ``added_cond``;
  ``timestep`` is the EDM ``c_noise`` (the net's ``time_scale=1``); ``image_only_indicator`` (all zeros in diffusers'
  forward) is the merges' ``image_only_indicator`` keyword, absent = all video frames;
* diffusers' ``num_attention_heads`` is a per-level head *count*; SVD's is channels / 64 at every level, ours is a
  fixed ``head_dim`` (a config whose head size differs between levels is refused);
* 2-D convs become ``1×k×k`` space-only Conv3d weights (a unit axis inserted / dropped by the shared shape rule);
* ``temporal_res_block.{norm1, conv1, norm2, conv2, time_emb_proj}`` -> ``conv/temporal_resblock``'s
  ``layers.0.0``, ``layers.0.3``, ``layers.1.0``, ``layers.1.3``, ``temb_proj.1``;
* ``time_mixer.mix_factor`` -> ``merge.merge_factor`` (same logit, same side: α = sigmoid(m) multiplies the spatial
  path in both; ``switch_spatial_to_temporal_mix`` is False in the U-Net);
* ``transformer_blocks`` / ``temporal_transformer_blocks`` -> ``layers`` / ``temporal_layers``;
  ``to_out.0`` -> ``to_out``; GEGLU ``ff.net.0.proj`` / ``ff.net.2`` (and ``ff_in``) -> timm ``fc1`` / ``fc2``;
  ``time_pos_embed.linear_{1,2}`` -> ``time_pos_embed.fc{1,2}``;
* ``time_embedding`` -> ``embed.timestep.mlp``; ``add_embedding`` -> ``embed.added.mlp`` (``embed/micro_cond``);
* the down-sampler of level L is the ``layers_per_block``-th entry of ``down.L`` (the up-sampler the
  ``layers_per_block + 1``-th of ``up.L``); up levels are numbered from the coarsest, as in diffusers.
* GroupNorm epsilon: diffusers uses 1e-6 in the res-blocks of its cross-attention down blocks and 1e-5 elsewhere;
  ours is 1e-5 everywhere (a difference below 1e-6 relative on unit-variance activations).
"""

from __future__ import annotations

import re

from torch import Tensor, nn

import components

from ..svd import svd_unet
from .common import RenameTable, register_converter, rename_state_dict


__all__ = ["SVD_DIFFUSERS_CLASS", "svd_config", "svd_rename_table", "svd_to_diffusers_state_dict"]

SVD_DIFFUSERS_CLASS = "UNetSpatioTemporalConditionModel"

_GROUPS = {"P": "weight|bias", "x": "q|k|v"}


def param_pairs(pairs):
    """``(diffusers, ours)`` module-name pairs -> parameter-name templates (``.{P}`` = weight or bias)."""
    return [(f"{a}.{{P}}", f"{b}.{{P}}") for a, b in pairs]


RESNET = [("norm1", "norm1"), ("conv1", "conv1"), ("norm2", "norm2"), ("conv2", "conv2"),
          ("time_emb_proj", "emb_proj.1"), ("conv_shortcut", "skip")]
TEMPORAL_RESNET = [("norm1", "layers.0.0"), ("conv1", "layers.0.3"), ("norm2", "layers.1.0"), ("conv2", "layers.1.3"),
                   ("time_emb_proj", "temb_proj.1"), ("conv_shortcut", "skip")]
# diffusers SpatioTemporalResBlock -> block/spatiotemporal_resnet
SPATIOTEMPORAL_RESNET = (param_pairs([(f"spatial_res_block.{a}", f"spatial.{b}") for a, b in RESNET])
                         + param_pairs([(f"temporal_res_block.{a}", f"temporal.{b}") for a, b in TEMPORAL_RESNET])
                         + [("time_mixer.mix_factor", "merge.merge_factor")])
_LAYER = [("norm1", "norm1"), ("norm2", "norm2"), ("norm3", "norm3"), ("attn1.to_{x}", "attn1.to_{x}"),
          ("attn2.to_{x}", "attn2.to_{x}"), ("attn1.to_out.0", "attn1.to_out"), ("attn2.to_out.0", "attn2.to_out"),
          ("ff.net.0.proj", "ff.fc1"), ("ff.net.2", "ff.fc2")]
_TEMPORAL_LAYER = _LAYER + [("norm_in", "norm_in"), ("ff_in.net.0.proj", "ff_in.fc1"), ("ff_in.net.2", "ff_in.fc2")]
# diffusers TransformerSpatioTemporalModel -> block/svd_spatiotemporal_transformer
SPATIOTEMPORAL_TRANSFORMER = (
    param_pairs([("norm", "norm"), ("proj_in", "proj_in"), ("proj_out", "proj_out"),
         ("time_pos_embed.linear_1", "time_pos_embed.fc1"), ("time_pos_embed.linear_2", "time_pos_embed.fc2")])
    + param_pairs([(f"transformer_blocks.{{d}}.{a}", f"layers.{{d}}.{b}") for a, b in _LAYER])
    + param_pairs([(f"temporal_transformer_blocks.{{d}}.{a}", f"temporal_layers.{{d}}.{b}") for a, b in _TEMPORAL_LAYER])
    + [("time_mixer.mix_factor", "merge.merge_factor")])


def regex(template: str) -> str:
    """``"down_blocks.{L}.resnets.{i}.norm1.{P}"`` -> a regex with named groups (digits unless in ``_GROUPS``)."""
    parts = re.split(r"\{(\w+)\}", template)
    return "".join(re.escape(part) if n % 2 == 0 else f"(?P<{part}>{_GROUPS.get(part, r'[0-9]+')})"
                   for n, part in enumerate(parts))


def template(text: str) -> str:
    return re.sub(r"\{(\w+)\}", r"\\g<\1>", text)


def table_from_pairs(prefixes: list[tuple[str, str, list[tuple[str, str]]]]) -> RenameTable:
    """A two-way ``RenameTable`` from ``(diffusers_prefix, our_prefix, [(diffusers_leaf, our_leaf), ...])``."""
    pairs = [(f"{theirs}{a}", f"{ours}{b}") for theirs, ours, body in prefixes for a, b in body]
    return RenameTable(rules=tuple((regex(d), template(z)) for d, z in pairs),
                       reverse=tuple((regex(z), template(d)) for d, z in pairs))


def svd_rename_table(layers_per_block: int) -> RenameTable:
    """The rename table for an SVD U-Net with ``layers_per_block`` res-blocks per down level (both directions)."""
    n = layers_per_block
    top = param_pairs([("conv_in", "conv_in"), ("conv_out", "conv_out"), ("conv_norm_out", "norm_out"),
               ("time_embedding.linear_1", "embed.timestep.mlp.fc1"),
               ("time_embedding.linear_2", "embed.timestep.mlp.fc2"),
               ("add_embedding.linear_1", "embed.added.mlp.fc1"), ("add_embedding.linear_2", "embed.added.mlp.fc2")])
    prefixes = [("", "", top)]
    for ours, theirs in (("down", "down_blocks"), ("up", "up_blocks")):
        prefixes += [(f"{theirs}.{{L}}.resnets.{{i}}.", f"{ours}.{{L}}.{{i}}.res.", SPATIOTEMPORAL_RESNET),
                     (f"{theirs}.{{L}}.attentions.{{i}}.", f"{ours}.{{L}}.{{i}}.spatial.", SPATIOTEMPORAL_TRANSFORMER)]
    prefixes += [("down_blocks.{L}.downsamplers.0.", f"down.{{L}}.{n}.", param_pairs([("conv", "conv")])),
                 ("up_blocks.{L}.upsamplers.0.", f"up.{{L}}.{n + 1}.", param_pairs([("conv", "conv")])),
                 ("mid_block.resnets.{i}.", "mid.{i}.res.", SPATIOTEMPORAL_RESNET),
                 ("mid_block.attentions.0.", "mid.0.spatial.", SPATIOTEMPORAL_TRANSFORMER)]
    return table_from_pairs(prefixes)


def svd_config(config) -> dict:
    """``net/space_time_unet`` keywords of a diffusers ``UNetSpatioTemporalConditionModel`` config (refuses what the
    SVD layout cannot express)."""
    get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
    where = "from_diffusers(UNetSpatioTemporalConditionModel)"
    widths = list(get("block_out_channels"))
    base = widths[0]
    heads = get("num_attention_heads")
    heads = list(heads) if isinstance(heads, list | tuple) else [heads] * len(widths)
    depth = get("transformer_layers_per_block")
    down, up = list(get("down_block_types")), list(get("up_block_types"))
    problems = []
    if any(w % base for w in widths):
        problems.append(f"block_out_channels {widths} must be multiples of the first")
    head_sizes = {w // h for w, h in zip(widths, heads)}
    if any(w % h for w, h in zip(widths, heads)) or len(head_sizes) != 1:
        problems.append(f"num_attention_heads {heads} must give one head size at every width {widths}")
    if any(d != 1 for d in (depth if isinstance(depth, list | tuple) else [depth])):
        problems.append(f"transformer_layers_per_block must be 1, got {depth}")
    if not isinstance(get("layers_per_block"), int) or not isinstance(get("cross_attention_dim"), int):
        problems.append("layers_per_block and cross_attention_dim must be single ints")
    if get("projection_class_embeddings_input_dim") != 3 * get("addition_time_embed_dim"):
        problems.append("projection_class_embeddings_input_dim must be 3 × addition_time_embed_dim (fps, motion, aug)")
    cross = [k.startswith("CrossAttn") for k in down] == [True] * (len(widths) - 1) + [False]
    if not cross or [k.startswith("CrossAttn") for k in up] != [False] + [True] * (len(widths) - 1):
        problems.append(f"block types must be CrossAttn at every level but the last (got {down} / {up})")
    if problems:
        raise ValueError(f"{where}: unsupported config: " + "; ".join(problems))
    cfg = svd_unet(base, tuple(w // base for w in widths), get("layers_per_block"), head_sizes.pop(),
                   get("cross_attention_dim"), get("addition_time_embed_dim"), groups=32)
    return {**cfg, "in_channels": get("in_channels"), "out_channels": get("out_channels")}


@register_converter(SVD_DIFFUSERS_CLASS)
def from_diffusers_svd(model: nn.Module) -> nn.Module:
    """The ``net/space_time_unet`` equal to ``model`` (weights converted; same device and dtype; eval mode)."""
    weight = next(model.parameters())
    ours = components.build("net/space_time_unet", **svd_config(model.config), device=weight.device,
                            dtype=weight.dtype)
    table = svd_rename_table(model.config.layers_per_block)
    ours.load_state_dict(rename_state_dict(model.state_dict(), table, ours), strict=True)
    return ours.eval()


def svd_to_diffusers_state_dict(model: nn.Module, target: nn.Module | dict[str, Tensor],
                                layers_per_block: int) -> dict[str, Tensor]:
    """The reverse direction: our state dict renamed for a diffusers ``UNetSpatioTemporalConditionModel``
    ``target`` (whose ``load_state_dict(..., strict=True)`` then accepts it)."""
    return rename_state_dict(model.state_dict(), svd_rename_table(layers_per_block), target,
                             direction="to_diffusers")
