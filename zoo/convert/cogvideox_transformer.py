"""diffusers ``CogVideoXTransformer3DModel`` (CogVideoX 1.0 2B / 5B, 1.5 5B T2V) <-> ``net/cogvideox_transformer``.

Conventions bridged:

* ``hidden_states`` ``(B, T, C, H, W)`` is our ``x`` ``(B, C, T, H, W)`` (``DiffusersTransformer``'s layout table);
  ``encoder_hidden_states`` is ``context``; ``timestep`` is ``t`` at ``time_scale=1``;
* positions: diffusers' 2B adds its sin-cos table over ``max_text_seq_length + N`` tokens (zeros over the text, so the
  text must be exactly 226 tokens there); ours adds the same table to the video tokens only (any text length). The
  5B's rotary tables are an input of diffusers' transformer (``image_rotary_emb``, made by the pipeline's
  ``_prepare_rotary_positional_embeddings``); ours computes the same from the grid (``rope_base_grid`` =
  ``(sample_height, sample_width) / patch_size``, the pipeline's base size);
* names: ``patch_embed.proj`` / ``text_proj`` -> ``patch.proj`` / ``context_proj`` (1.0's per-frame ``Conv2d`` is our
  ``(1, p, p)`` ``Conv3d``; 1.5's ``Linear`` over ``(c, p_t, p, p)`` its ``(p_t, p, p)`` kernel, reshaped),
  ``time_embedding.linear_{1,2}`` -> ``embed.timestep.mlp.fc{1,2}``, ``attn1`` -> ``attn`` (``to_out.0`` ->
  ``to_out``), ``ff.net.0.proj`` / ``ff.net.2`` -> ``mlp.fc1`` / ``mlp.fc2``, ``norm_out`` -> ``final``;
* ``proj_out`` emits each token's ``(c, p_t, p_h, p_w)`` values, ours ``(p_t, p_h, p_w, c)`` (``embed/patch3d``'s
  unpatchify): its rows are permuted.

Refused: CogVideoX 1.5 I2V's ``ofs`` embedding and 5B I2V's learned positions (no mechanism here yet).
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn

from .checks import config_getter, refuse_unsupported
from .common import RenameTable, convert_weights, param_pairs, prefixed, register_converter, rename_state_dict


__all__ = ["COGVIDEOX_DIFFUSERS_CLASS", "cogvideox_rename_table", "cogvideox_to_diffusers_state_dict",
           "cogvideox_transformer_config"]

COGVIDEOX_DIFFUSERS_CLASS = "CogVideoXTransformer3DModel"

_BLOCK = param_pairs([
    ("norm1.linear", "norm1.linear"), ("norm1.norm", "norm1.norm"), ("norm2.linear", "norm2.linear"),
    ("norm2.norm", "norm2.norm"), ("attn1.to_{x}", "attn.to_{x}"), ("attn1.norm_q", "attn.norm_q"),
    ("attn1.norm_k", "attn.norm_k"), ("attn1.to_out.0", "attn.to_out"), ("ff.net.0.proj", "mlp.fc1"),
    ("ff.net.2", "mlp.fc2"),
])


def cogvideox_rename_table() -> RenameTable:
    pairs = param_pairs([
        ("patch_embed.proj", "patch.proj"), ("patch_embed.text_proj", "context_proj"),
        ("time_embedding.linear_1", "embed.timestep.mlp.fc1"), ("time_embedding.linear_2", "embed.timestep.mlp.fc2"),
        ("norm_final", "norm_final"), ("norm_out.linear", "final.modulation.1"), ("norm_out.norm", "final.norm"),
        ("proj_out", "final.linear"),
    ])
    table = RenameTable.from_pairs(pairs + prefixed("transformer_blocks.{i}.", "blocks.{i}.", _BLOCK))
    # 1.5's patch Linear (D, C·p_t·p·p) is the Conv3d kernel (D, C, p_t, p, p) flattened in the same order
    return RenameTable(table.rules, table.reverse, reshape={
        r"patch\.proj\.weight": lambda v, shape: v.reshape(shape),
        r"patch_embed\.proj\.weight": lambda v, shape: v.reshape(shape)})


def cogvideox_transformer_config(config) -> dict:
    """``net/cogvideox_transformer`` keywords of a diffusers ``CogVideoXTransformer3DModel`` config (refuses what ours
    cannot express, naming every problem)."""
    get = config_getter(config)
    heads, head_dim = get("num_attention_heads", 30), get("attention_head_dim", 64)
    rope = bool(get("use_rotary_positional_embeddings", False))
    p, p_t = get("patch_size", 2), get("patch_size_t")
    problems = []
    if get("ofs_embed_dim"):
        problems.append(f"ofs_embed_dim must be None (CogVideoX 1.5 I2V's ofs embedding), got {get('ofs_embed_dim')}")
    if get("use_learned_positional_embeddings", False):
        problems.append("use_learned_positional_embeddings must be False (CogVideoX 5B I2V's learned table)")
    if rope and head_dim % 16:
        problems.append(f"attention_head_dim must be a multiple of 16 with rotary positions (CogVideoX's 1/4, 3/8, 3/8 "
                        f"split), got {head_dim}")
    for field, want in (("activation_fn", "gelu-approximate"), ("timestep_activation_fn", "silu"),
                        ("flip_sin_to_cos", True), ("freq_shift", 0), ("attention_bias", True),
                        ("norm_elementwise_affine", True), ("patch_bias", True)):
        if get(field, want) != want:
            problems.append(f"{field} must be {want!r}, got {get(field)!r}")
    if get("temporal_compression_ratio", 4) != 4 and not rope:
        problems.append(f"temporal_compression_ratio must be 4, got {get('temporal_compression_ratio')}")
    refuse_unsupported(COGVIDEOX_DIFFUSERS_CLASS, problems)
    return dict(
        in_channels=get("in_channels", 16), out_channels=get("out_channels") or get("in_channels", 16),
        patch_size=(p_t or 1, p, p), hidden_dim=heads * head_dim, depth=get("num_layers", 30), num_heads=heads,
        cond_dim=get("time_embed_dim", 512), context_dim=get("text_embed_dim", 4096),
        pos_embed="rope_3d" if rope else "sincos_3d",
        sincos_scales=(get("temporal_interpolation_scale", 1.0), get("spatial_interpolation_scale", 1.875)),
        rope_base_grid=(get("sample_height", 60) // p, get("sample_width", 90) // p) if p_t is None else None,
        norm_eps=get("norm_eps", 1e-5),
    )


def _proj_out(patch: tuple[int, int, int], out_channels: int, to_ours: bool):
    """Permute ``final.linear``'s rows between diffusers' ``(c, p_t, p_h, p_w)`` and ours ``(p_t, p_h, p_w, c)``."""
    pt, ph, pw = patch
    theirs, ours = "(c pt ph pw)", "(pt ph pw c)"
    src, dst = (theirs, ours) if to_ours else (ours, theirs)

    def adapt(state: dict[str, Tensor], prefix: str = "") -> dict[str, Tensor]:
        for name in ("weight", "bias"):
            key = f"{prefix}{name}"
            rest = " d" if name == "weight" else ""
            state[key] = rearrange(state[key], f"{src}{rest} -> {dst}{rest}", c=out_channels, pt=pt, ph=ph, pw=pw)
        return state
    return adapt


@register_converter(COGVIDEOX_DIFFUSERS_CLASS)
def from_diffusers_cogvideox_transformer(model: nn.Module) -> nn.Module:
    """The ``net/cogvideox_transformer`` equal to ``model`` (weights converted; same device and dtype; eval mode)."""
    config = cogvideox_transformer_config(model.config)
    permute = _proj_out(config["patch_size"], config["out_channels"], to_ours=True)
    return convert_weights(model, "net/cogvideox_transformer", config, cogvideox_rename_table(),
                           adapt=lambda state: permute(state, "final.linear."))


def cogvideox_to_diffusers_state_dict(model: nn.Module, target: nn.Module | dict[str, Tensor]) -> dict[str, Tensor]:
    """The reverse direction: our state dict renamed (and ``proj_out`` permuted back) for a diffusers
    ``CogVideoXTransformer3DModel`` ``target`` (whose ``load_state_dict(..., strict=True)`` then accepts it)."""
    state = rename_state_dict(model.state_dict(), cogvideox_rename_table(), target, direction="to_diffusers")
    return _proj_out(tuple(model.patch_size), model.out_channels, to_ours=False)(state, "proj_out.")
