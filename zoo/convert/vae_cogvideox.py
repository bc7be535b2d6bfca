"""diffusers ``AutoencoderKLCogVideoX`` (CogVideoX 1.0 / 1.5 causal VAE) <-> ``net/cogvideox_vae``.

Conventions bridged:

* layout: both take and return ``B C T H W``; ``encode(x).latent_dist.mean`` / ``.logvar`` = our
  ``encode_moments(x)`` (same [−30, 20] clamp), ``decode(z).sample`` = our ``decode(z)`` (raw latents, neither
  clamped); both run the clip in the same frame batches (8 frames in, 2 latent frames out; ``frame_batches``), which
  the GroupNorms make part of the function; ``scaling_factor`` is the pipeline's (the recipe's ``Autoencoder``);
* names are diffusers' (our modules keep ``down_blocks.{i}.resnets.{j}``, ``downsamplers.0``, ``mid_block``,
  ``norm1.norm_layer`` / ``conv_y`` / ``conv_b``; every ``CogVideoXCausalConv3d`` is a ``CausalConv3d`` with its
  parameters under ``.conv``), so the table is the identity; the resamplers' per-frame ``Conv2d`` is our ``(1, 3,
  3)`` ``Conv3d`` (a unit axis, reshaped by the shared shape rule);
* refused: ``use_quant_conv`` / ``use_post_quant_conv`` (no CogVideoX checkpoint has them), other block types.
"""

from __future__ import annotations

from torch import Tensor, nn

from .checks import config_getter, refuse_unsupported
from .common import RenameTable, convert_weights, register_converter, rename_state_dict


__all__ = ["VAE_COGVIDEOX_DIFFUSERS_CLASS", "vae_cogvideox_config", "vae_cogvideox_to_diffusers_state_dict"]

VAE_COGVIDEOX_DIFFUSERS_CLASS = "AutoencoderKLCogVideoX"
_IDENTITY = ((r"(?P<key>.+)", r"\g<key>"),)
_TABLE = RenameTable(_IDENTITY, _IDENTITY)


def vae_cogvideox_config(config) -> dict:
    """``net/cogvideox_vae`` keywords of a diffusers ``AutoencoderKLCogVideoX`` config (refuses what ours cannot
    express, naming every problem)."""
    get = config_getter(config)
    problems = [f"{field} must be False, got True" for field in ("use_quant_conv", "use_post_quant_conv")
                if get(field, False)]
    for field, kind in (("down_block_types", "CogVideoXDownBlock3D"), ("up_block_types", "CogVideoXUpBlock3D")):
        if any(t != kind for t in get(field, (kind,))):
            problems.append(f"{field} must all be {kind!r}, got {tuple(get(field))}")
    if get("act_fn", "silu") != "silu" or get("norm_eps", 1e-6) != 1e-6:
        problems.append(f"act_fn must be 'silu' and norm_eps 1e-6, got {get('act_fn')!r}, {get('norm_eps')}")
    refuse_unsupported(VAE_COGVIDEOX_DIFFUSERS_CLASS, problems)
    return dict(in_channels=get("in_channels", 3), out_channels=get("out_channels", 3),
                latent_channels=get("latent_channels", 16), block_channels=tuple(get("block_out_channels")),
                layers_per_block=get("layers_per_block", 3), groups=get("norm_num_groups", 32),
                temporal_factor=int(get("temporal_compression_ratio", 4)))


@register_converter(VAE_COGVIDEOX_DIFFUSERS_CLASS)
def from_diffusers_vae_cogvideox(model: nn.Module) -> nn.Module:
    """The ``net/cogvideox_vae`` equal to ``model`` (weights converted; same device and dtype; eval mode)."""
    return convert_weights(model, "net/cogvideox_vae", vae_cogvideox_config(model.config), _TABLE)


def vae_cogvideox_to_diffusers_state_dict(model: nn.Module, target: nn.Module | dict[str, Tensor]) -> dict[str, Tensor]:
    """The reverse direction: our state dict for a diffusers ``AutoencoderKLCogVideoX`` ``target``."""
    return rename_state_dict(model.state_dict(), _TABLE, target, direction="to_diffusers")
