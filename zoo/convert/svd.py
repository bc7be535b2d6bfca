"""diffusers ``UNetSpatioTemporalConditionModel`` (SVD) <-> ``net/space_time_unet`` (recipes ``svd``, ``svd_xt``).

The zoo model is built from the diffusers config by the recipe's own layout function (``zoo.recipes.svd.svd_unet``), so a
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
* GroupNorm epsilon: diffusers uses 1e-6 in the res-blocks of its cross-attention down blocks and both up blocks and
  1e-5 in the last down block and the mid block; the recipe's layout sets the same (``res_block_kwargs_by_unit``).
"""

from __future__ import annotations

from torch import Tensor, nn

from ..recipes.svd import svd_unet
from .blocks import RESNET, TRANSFORMER, TRANSFORMER_LAYER
from .checks import config_getter, level_problems, refuse_unsupported
from .common import RenameTable, convert_weights, param_pairs, prefixed, register_converter, rename_state_dict


__all__ = ["SVD_DIFFUSERS_CLASS", "svd_config", "svd_rename_table", "svd_to_diffusers_state_dict"]

SVD_DIFFUSERS_CLASS = "UNetSpatioTemporalConditionModel"

TEMPORAL_RESNET = [("norm1", "layers.0.0"), ("conv1", "layers.0.3"), ("norm2", "layers.1.0"), ("conv2", "layers.1.3"),
                   ("time_emb_proj", "temb_proj.1"), ("conv_shortcut", "skip")]
_MERGE = [("time_mixer.mix_factor", "merge.merge_factor")]
# diffusers SpatioTemporalResBlock -> block/spatiotemporal_resnet
SPATIOTEMPORAL_RESNET = (prefixed("spatial_res_block.", "spatial.", param_pairs(RESNET))
                         + prefixed("temporal_res_block.", "temporal.", param_pairs(TEMPORAL_RESNET)) + _MERGE)
_TEMPORAL_LAYER = TRANSFORMER_LAYER + [("norm_in", "norm_in"), ("ff_in.net.0.proj", "ff_in.fc1"),
                                       ("ff_in.net.2", "ff_in.fc2")]
# diffusers TransformerSpatioTemporalModel -> block/svd_spatiotemporal_transformer
SPATIOTEMPORAL_TRANSFORMER = param_pairs(
    TRANSFORMER + [("time_pos_embed.linear_1", "time_pos_embed.fc1"), ("time_pos_embed.linear_2", "time_pos_embed.fc2")]
    + prefixed("temporal_transformer_blocks.{d}.", "temporal_layers.{d}.", _TEMPORAL_LAYER)) + _MERGE


def svd_rename_table(layers_per_block: int) -> RenameTable:
    """The rename table for an SVD U-Net with ``layers_per_block`` res-blocks per down level (both directions)."""
    n = layers_per_block
    pairs = param_pairs([("conv_in", "conv_in"), ("conv_out", "conv_out"), ("conv_norm_out", "norm_out"),
                         ("time_embedding.linear_1", "embed.timestep.mlp.fc1"),
                         ("time_embedding.linear_2", "embed.timestep.mlp.fc2"),
                         ("add_embedding.linear_1", "embed.added.mlp.fc1"),
                         ("add_embedding.linear_2", "embed.added.mlp.fc2"),
                         ("down_blocks.{L}.downsamplers.0.conv", f"down.{{L}}.{n}.conv"),
                         ("up_blocks.{L}.upsamplers.0.conv", f"up.{{L}}.{n + 1}.conv")])
    for ours, theirs in (("down", "down_blocks"), ("up", "up_blocks")):
        pairs += prefixed(f"{theirs}.{{L}}.resnets.{{i}}.", f"{ours}.{{L}}.{{i}}.res.", SPATIOTEMPORAL_RESNET)
        pairs += prefixed(f"{theirs}.{{L}}.attentions.{{i}}.", f"{ours}.{{L}}.{{i}}.spatial.",
                          SPATIOTEMPORAL_TRANSFORMER)
    pairs += prefixed("mid_block.resnets.{i}.", "mid.{i}.res.", SPATIOTEMPORAL_RESNET)
    pairs += prefixed("mid_block.attentions.0.", "mid.0.spatial.", SPATIOTEMPORAL_TRANSFORMER)
    return RenameTable.from_pairs(pairs)


def svd_config(config) -> dict:
    """``net/space_time_unet`` keywords of a diffusers ``UNetSpatioTemporalConditionModel`` config (refuses what the
    SVD layout cannot express)."""
    get = config_getter(config)
    widths = list(get("block_out_channels"))
    base = widths[0]
    heads = get("num_attention_heads")
    heads = list(heads) if isinstance(heads, list | tuple) else [heads] * len(widths)
    depth = get("transformer_layers_per_block")
    problems = level_problems(widths, list(get("down_block_types")), list(get("up_block_types")))
    head_sizes = {w // h for w, h in zip(widths, heads)}
    if any(w % h for w, h in zip(widths, heads)) or len(head_sizes) != 1:
        problems.append(f"num_attention_heads {heads} must give one head size at every width {widths}")
    if any(d != 1 for d in (depth if isinstance(depth, list | tuple) else [depth])):
        problems.append(f"transformer_layers_per_block must be 1, got {depth}")
    if not isinstance(get("layers_per_block"), int) or not isinstance(get("cross_attention_dim"), int):
        problems.append("layers_per_block and cross_attention_dim must be single ints")
    if get("projection_class_embeddings_input_dim") != 3 * get("addition_time_embed_dim"):
        problems.append("projection_class_embeddings_input_dim must be 3 × addition_time_embed_dim (fps, motion, aug)")
    refuse_unsupported(SVD_DIFFUSERS_CLASS, problems)
    cfg = svd_unet(base, tuple(w // base for w in widths), get("layers_per_block"), head_sizes.pop(),
                   get("cross_attention_dim"), get("addition_time_embed_dim"), groups=32)
    return {**cfg, "in_channels": get("in_channels"), "out_channels": get("out_channels")}


@register_converter(SVD_DIFFUSERS_CLASS)
def from_diffusers_svd(model: nn.Module) -> nn.Module:
    """The ``net/space_time_unet`` equal to ``model`` (weights converted; same device and dtype; eval mode)."""
    return convert_weights(model, "net/space_time_unet", svd_config(model.config),
                           svd_rename_table(model.config.layers_per_block))


def svd_to_diffusers_state_dict(model: nn.Module, target: nn.Module | dict[str, Tensor],
                                layers_per_block: int) -> dict[str, Tensor]:
    """The reverse direction: our state dict renamed for a diffusers ``UNetSpatioTemporalConditionModel``
    ``target`` (whose ``load_state_dict(..., strict=True)`` then accepts it)."""
    return rename_state_dict(model.state_dict(), svd_rename_table(layers_per_block), target,
                             direction="to_diffusers")
