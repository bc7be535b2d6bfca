"""diffusers ``AutoencoderKLWan`` (Wan 2.1 / 2.2 causal VAE) <-> ``net/wan_vae``.

Conventions bridged:

* layout: both take and return ``B C T H W``; ``encode(x).latent_dist.mean`` / ``.logvar`` = our
  ``encode_moments(x)`` (same [−30, 20] clamp), ``decode(z).sample`` = our ``decode(z)`` (raw latents, output clamped
  to [−1, 1] on both sides); ``latents_mean`` / ``latents_std`` are the pipeline's (zoo/recipes/autoencoders.py);
* Wan 2.2's ``in_channels`` / ``out_channels`` count the patchified channels (12 = 3·2²), ours the video's (3);
* ``WanRMS_norm.gamma`` ``(C, 1, 1[, 1])`` -> ``ChannelRMSNorm.weight`` ``(C,)``; every ``WanCausalConv3d`` is a
  ``CausalConv3d`` (its parameters under ``.conv``); the resamplers' ``resample.1`` Conv2d -> ``resample.conv``;
* the mid attention's fused 1×1 ``to_qkv`` conv ``(3C, C, 1, 1)`` is split into ``attn.to_q/k/v`` (rows in q, k, v
  order) and ``proj`` -> ``attn.to_out`` (the one value transform, undone in the reverse direction);
* Wan 2.1's encoder is a flat ``down_blocks`` list (``num_res_blocks`` res-blocks, then a resampler, per level) ->
  ``encoder.down.{L}.res.{i}`` / ``.resample``; Wan 2.2's ``WanResidualDownBlock`` / ``WanResidualUpBlock``
  (``resnets``, ``downsampler`` / ``upsampler``) map to the same stages; Wan 2.1's up-sampler is ``upsamplers.0``;
* refused: ``attn_scales`` (no Wan checkpoint has attention outside the middle), inconsistent ``scale_factor_*``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

import components

from .checks import config_getter, refuse_unsupported
from .common import RenameTable, param_pairs, prefixed, register_converter, rename_state_dict


__all__ = ["VAE_WAN_DIFFUSERS_CLASS", "vae_wan_config", "vae_wan_rename_table", "vae_wan_to_diffusers_state_dict"]

VAE_WAN_DIFFUSERS_CLASS = "AutoencoderKLWan"

_RES = [("norm1.gamma", "norm1.weight"), ("norm2.gamma", "norm2.weight")] + param_pairs(
    [("conv1", "conv1.conv"), ("conv2", "conv2.conv"), ("conv_shortcut", "skip.conv")])
_ATTENTION = [("norm.gamma", "norm.weight")] + param_pairs([("to_{x}", "attn.to_{x}"), ("proj", "attn.to_out")])


def _half(part: str) -> list[tuple[str, str]]:
    pairs = [("norm_out.gamma", "norm_out.weight")] + param_pairs([("conv_in", "conv_in.conv"),
                                                                    ("conv_out", "conv_out.conv")])
    pairs += (prefixed("mid_block.resnets.0.", "mid.0.", _RES) + prefixed("mid_block.attentions.0.", "mid.1.", _ATTENTION)
              + prefixed("mid_block.resnets.1.", "mid.2.", _RES))
    return prefixed(f"{part}.", f"{part}.", pairs)


def vae_wan_rename_table(levels: int, num_res_blocks: int, residual: bool) -> RenameTable:
    """The rename table (both directions) of a Wan VAE with ``levels`` levels of ``num_res_blocks`` res-blocks."""
    pairs = param_pairs([("quant_conv", "quant_conv.conv"), ("post_quant_conv", "post_quant_conv.conv")])
    pairs += _half("encoder") + _half("decoder")
    if residual:  # Wan 2.2: one WanResidualDownBlock per level
        pairs += prefixed("encoder.down_blocks.{L}.resnets.{i}.", "encoder.down.{L}.res.{i}.", _RES)
        pairs += param_pairs([("encoder.down_blocks.{L}.downsampler.resample.1", "encoder.down.{L}.resample.conv"),
                              ("encoder.down_blocks.{L}.downsampler.time_conv", "encoder.down.{L}.resample.time_conv"),
                              ("decoder.up_blocks.{L}.upsampler.resample.1", "decoder.up.{L}.resample.conv"),
                              ("decoder.up_blocks.{L}.upsampler.time_conv", "decoder.up.{L}.resample.time_conv.conv")])
    else:  # Wan 2.1: a flat encoder list, level L's entries from L·(num_res_blocks + 1)
        for level in range(levels):
            first = level * (num_res_blocks + 1)
            for i in range(num_res_blocks):
                pairs += prefixed(f"encoder.down_blocks.{first + i}.", f"encoder.down.{level}.res.{i}.", _RES)
            resample = f"encoder.down_blocks.{first + num_res_blocks}"
            pairs += param_pairs([(f"{resample}.resample.1", f"encoder.down.{level}.resample.conv"),
                                  (f"{resample}.time_conv", f"encoder.down.{level}.resample.time_conv")])
        pairs += param_pairs([("decoder.up_blocks.{L}.upsamplers.0.resample.1", "decoder.up.{L}.resample.conv"),
                              ("decoder.up_blocks.{L}.upsamplers.0.time_conv", "decoder.up.{L}.resample.time_conv.conv")])
    pairs += prefixed("decoder.up_blocks.{L}.resnets.{i}.", "decoder.up.{L}.res.{i}.", _RES)
    return RenameTable.from_pairs(pairs)


def split_qkv(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """``…to_qkv.{weight,bias}`` ``(3C, …)`` -> ``…to_q`` / ``to_k`` / ``to_v`` (rows in that order)."""
    out = {}
    for key, value in state.items():
        if ".to_qkv." in key:
            for name, part in zip("qkv", value.chunk(3, dim=0)):
                out[key.replace(".to_qkv.", f".to_{name}.")] = part
        else:
            out[key] = value
    return out


def fuse_qkv(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The inverse of ``split_qkv``."""
    out = {k: v for k, v in state.items() if not any(f".to_{n}." in k for n in "qkv")}
    for key in [k for k in state if ".to_q." in k]:
        out[key.replace(".to_q.", ".to_qkv.")] = torch.cat(
            [state[key.replace(".to_q.", f".to_{n}.")] for n in "qkv"], dim=0)
    return out


def vae_wan_config(config) -> dict:
    """``net/wan_vae`` keywords of a diffusers ``AutoencoderKLWan`` config (refuses what it cannot express)."""
    get = config_getter(config)
    mults, down = list(get("dim_mult")), [bool(t) for t in get("temperal_downsample")]
    patch = get("patch_size") or 1
    problems = []
    if list(get("attn_scales") or []):
        problems.append(f"attn_scales must be empty (attention only in the middle blocks), got {get('attn_scales')}")
    if len(down) != len(mults) - 1:
        problems.append(f"temperal_downsample needs {len(mults) - 1} flags (one per level but the last), got {down}")
    for field in ("in_channels", "out_channels"):
        if get(field) % (patch * patch):
            problems.append(f"{field} must be divisible by patch_size² = {patch * patch}, got {get(field)}")
    spatial, temporal = 2 ** (len(mults) - 1) * patch, 2 ** sum(down)
    for field, value in (("scale_factor_spatial", spatial), ("scale_factor_temporal", temporal)):
        if get(field, value) not in (None, value):
            problems.append(f"{field} must be {value} (from dim_mult, patch_size, temperal_downsample), "
                            f"got {get(field)}")
    refuse_unsupported(VAE_WAN_DIFFUSERS_CLASS, problems)
    return dict(in_channels=get("in_channels") // patch ** 2, out_channels=get("out_channels") // patch ** 2,
                latent_channels=get("z_dim"), base_channels=get("base_dim"),
                decoder_base_channels=get("decoder_base_dim") or get("base_dim"), channel_mults=tuple(mults),
                num_res_blocks=get("num_res_blocks"), temporal_downsample=tuple(down),
                residual=bool(get("is_residual", False)), patch_size=patch, dropout=get("dropout", 0.0))


def _table(config: dict) -> RenameTable:
    return vae_wan_rename_table(len(config["channel_mults"]), config["num_res_blocks"], config["residual"])


@register_converter(VAE_WAN_DIFFUSERS_CLASS)
def from_diffusers_vae_wan(model: nn.Module) -> nn.Module:
    """The ``net/wan_vae`` equal to ``model`` (weights converted; same device and dtype; eval mode)."""
    config = vae_wan_config(model.config)
    weight = next(model.parameters())
    ours = components.build("net/wan_vae", **config, device=weight.device, dtype=weight.dtype)
    ours.load_state_dict(rename_state_dict(split_qkv(model.state_dict()), _table(config), ours), strict=True)
    return ours.eval()


def vae_wan_to_diffusers_state_dict(model: nn.Module, target: nn.Module | dict[str, Tensor]) -> dict[str, Tensor]:
    """The reverse direction: our ``net/wan_vae`` state dict renamed (q/k/v fused) for a diffusers
    ``AutoencoderKLWan`` ``target``."""
    shapes = split_qkv(target.state_dict() if isinstance(target, nn.Module) else dict(target))
    config = components.config_of(model)
    return fuse_qkv(rename_state_dict(model.state_dict(), _table(config), shapes, direction="to_diffusers"))
