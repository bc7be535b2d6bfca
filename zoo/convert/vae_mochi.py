"""diffusers ``AutoencoderKLMochi`` <-> ``net/mochi_vae``.

The module tree is diffusers' but for two spots: a per-frame GroupNorm is a plain ``nn.GroupNorm``
(``norm1.norm_layer`` -> ``norm1``, ``norm_out.norm_layer`` -> ``norm_out``), and an attention and the norm before it
are one module (``norms.{i}.norm_layer`` -> ``attentions.{i}.norm``, ``attentions.{i}.to_q`` / ``to_out.0`` ->
``attentions.{i}.attn.to_q`` / ``attn.to_out``). Both run one-shot, diffusers' default (its frame-wise decoding and
tiling are opt-in; its frame-wise encoding is refused by diffusers itself). ``latents_mean`` / ``latents_std`` and
``scaling_factor`` are the recipe's (``Autoencoder(latents_mean=, latents_std=)``), not the net's.
"""

from __future__ import annotations

from torch import Tensor, nn

from .checks import config_getter, refuse_unsupported
from .common import RenameTable, convert_weights, register_converter, rename_state_dict


__all__ = ["VAE_MOCHI_DIFFUSERS_CLASS", "vae_mochi_config", "vae_mochi_to_diffusers_state_dict"]

VAE_MOCHI_DIFFUSERS_CLASS = "AutoencoderKLMochi"
_P = r"(?P<p>weight|bias)"
_TABLE = RenameTable(
    rules=(
        (rf"(?P<a>.+)\.norms\.(?P<i>[0-9]+)\.norm_layer\.{_P}", r"\g<a>.attentions.\g<i>.norm.\g<p>"),
        (rf"(?P<a>.+)\.norm_layer\.{_P}", r"\g<a>.\g<p>"),  # resnets' norm1 / norm2, the encoder's norm_out
        (rf"(?P<a>.+\.attentions\.[0-9]+)\.to_out\.0\.{_P}", r"\g<a>.attn.to_out.\g<p>"),
        (rf"(?P<a>.+\.attentions\.[0-9]+)\.(?P<x>to_q|to_k|to_v)\.{_P}", r"\g<a>.attn.\g<x>.\g<p>"),
        (r"(?P<key>.+)", r"\g<key>"),
    ),
    reverse=(
        (rf"(?P<a>.+)\.attentions\.(?P<i>[0-9]+)\.norm\.{_P}", r"\g<a>.norms.\g<i>.norm_layer.\g<p>"),
        (rf"(?P<a>.+\.attentions\.[0-9]+)\.attn\.to_out\.{_P}", r"\g<a>.to_out.0.\g<p>"),
        (rf"(?P<a>.+\.attentions\.[0-9]+)\.attn\.(?P<x>to_q|to_k|to_v)\.{_P}", r"\g<a>.\g<x>.\g<p>"),
        (rf"(?P<a>.+\.(norm1|norm2|norm_out))\.{_P}", r"\g<a>.norm_layer.\g<p>"),
        (r"(?P<key>.+)", r"\g<key>"),
    ),
)


def vae_mochi_config(config) -> dict:
    """``net/mochi_vae`` keywords of a diffusers ``AutoencoderKLMochi`` config (refuses what ours cannot express,
    naming every problem)."""
    get = config_getter(config)
    problems = []
    if get("act_fn", "silu") != "silu":
        problems.append(f"act_fn must be 'silu', got {get('act_fn')!r}")
    if get("in_channels", 15) != 5 * get("out_channels", 3):
        problems.append(f"in_channels must be 5 × out_channels (the Fourier features of the RGB input), got "
                        f"in_channels={get('in_channels')}, out_channels={get('out_channels')}")
    refuse_unsupported(VAE_MOCHI_DIFFUSERS_CLASS, problems)
    return dict(in_channels=get("out_channels", 3), out_channels=get("out_channels", 3),
                latent_channels=get("latent_channels", 12),
                encoder_channels=tuple(get("encoder_block_out_channels", (64, 128, 256, 384))),
                decoder_channels=tuple(get("decoder_block_out_channels", (128, 256, 512, 768))),
                layers_per_block=tuple(get("layers_per_block", (3, 3, 4, 6, 3))),
                temporal_expansions=tuple(get("temporal_expansions", (1, 2, 3))),
                spatial_expansions=tuple(get("spatial_expansions", (2, 2, 2))),
                add_attention_block=tuple(get("add_attention_block", (False, True, True, True, True))))


@register_converter(VAE_MOCHI_DIFFUSERS_CLASS)
def from_diffusers_vae_mochi(model: nn.Module) -> nn.Module:
    """The ``net/mochi_vae`` equal to ``model`` (weights converted; same device and dtype; eval mode)."""
    return convert_weights(model, "net/mochi_vae", vae_mochi_config(model.config), _TABLE)


def vae_mochi_to_diffusers_state_dict(model: nn.Module, target: nn.Module | dict[str, Tensor]) -> dict[str, Tensor]:
    """The reverse direction: our state dict for a diffusers ``AutoencoderKLMochi`` ``target``."""
    return rename_state_dict(model.state_dict(), _TABLE, target, direction="to_diffusers")
