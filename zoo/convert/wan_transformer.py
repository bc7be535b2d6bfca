"""diffusers ``WanTransformer3DModel`` (Wan 2.1 / 2.2) <-> ``net/wan_transformer``.

Conventions bridged:

* ``encoder_hidden_states`` ``(B, 512, text_dim)`` is ``context``; ``encoder_hidden_states_image`` ``(B, 257,
  image_dim)`` (I2V) is ``image_context``. diffusers concatenates the projected image tokens before the text tokens
  and splits them again in the attention processor by assuming 512 text tokens; ours keeps them apart, so any text
  length works;
* ``timestep`` is the net's ``t`` at ``time_scale=1`` (diffusers' timesteps, 1000·σ); ``(B, N)`` per-token timesteps
  (Wan 2.2 TI2V) are taken as they are;
* names: ``attn1`` / ``attn2`` -> ``attn`` / ``cross_attn`` (``to_out.0`` -> ``to_out``; ``norm_q``, ``norm_k``,
  ``add_k_proj``, ``add_v_proj``, ``norm_added_k`` kept), ``norm2`` (the affine cross-attention norm) ->
  ``norm_cross``, ``ffn.net.0.proj`` / ``ffn.net.2`` -> ``mlp.fc1`` / ``mlp.fc2``; ``condition_embedder``'s
  ``time_embedder`` -> ``embed.timestep.mlp``, ``time_proj`` -> ``shared_modulation.1``, ``text_embedder`` ->
  ``context_proj``, ``image_embedder`` -> ``image_proj`` (``ff.net.0.proj`` / ``ff.net.2`` -> ``ff.fc1`` / ``ff.fc2``);
  ``patch_embedding`` -> ``patch.proj``; ``scale_shift_table`` / ``proj_out`` -> ``final.scale_shift_table`` /
  ``final.linear``;
* the ``(1, 6, D)`` and ``(1, 2, D)`` modulation tables are ours ``(6, D)`` / ``(2, D)`` (a unit axis, reshaped by
  the shared shape rule).
"""

from __future__ import annotations

from torch import Tensor, nn

from .checks import config_getter, refuse_unsupported
from .common import RenameTable, convert_weights, param_pairs, prefixed, register_converter, rename_state_dict


__all__ = ["WAN_DIFFUSERS_CLASS", "wan_rename_table", "wan_to_diffusers_state_dict", "wan_transformer_config"]

WAN_DIFFUSERS_CLASS = "WanTransformer3DModel"

_ATTENTION = [("to_{x}", "to_{x}"), ("to_out.0", "to_out"), ("norm_q", "norm_q"), ("norm_k", "norm_k"),
              ("add_k_proj", "add_k_proj"), ("add_v_proj", "add_v_proj"), ("norm_added_k", "norm_added_k")]
# diffusers WanTransformerBlock -> block/wan (a DiTBlock)
WAN_BLOCK_PAIRS = param_pairs(
    prefixed("attn1.", "attn.", _ATTENTION) + prefixed("attn2.", "cross_attn.", _ATTENTION)
    + [("norm2", "norm_cross"), ("ffn.net.0.proj", "mlp.fc1"), ("ffn.net.2", "mlp.fc2")]
) + [("scale_shift_table", "scale_shift_table")]


def wan_rename_table() -> RenameTable:
    """The rename table of a ``WanTransformer3DModel`` (every variant: the I2V parts simply match nothing in T2V)."""
    pairs = param_pairs([
        ("patch_embedding", "patch.proj"),
        ("condition_embedder.time_embedder.linear_1", "embed.timestep.mlp.fc1"),
        ("condition_embedder.time_embedder.linear_2", "embed.timestep.mlp.fc2"),
        ("condition_embedder.time_proj", "shared_modulation.1"),
        ("condition_embedder.text_embedder.linear_1", "context_proj.linear_1"),
        ("condition_embedder.text_embedder.linear_2", "context_proj.linear_2"),
        ("condition_embedder.image_embedder.norm1", "image_proj.norm1"),
        ("condition_embedder.image_embedder.ff.net.0.proj", "image_proj.ff.fc1"),
        ("condition_embedder.image_embedder.ff.net.2", "image_proj.ff.fc2"),
        ("condition_embedder.image_embedder.norm2", "image_proj.norm2"),
        ("proj_out", "final.linear"),
    ]) + [("condition_embedder.image_embedder.pos_embed", "image_proj.pos_embed"),
          ("scale_shift_table", "final.scale_shift_table")]
    return RenameTable.from_pairs(pairs + prefixed("blocks.{i}.", "blocks.{i}.", WAN_BLOCK_PAIRS))


def wan_transformer_config(config) -> dict:
    """``net/wan_transformer`` keywords of a diffusers ``WanTransformer3DModel`` config (refuses what ours cannot
    express, naming every problem)."""
    get = config_getter(config)
    heads, head_dim = get("num_attention_heads"), get("attention_head_dim")
    dim = heads * head_dim
    image_dim, added = get("image_dim"), get("added_kv_proj_dim")
    problems = []
    if get("qk_norm") != "rms_norm_across_heads":  # diffusers ignores the field and always builds this norm
        problems.append(f"qk_norm must be 'rms_norm_across_heads' (what WanAttention builds whatever the field "
                        f"says), got {get('qk_norm')!r}")
    if get("eps") != 1e-6:
        problems.append(f"eps must be 1e-6 (Wan's norms), got {get('eps')}")
    if get("rope_max_seq_len", 1024) != 1024:
        problems.append(f"rope_max_seq_len must be 1024, got {get('rope_max_seq_len')}")
    if (image_dim is None) != (added is None):
        problems.append(f"image_dim and added_kv_proj_dim must be given together (I2V), got image_dim={image_dim}, "
                        f"added_kv_proj_dim={added}")
    elif added is not None and added != dim:
        problems.append(f"added_kv_proj_dim must equal the width num_attention_heads × attention_head_dim = {dim} "
                        f"(it projects the image embedder's output), got {added}")
    if get("pos_embed_seq_len") is not None and image_dim is None:
        problems.append("pos_embed_seq_len needs image_dim (it positions the image tokens)")
    refuse_unsupported(WAN_DIFFUSERS_CLASS, problems)
    return dict(
        in_channels=get("in_channels"), out_channels=get("out_channels") or get("in_channels"),
        patch_size=tuple(get("patch_size")), hidden_dim=dim, depth=get("num_layers"), num_heads=heads,
        ffn_dim=get("ffn_dim"), context_dim=get("text_dim"), image_context_dim=image_dim,
        image_pos_embed_len=get("pos_embed_seq_len"), frequency_dim=get("freq_dim"),
        cross_attn_norm=bool(get("cross_attn_norm")),
    )


@register_converter(WAN_DIFFUSERS_CLASS)
def from_diffusers_wan_transformer(model: nn.Module) -> nn.Module:
    """The ``net/wan_transformer`` equal to ``model`` (weights converted; same device and dtype; eval mode)."""
    return convert_weights(model, "net/wan_transformer", wan_transformer_config(model.config), wan_rename_table())


def wan_to_diffusers_state_dict(model: nn.Module, target: nn.Module | dict[str, Tensor]) -> dict[str, Tensor]:
    """The reverse direction: our state dict renamed for a diffusers ``WanTransformer3DModel`` ``target`` (whose
    ``load_state_dict(..., strict=True)`` then accepts it)."""
    return rename_state_dict(model.state_dict(), wan_rename_table(), target, direction="to_diffusers")
