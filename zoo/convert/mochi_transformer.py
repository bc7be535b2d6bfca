"""diffusers ``MochiTransformer3DModel`` (Mochi 1 preview) <-> ``net/mochi_transformer``.

Conventions bridged:

* ``hidden_states`` ``(B, C, T, H, W)`` is our ``x``; ``timestep`` is ``t`` (the net's defaults ``flow_time=False``,
  ``time_scale=1`` are diffusers' reversed timestep and ``x0 − ε`` output); ``encoder_hidden_states`` /
  ``encoder_attention_mask`` are ``context`` / ``context_mask``;
* names: ``patch_embed.proj`` (a per-frame Conv2d) -> ``patch.proj`` (Conv3d with a time kernel of 1, reshaped);
  ``time_embed`` -> ``embed`` (``timestep_embedder.linear_1/2`` -> ``timestep.mlp.fc1/2``, ``pooler`` -> ``pool.attn``,
  its fused ``to_kv`` split into ``to_k`` / ``to_v``); ``pos_frequencies`` -> ``rope.pos_frequencies``;
  ``transformer_blocks`` -> ``blocks`` (``norm1.linear`` -> ``modulation``, ``norm1_context.linear`` (or
  ``.linear_1`` in the last block) -> ``modulation_context``, ``attn1`` -> ``attn``, ``ff.net.0.proj`` / ``ff.net.2``
  -> ``ff.fc1`` / ``ff.fc2``);
* ``norm_out.linear`` emits ``(scale, shift)``, our ``final.modulation`` ``(shift, scale)``: halves swapped.
  ``proj_out`` emits each token's ``(p_h, p_w, c)``, which is ours ``(p_t, p_h, p_w, c)`` at ``p_t = 1``: unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .checks import config_getter, refuse_unsupported
from .common import RenameTable, param_pairs, prefixed, register_converter, rename_state_dict
from .hunyuan_video_transformer import _swap_modulation


__all__ = ["MOCHI_DIFFUSERS_CLASS", "mochi_rename_table", "mochi_to_diffusers_state_dict", "mochi_transformer_config"]

MOCHI_DIFFUSERS_CLASS = "MochiTransformer3DModel"
_POOL = "time_embed.pooler."

_BLOCK = param_pairs([
    ("norm1.linear", "modulation"), ("norm1_context.linear", "modulation_context"),
    ("norm1_context.linear_1", "modulation_context"),
    ("attn1.to_{x}", "attn.to_{x}"), ("attn1.add_{x}_proj", "attn.add_{x}_proj"), ("attn1.norm_q", "attn.norm_q"),
    ("attn1.norm_k", "attn.norm_k"), ("attn1.norm_added_q", "attn.norm_added_q"),
    ("attn1.norm_added_k", "attn.norm_added_k"), ("attn1.to_out.0", "attn.to_out"),
    ("attn1.to_add_out", "attn.to_add_out"), ("ff.net.0.proj", "ff.fc1"), ("ff.net.2", "ff.fc2"),
    ("ff_context.net.0.proj", "ff_context.fc1"), ("ff_context.net.2", "ff_context.fc2"),
])


def mochi_rename_table() -> RenameTable:
    pairs = param_pairs([
        ("patch_embed.proj", "patch.proj"),
        ("time_embed.timestep_embedder.linear_1", "embed.timestep.mlp.fc1"),
        ("time_embed.timestep_embedder.linear_2", "embed.timestep.mlp.fc2"),
        (_POOL + "to_{x}", "embed.pool.attn.to_{x}"), (_POOL + "to_out", "embed.pool.attn.to_out"),
        ("time_embed.caption_proj", "embed.caption_proj"),
        ("norm_out.linear", "final.modulation.1"), ("proj_out", "final.linear"),
    ]) + [("pos_frequencies", "rope.pos_frequencies")]
    return RenameTable.from_pairs(pairs + prefixed("transformer_blocks.{i}.", "blocks.{i}.", _BLOCK))


def mochi_transformer_config(config) -> dict:
    """``net/mochi_transformer`` keywords of a diffusers ``MochiTransformer3DModel`` config (refuses what ours cannot
    express, naming every problem)."""
    get = config_getter(config)
    heads, head_dim = get("num_attention_heads", 24), get("attention_head_dim", 128)
    problems = []
    if get("qk_norm", "rms_norm") != "rms_norm":
        problems.append(f"qk_norm must be 'rms_norm', got {get('qk_norm')!r}")
    if get("activation_fn", "swiglu") != "swiglu":
        problems.append(f"activation_fn must be 'swiglu', got {get('activation_fn')!r}")
    refuse_unsupported(MOCHI_DIFFUSERS_CLASS, problems)
    return dict(
        in_channels=get("in_channels", 12), out_channels=get("out_channels") or get("in_channels", 12),
        patch_size=get("patch_size", 2), hidden_dim=heads * head_dim, num_heads=heads, depth=get("num_layers", 48),
        caption_dim=get("pooled_projection_dim", 1536), context_dim=get("text_embed_dim", 4096),
        freq_dim=get("time_embed_dim", 256),
    )


def _split_kv(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The pool's fused ``to_kv`` (rows ``(2 h d)``: keys then values) as diffusers-named ``to_k`` / ``to_v``."""
    state = dict(state)
    for name in ("weight", "bias"):
        state[f"{_POOL}to_k.{name}"], state[f"{_POOL}to_v.{name}"] = state.pop(f"{_POOL}to_kv.{name}").chunk(2, dim=0)
    return state


@register_converter(MOCHI_DIFFUSERS_CLASS)
def from_diffusers_mochi_transformer(model: nn.Module) -> nn.Module:
    """The ``net/mochi_transformer`` equal to ``model`` (weights converted; same device and dtype; eval)."""
    import components

    weight = next(model.parameters())
    ours = components.build("net/mochi_transformer", **mochi_transformer_config(model.config), device=weight.device,
                            dtype=weight.dtype)
    state = rename_state_dict(_split_kv(model.state_dict()), mochi_rename_table(), ours)
    ours.load_state_dict(_swap_modulation(state, "final.modulation.1."), strict=True)
    return ours.eval()


def mochi_to_diffusers_state_dict(model: nn.Module, target: nn.Module | dict[str, Tensor]) -> dict[str, Tensor]:
    """The reverse direction: our state dict renamed (modulation halves swapped back, the pool's ``to_k`` / ``to_v``
    fused into ``to_kv``) for a diffusers ``MochiTransformer3DModel`` ``target`` (``load_state_dict(strict=True)``)."""
    shapes = dict(target.state_dict() if isinstance(target, nn.Module) else target)
    fused = {k: v for k, v in shapes.items() if not k.startswith(_POOL + "to_kv.")}
    # the last block's text modulation is ``norm1_context.linear_1``; the reverse table names it ``.linear``
    last = f"transformer_blocks.{len(model.blocks) - 1}.norm1_context."
    for name in ("weight", "bias"):
        kv = shapes[f"{_POOL}to_kv.{name}"]
        fused[f"{_POOL}to_k.{name}"], fused[f"{_POOL}to_v.{name}"] = kv.chunk(2, dim=0)
        fused[f"{last}linear.{name}"] = fused.pop(f"{last}linear_1.{name}")
    state = _swap_modulation(rename_state_dict(model.state_dict(), mochi_rename_table(), fused,
                                               direction="to_diffusers"), "norm_out.linear.")
    for name in ("weight", "bias"):
        state[f"{_POOL}to_kv.{name}"] = torch.cat([state.pop(f"{_POOL}to_k.{name}"), state.pop(f"{_POOL}to_v.{name}")])
        state[f"{last}linear_1.{name}"] = state.pop(f"{last}linear.{name}")
    return state
