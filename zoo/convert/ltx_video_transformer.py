"""diffusers ``LTXVideoTransformer3DModel`` (LTX-Video 0.9) <-> ``net/ltx_video_transformer``.

Conventions bridged:

* diffusers takes the latent tokens already flattened, ``hidden_states`` ``(B, T·H·W, C)`` with ``num_frames``,
  ``height``, ``width`` beside them; ours the video ``(B, C, T, H, W)`` (the same ``(t h w)`` order);
* ``rope_interpolation_scale`` ``(vae_t / frame_rate, vae_s, vae_s)`` is the net's ``frame_rate`` (and
  ``vae_factors``) keyword; ``encoder_attention_mask`` ``(B, L)`` (1 = a real token) is the ``context_mask``
  keyword (diffusers biases the padded logits by −10000, ours drops them: equal in fp32);
* ``timestep`` is the net's ``t`` at ``time_scale=1`` (diffusers' 1000·σ);
* names: ``proj_in`` (a Linear) -> ``patch.proj`` (a 1×1×1 Conv3d: the shared shape rule adds the unit axes);
  ``time_embed.emb.timestep_embedder`` -> ``embed.timestep.mlp``, ``time_embed.linear`` -> ``shared_modulation.1``,
  ``caption_projection`` -> ``context_proj``, ``scale_shift_table`` / ``proj_out`` -> ``final.scale_shift_table`` /
  ``final.linear``; per block ``attn1`` / ``attn2`` -> ``attn`` / ``cross_attn`` (``to_out.0`` -> ``to_out``),
  ``ff.net.0.proj`` / ``ff.net.2`` -> ``mlp.fc1`` / ``mlp.fc2`` (the block norms have no parameters).
"""

from __future__ import annotations

from torch import Tensor, nn

from .checks import config_getter, refuse_unsupported
from .common import RenameTable, convert_weights, param_pairs, prefixed, register_converter, rename_state_dict


__all__ = ["LTX_DIFFUSERS_CLASS", "ltx_rename_table", "ltx_to_diffusers_state_dict", "ltx_transformer_config"]

LTX_DIFFUSERS_CLASS = "LTXVideoTransformer3DModel"

_ATTENTION = [("to_{x}", "to_{x}"), ("to_out.0", "to_out"), ("norm_q", "norm_q"), ("norm_k", "norm_k")]
LTX_BLOCK_PAIRS = param_pairs(
    prefixed("attn1.", "attn.", _ATTENTION) + prefixed("attn2.", "cross_attn.", _ATTENTION)
    + [("ff.net.0.proj", "mlp.fc1"), ("ff.net.2", "mlp.fc2")]
) + [("scale_shift_table", "scale_shift_table")]


def ltx_rename_table() -> RenameTable:
    """The rename table of an ``LTXVideoTransformer3DModel``."""
    pairs = param_pairs([
        ("proj_in", "patch.proj"),
        ("time_embed.emb.timestep_embedder.linear_1", "embed.timestep.mlp.fc1"),
        ("time_embed.emb.timestep_embedder.linear_2", "embed.timestep.mlp.fc2"),
        ("time_embed.linear", "shared_modulation.1"),
        ("caption_projection.linear_1", "context_proj.linear_1"),
        ("caption_projection.linear_2", "context_proj.linear_2"),
        ("proj_out", "final.linear"),
    ]) + [("scale_shift_table", "final.scale_shift_table")]
    return RenameTable.from_pairs(pairs + prefixed("transformer_blocks.{i}.", "blocks.{i}.", LTX_BLOCK_PAIRS))


def ltx_transformer_config(config) -> dict:
    """``net/ltx_video_transformer`` keywords of a diffusers ``LTXVideoTransformer3DModel`` config (refuses what
    ours cannot express, naming every problem)."""
    get = config_getter(config)
    heads, head_dim = get("num_attention_heads"), get("attention_head_dim")
    dim = heads * head_dim
    wanted = dict(patch_size=1, patch_size_t=1, activation_fn="gelu-approximate", qk_norm="rms_norm_across_heads",
                  norm_elementwise_affine=False, norm_eps=1e-6, attention_bias=True, attention_out_bias=True)
    problems = [f"{k} must be {v!r}, got {get(k)!r}" for k, v in wanted.items() if get(k, v) != v]
    if get("cross_attention_dim") != dim:
        problems.append(f"cross_attention_dim must equal num_attention_heads × attention_head_dim = {dim} (the "
                        f"caption projection's output), got {get('cross_attention_dim')}")
    refuse_unsupported(LTX_DIFFUSERS_CLASS, problems)
    return dict(in_channels=get("in_channels"), out_channels=get("out_channels") or get("in_channels"),
                hidden_dim=dim, depth=get("num_layers"), num_heads=heads, context_dim=get("caption_channels"))


@register_converter(LTX_DIFFUSERS_CLASS)
def from_diffusers_ltx_transformer(model: nn.Module) -> nn.Module:
    """The ``net/ltx_video_transformer`` equal to ``model`` (weights converted; same device and dtype; eval mode)."""
    return convert_weights(model, "net/ltx_video_transformer", ltx_transformer_config(model.config),
                           ltx_rename_table())


def ltx_to_diffusers_state_dict(model: nn.Module, target: nn.Module | dict[str, Tensor]) -> dict[str, Tensor]:
    """The reverse direction: our state dict renamed for a diffusers ``LTXVideoTransformer3DModel`` ``target``."""
    return rename_state_dict(model.state_dict(), ltx_rename_table(), target, direction="to_diffusers")
