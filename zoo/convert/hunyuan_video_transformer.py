"""diffusers ``HunyuanVideoTransformer3DModel`` (HunyuanVideo T2V) <-> ``net/hunyuan_video_transformer``.

Conventions bridged:

* ``hidden_states`` ``(B, C, T, H, W)`` is our ``x``; ``timestep`` is ``t`` at ``time_scale=1``;
  ``encoder_hidden_states`` / ``pooled_projections`` / ``encoder_attention_mask`` / ``guidance`` are ``context`` /
  ``added_cond`` / ``context_mask`` / ``guidance`` (the same 1000·w);
* names: ``x_embedder.proj`` -> ``patch.proj``; ``context_embedder`` -> ``refiner`` (``time_text_embed.timestep_embedder``
  / ``text_embedder`` -> ``timestep.mlp`` / ``pooled``, ``token_refiner.refiner_blocks`` -> ``blocks``,
  ``norm_out.linear`` -> ``gates``); ``time_text_embed`` -> ``embed`` (``timestep.mlp``, ``added``) and
  ``guidance_embed.mlp``; ``transformer_blocks`` / ``single_transformer_blocks`` -> ``dual_blocks`` / ``single_blocks``
  (``attn.to_out.0`` -> ``attn.to_out``, ``ff.net.0.proj`` / ``ff.net.2`` -> ``ff.fc1`` / ``ff.fc2``);
* ``norm_out.linear`` emits ``(scale, shift)``, our ``final.modulation`` ``(shift, scale)``: its halves are swapped;
  ``proj_out`` emits each token's ``(c, p_t, p_h, p_w)``, ours ``(p_t, p_h, p_w, c)``: its rows are permuted.

Refused: the I2V variants' ``image_condition_type`` (``latent_concat`` / ``token_replace``: no mechanism here yet).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .checks import config_getter, refuse_unsupported
from .cogvideox_transformer import _proj_out as proj_out_rows
from .common import RenameTable, convert_weights, param_pairs, prefixed, register_converter, rename_state_dict


__all__ = ["HUNYUAN_VIDEO_DIFFUSERS_CLASS", "hunyuan_video_rename_table", "hunyuan_video_to_diffusers_state_dict",
           "hunyuan_video_transformer_config"]

HUNYUAN_VIDEO_DIFFUSERS_CLASS = "HunyuanVideoTransformer3DModel"

_MLP = [("ff.net.0.proj", "ff.fc1"), ("ff.net.2", "ff.fc2")]
_REFINER_BLOCK = param_pairs([("norm1", "norm1"), ("attn.to_{x}", "attn.to_{x}"), ("attn.to_out.0", "attn.to_out"),
                              ("norm2", "norm2"), ("norm_out.linear", "gates"), *_MLP])
_DUAL = param_pairs([
    ("norm1.linear", "norm1.linear"), ("norm1_context.linear", "norm1_context.linear"),
    ("attn.to_{x}", "attn.to_{x}"), ("attn.add_{x}_proj", "attn.add_{x}_proj"), ("attn.norm_q", "attn.norm_q"),
    ("attn.norm_k", "attn.norm_k"), ("attn.norm_added_q", "attn.norm_added_q"),
    ("attn.norm_added_k", "attn.norm_added_k"), ("attn.to_out.0", "attn.to_out"), ("attn.to_add_out", "attn.to_add_out"),
    *_MLP, ("ff_context.net.0.proj", "ff_context.fc1"), ("ff_context.net.2", "ff_context.fc2"),
])
_SINGLE = param_pairs([("norm.linear", "norm.linear"), ("attn.to_{x}", "attn.to_{x}"), ("attn.norm_q", "attn.norm_q"),
                       ("attn.norm_k", "attn.norm_k"), ("proj_mlp", "proj_mlp"), ("proj_out", "proj_out")])


def hunyuan_video_rename_table() -> RenameTable:
    refiner = "context_embedder."
    pairs = param_pairs([
        ("x_embedder.proj", "patch.proj"),
        (refiner + "time_text_embed.timestep_embedder.linear_1", "refiner.timestep.mlp.fc1"),
        (refiner + "time_text_embed.timestep_embedder.linear_2", "refiner.timestep.mlp.fc2"),
        (refiner + "time_text_embed.text_embedder.linear_1", "refiner.pooled.fc1"),
        (refiner + "time_text_embed.text_embedder.linear_2", "refiner.pooled.fc2"),
        (refiner + "proj_in", "refiner.proj_in"),
        ("time_text_embed.timestep_embedder.linear_1", "embed.timestep.mlp.fc1"),
        ("time_text_embed.timestep_embedder.linear_2", "embed.timestep.mlp.fc2"),
        ("time_text_embed.text_embedder.linear_1", "embed.added.fc1"),
        ("time_text_embed.text_embedder.linear_2", "embed.added.fc2"),
        ("time_text_embed.guidance_embedder.linear_1", "guidance_embed.mlp.fc1"),
        ("time_text_embed.guidance_embedder.linear_2", "guidance_embed.mlp.fc2"),
        ("norm_out.linear", "final.modulation.1"), ("proj_out", "final.linear"),
    ])
    return RenameTable.from_pairs(
        pairs + prefixed(refiner + "token_refiner.refiner_blocks.{i}.", "refiner.blocks.{i}.", _REFINER_BLOCK)
        + prefixed("transformer_blocks.{i}.", "dual_blocks.{i}.", _DUAL)
        + prefixed("single_transformer_blocks.{i}.", "single_blocks.{i}.", _SINGLE))


def hunyuan_video_transformer_config(config) -> dict:
    """``net/hunyuan_video_transformer`` keywords of a diffusers ``HunyuanVideoTransformer3DModel`` config (refuses
    what ours cannot express, naming every problem)."""
    get = config_getter(config)
    heads, head_dim = get("num_attention_heads", 24), get("attention_head_dim", 128)
    problems = []
    if get("image_condition_type") is not None:
        problems.append(f"image_condition_type must be None (HunyuanVideo I2V's latent_concat / token_replace), got "
                        f"{get('image_condition_type')!r}")
    if get("qk_norm", "rms_norm") != "rms_norm":
        problems.append(f"qk_norm must be 'rms_norm', got {get('qk_norm')!r}")
    refuse_unsupported(HUNYUAN_VIDEO_DIFFUSERS_CLASS, problems)
    p = get("patch_size", 2)
    return dict(
        in_channels=get("in_channels", 16), out_channels=get("out_channels") or get("in_channels", 16),
        patch_size=(get("patch_size_t", 1), p, p), hidden_dim=heads * head_dim, num_heads=heads,
        depth_dual=get("num_layers", 20), depth_single=get("num_single_layers", 40),
        refiner_depth=get("num_refiner_layers", 2), mlp_ratio=get("mlp_ratio", 4.0),
        context_dim=get("text_embed_dim", 4096), added_cond_dim=get("pooled_projection_dim", 768),
        rope_axes_dim=tuple(get("rope_axes_dim", (16, 56, 56))), rope_theta=get("rope_theta", 256.0),
        guidance_embed=bool(get("guidance_embeds", True)),
    )


def _swap_modulation(state: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """diffusers' ``AdaLayerNormContinuous`` Linear emits ``(scale, shift)``, ours ``(shift, scale)``: swap halves
    (its own inverse)."""
    for name in ("weight", "bias"):
        scale, shift = state[prefix + name].chunk(2, dim=0)
        state[prefix + name] = torch.cat((shift, scale), dim=0)
    return state


@register_converter(HUNYUAN_VIDEO_DIFFUSERS_CLASS)
def from_diffusers_hunyuan_video_transformer(model: nn.Module) -> nn.Module:
    """The ``net/hunyuan_video_transformer`` equal to ``model`` (weights converted; same device and dtype; eval)."""
    config = hunyuan_video_transformer_config(model.config)
    permute = proj_out_rows(config["patch_size"], config["out_channels"], to_ours=True)
    return convert_weights(model, "net/hunyuan_video_transformer", config, hunyuan_video_rename_table(),
                           adapt=lambda s: _swap_modulation(permute(s, "final.linear."), "final.modulation.1."))


def hunyuan_video_to_diffusers_state_dict(model: nn.Module, target: nn.Module | dict[str, Tensor]) -> dict[str, Tensor]:
    """The reverse direction: our state dict renamed (modulation halves swapped, ``proj_out`` permuted back) for a
    diffusers ``HunyuanVideoTransformer3DModel`` ``target`` (whose ``load_state_dict(..., strict=True)`` accepts it)."""
    state = rename_state_dict(model.state_dict(), hunyuan_video_rename_table(), target, direction="to_diffusers")
    state = proj_out_rows(tuple(model.patch_size), model.out_channels, to_ours=False)(state, "proj_out.")
    return _swap_modulation(state, "norm_out.linear.")
