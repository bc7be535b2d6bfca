"""diffusers ``UNet2DConditionModel`` (Stable Diffusion 1.x / 2.x) <-> ``net/space_time_unet`` with ``temporal="none"``.

``zoo.from_diffusers(unet2d)`` returns a ``SpaceTimeUNet`` taking ``model(x, t, context=...)`` with ``x`` in
``B C T H W``: every frame is the image model (T = 1 is exactly it). Conventions bridged:

* layout: diffusers runs ``(B·T, C, H, W)`` images; ours ``B C T H W`` video with space-only ``1×k×k`` convs, so a
  conv weight ``(O, I, k, k)`` becomes ``(O, I, 1, k, k)`` (and back); SD 1.x's 1×1-conv ``proj_in``/``proj_out``
  become our ``Linear`` (``(O, I, 1, 1) <-> (O, I)``; SD 2.x's are already linear). Both reshapes are the common
  "only unit dimensions differ" rule of ``rename_state_dict``.
* names: ``down_blocks.i.{resnets,attentions}.j`` -> ``down.i.j.{res,spatial}``; ``downsamplers.0`` is the stage's
  last entry ``down.i.<layers>``; ``up_blocks.u`` -> ``up.u`` (same decoder order), ``upsamplers.0`` ->
  ``up.u.<layers + 1>``; ``mid_block.{resnets.0, attentions.0, resnets.1}`` -> ``mid.{0.res, 0.spatial, 1.res}``;
  ``time_emb_proj`` -> ``emb_proj.1``; ``conv_shortcut`` -> ``skip``; ``transformer_blocks.k`` -> ``layers.k``;
  ``to_out.0`` -> ``to_out``; GEGLU ``ff.net.0.proj`` / ``ff.net.2`` -> ``ff.fc1`` / ``ff.fc2`` (same [value | gate]
  halves); ``time_embedding.linear_{1,2}`` -> ``embed.timestep.mlp.fc{1,2}``; ``conv_norm_out`` -> ``norm_out``.
* heads: diffusers' ``attention_head_dim`` is the number of heads when ``num_attention_heads`` is unset (its legacy
  naming; SD 1.x: 8 heads at every width) -> ``num_heads``; per-level heads with one head size (SD 2.x: 5/10/20/20
  at 320/640/1280 = 64) -> ``head_dim``.
* time: integer timesteps (``time_scale=1``), ``flip_sin_to_cos=True``, ``freq_shift=0`` (our ``embed/timestep``
  unet flavour defaults); plain added time embedding in the res-blocks (``scale_shift=False``).
* the cross-attention context is ``context`` (diffusers' ``encoder_hidden_states``), shared by all frames.

Config features we do not model (class / added embeddings, ``only_cross_attention``, other kernels or activations,
per-level transformer depth, ...) raise ``ValueError`` naming the field: never a silently different model.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from .blocks import RESNET, TRANSFORMER
from .common import RenameTable, convert_weights, param_pairs, prefixed, register_converter, rename_state_dict


# (config field, value(s) we support): anything else is a different model
_REQUIRED = {
    "act_fn": ("silu",), "resnet_time_scale_shift": ("default",), "time_embedding_type": ("positional",),
    "flip_sin_to_cos": (True,), "freq_shift": (0,), "only_cross_attention": (False,),
    "dual_cross_attention": (False,), "class_embed_type": (None,), "addition_embed_type": (None,),
    "num_class_embeds": (None,), "encoder_hid_dim": (None,), "time_cond_proj_dim": (None,),
    "conv_in_kernel": (3,), "conv_out_kernel": (3,), "resnet_skip_time_act": (False,),
    "resnet_out_scale_factor": (1, 1.0), "mid_block_scale_factor": (1, 1.0), "downsample_padding": (1,),
    "timestep_post_act": (None,), "time_embedding_act_fn": (None,), "cross_attention_norm": (None,),
    "attention_type": ("default",), "class_embeddings_concat": (False,), "center_input_sample": (False,),
    "norm_eps": (1e-5,), "mid_block_type": ("UNetMidBlock2DCrossAttn",), "addition_time_embed_dim": (None,),
    "reverse_transformer_layers_per_block": (None,), "controlnet_conditioning_channel_order": ("rgb",),
    "global_pool_conditions": (False,),
}


def _as_list(value, n: int, field: str) -> list:
    if isinstance(value, int | float) or value is None:
        return [value] * n
    value = list(value)
    if len(value) != n:
        raise ValueError(f"from_diffusers: {field} must have one entry per level ({n}), got {value}")
    return value


def encoder_config(config: Mapping) -> dict:
    """``SpaceTimeUNet`` / ``ControlBranch`` keywords of a diffusers SD-style config (shared by U-Net and ControlNet)."""
    for field, allowed in _REQUIRED.items():
        if field in config and config[field] not in allowed:
            raise ValueError(f"from_diffusers: {field}={config[field]!r} is not supported (supported: {allowed})")
    widths = list(config["block_out_channels"])
    base, levels = widths[0], len(widths)
    if any(w % base for w in widths):
        raise ValueError(f"from_diffusers: block_out_channels {widths} must be multiples of the first width")
    down = list(config["down_block_types"])
    if any(t not in ("CrossAttnDownBlock2D", "DownBlock2D") for t in down):
        raise ValueError(f"from_diffusers: down_block_types must be CrossAttnDownBlock2D / DownBlock2D, got {down}")
    attention_levels = tuple(i for i, t in enumerate(down) if t == "CrossAttnDownBlock2D")
    depth = config.get("transformer_layers_per_block", 1)
    if not isinstance(depth, int):
        if len(set(depth)) != 1:
            raise ValueError(f"from_diffusers: per-level transformer_layers_per_block {depth} is not supported")
        depth = depth[0]
    heads = config.get("num_attention_heads") or config["attention_head_dim"]  # diffusers: "head_dim" = heads
    context_dim = config["cross_attention_dim"]
    if not isinstance(context_dim, int):
        raise ValueError(f"from_diffusers: per-level cross_attention_dim {context_dim} is not supported")
    out = dict(in_channels=config["in_channels"], base_channels=base, channel_mults=tuple(w // base for w in widths),
               num_res_blocks=tuple(_as_list(config["layers_per_block"], levels, "layers_per_block")),
               attention_levels=attention_levels, temporal="none", context_dim=context_dim,
               emb_dim=config.get("time_embedding_dim") or 4 * base, num_groups=config["norm_num_groups"],
               scale_shift=False, time_scale=1.0, transformer_depth=depth, mid_attention=True)
    if isinstance(heads, int):
        out["num_heads"] = heads
    else:
        sizes = {w // h for w, h in zip(widths, _as_list(heads, levels, "attention_head_dim"))}
        if len(sizes) != 1 or any(w % h for w, h in zip(widths, heads)):
            raise ValueError(f"from_diffusers: per-level heads {list(heads)} on widths {widths} must share one head "
                             "size")
        out["head_dim"] = sizes.pop()
    if len(set(out["num_res_blocks"])) == 1:
        out["num_res_blocks"] = out["num_res_blocks"][0]
    return out


def unet2d_config(config: Mapping) -> dict:
    """``SpaceTimeUNet`` keywords of a diffusers ``UNet2DConditionModel`` config (``ValueError`` if not modelled)."""
    out = encoder_config(config)
    levels = len(config["block_out_channels"])
    expected = ["CrossAttnUpBlock2D" if (levels - 1 - u) in out["attention_levels"] else "UpBlock2D"
                for u in range(levels)]
    if list(config["up_block_types"]) != expected:
        raise ValueError(f"from_diffusers: up_block_types must mirror down_block_types ({expected}), "
                         f"got {list(config['up_block_types'])}")
    return dict(out, out_channels=config["out_channels"], zero_init_output=False)


# ---- rename tables: (diffusers template, zoo template) pairs, "{i}" an index, "{P}" weight or bias ----

_RESNET, _TRANSFORMER = param_pairs(RESNET), param_pairs(TRANSFORMER)


def encoder_pairs(cfg: dict) -> list[tuple[str, str]]:
    """Template pairs of the time embedding, ``conv_in``, the encoder levels and the middle block."""
    levels = len(cfg["channel_mults"])
    blocks = _as_list(cfg["num_res_blocks"], levels, "num_res_blocks")
    pairs = param_pairs([("conv_in", "conv_in"), ("time_embedding.linear_1", "embed.timestep.mlp.fc1"),
                         ("time_embedding.linear_2", "embed.timestep.mlp.fc2")])
    pairs += prefixed("down_blocks.{i}.resnets.{j}.", "down.{i}.{j}.res.", _RESNET)
    pairs += prefixed("down_blocks.{i}.attentions.{j}.", "down.{i}.{j}.spatial.", _TRANSFORMER)
    pairs += [(f"down_blocks.{i}.downsamplers.0.conv.{{P}}", f"down.{i}.{blocks[i]}.conv.{{P}}")
              for i in range(levels - 1)]
    pairs += prefixed("mid_block.resnets.{j}.", "mid.{j}.res.", _RESNET)
    pairs += prefixed("mid_block.attentions.0.", "mid.0.spatial.", _TRANSFORMER)
    return pairs


def decoder_pairs(cfg: dict) -> list[tuple[str, str]]:
    """Template pairs of the decoder levels and the output head."""
    levels = len(cfg["channel_mults"])
    blocks = _as_list(cfg["num_res_blocks"], levels, "num_res_blocks")
    pairs = prefixed("up_blocks.{u}.resnets.{j}.", "up.{u}.{j}.res.", _RESNET)
    pairs += prefixed("up_blocks.{u}.attentions.{j}.", "up.{u}.{j}.spatial.", _TRANSFORMER)
    pairs += [(f"up_blocks.{u}.upsamplers.0.conv.{{P}}", f"up.{u}.{blocks[levels - 1 - u] + 1}.conv.{{P}}")
              for u in range(levels - 1)]
    return pairs + param_pairs([("conv_norm_out", "norm_out"), ("conv_out", "conv_out")])


def unet2d_table(cfg: dict) -> RenameTable:
    """The diffusers <-> zoo rename table of a ``SpaceTimeUNet`` config made by ``unet2d_config``."""
    return RenameTable.from_pairs(encoder_pairs(cfg) + decoder_pairs(cfg))


@register_converter("UNet2DConditionModel")
def from_unet2d(model: nn.Module) -> nn.Module:
    """The ``SpaceTimeUNet`` (``temporal="none"``) equal to ``model`` on every frame, with its weights (eval mode)."""
    cfg = unet2d_config(model.config)
    return convert_weights(model, "net/space_time_unet", cfg, unet2d_table(cfg))


def to_unet2d_state_dict(zoo_model: nn.Module, diffusers_model: nn.Module) -> dict[str, Tensor]:
    """``zoo_model``'s weights as a state dict for ``diffusers_model`` (the same architecture), e.g. after
    fine-tuning: ``diffusers_model.load_state_dict(to_unet2d_state_dict(zoo_model, diffusers_model))``."""
    cfg = unet2d_config(diffusers_model.config)
    return rename_state_dict(zoo_model.state_dict(), unet2d_table(cfg), diffusers_model, direction="to_diffusers")
