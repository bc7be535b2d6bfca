"""diffusers ``AutoencoderKLHunyuanVideo`` <-> ``net/hunyuan_video_vae``.

The module tree is diffusers' but for three spots: a down-sampler is our ``conv/causal_temporal`` itself
(``downsamplers.0.conv.conv`` -> ``downsamplers.0.conv``), a res-block shortcut a plain 1×1×1 ``Conv3d``
(``conv_shortcut.conv`` -> ``conv_shortcut``), and the mid-block attention's projections sit in its ``attn``
(``attentions.0.to_q`` -> ``attentions.0.attn.to_q``, ``to_out.0`` -> ``attn.to_out``). The encoder is one-shot:
diffusers' ``use_framewise_encoding`` tiles clips of more than 16 frames, which ours does not (equal below that).
"""

from __future__ import annotations

from torch import Tensor, nn

from .checks import config_getter, refuse_unsupported
from .common import RenameTable, convert_weights, register_converter, rename_state_dict


__all__ = ["VAE_HUNYUAN_VIDEO_DIFFUSERS_CLASS", "vae_hunyuan_video_config", "vae_hunyuan_video_to_diffusers_state_dict"]

VAE_HUNYUAN_VIDEO_DIFFUSERS_CLASS = "AutoencoderKLHunyuanVideo"
_P = r"(?P<p>weight|bias)"
_TABLE = RenameTable(
    rules=(
        (rf"(?P<a>.+\.downsamplers\.0)\.conv\.conv\.{_P}", r"\g<a>.conv.\g<p>"),
        (rf"(?P<a>.+\.conv_shortcut)\.conv\.{_P}", r"\g<a>.\g<p>"),
        (rf"(?P<a>.+\.attentions\.0)\.to_out\.0\.{_P}", r"\g<a>.attn.to_out.\g<p>"),
        (rf"(?P<a>.+\.attentions\.0)\.(?P<x>to_q|to_k|to_v)\.{_P}", r"\g<a>.attn.\g<x>.\g<p>"),
        (r"(?P<key>.+)", r"\g<key>"),
    ),
    reverse=(
        (rf"(?P<a>.+\.downsamplers\.0)\.conv\.{_P}", r"\g<a>.conv.conv.\g<p>"),
        (rf"(?P<a>.+\.conv_shortcut)\.{_P}", r"\g<a>.conv.\g<p>"),
        (rf"(?P<a>.+\.attentions\.0)\.attn\.to_out\.{_P}", r"\g<a>.to_out.0.\g<p>"),
        (rf"(?P<a>.+\.attentions\.0)\.attn\.(?P<x>to_q|to_k|to_v)\.{_P}", r"\g<a>.\g<x>.\g<p>"),
        (r"(?P<key>.+)", r"\g<key>"),
    ),
)


def vae_hunyuan_video_config(config) -> dict:
    """``net/hunyuan_video_vae`` keywords of a diffusers ``AutoencoderKLHunyuanVideo`` config (refuses what ours
    cannot express, naming every problem)."""
    get = config_getter(config)
    problems = []
    for field, kind in (("down_block_types", "HunyuanVideoDownBlock3D"), ("up_block_types", "HunyuanVideoUpBlock3D")):
        if any(t != kind for t in get(field, (kind,))):
            problems.append(f"{field} must all be {kind!r}, got {tuple(get(field))}")
    if get("act_fn", "silu") != "silu":
        problems.append(f"act_fn must be 'silu', got {get('act_fn')!r}")
    if not get("mid_block_add_attention", True):
        problems.append("mid_block_add_attention must be True")
    if get("temporal_compression_ratio", 4) != 4:
        problems.append(f"temporal_compression_ratio must be 4, got {get('temporal_compression_ratio')}")
    refuse_unsupported(VAE_HUNYUAN_VIDEO_DIFFUSERS_CLASS, problems)
    return dict(in_channels=get("in_channels", 3), out_channels=get("out_channels", 3),
                latent_channels=get("latent_channels", 16), block_channels=tuple(get("block_out_channels")),
                layers_per_block=get("layers_per_block", 2), groups=get("norm_num_groups", 32),
                temporal_factor=4, spatial_factor=int(get("spatial_compression_ratio", 8)))


@register_converter(VAE_HUNYUAN_VIDEO_DIFFUSERS_CLASS)
def from_diffusers_vae_hunyuan_video(model: nn.Module) -> nn.Module:
    """The ``net/hunyuan_video_vae`` equal to ``model`` (weights converted; same device and dtype; eval mode)."""
    return convert_weights(model, "net/hunyuan_video_vae", vae_hunyuan_video_config(model.config), _TABLE)


def vae_hunyuan_video_to_diffusers_state_dict(model: nn.Module,
                                              target: nn.Module | dict[str, Tensor]) -> dict[str, Tensor]:
    """The reverse direction: our state dict for a diffusers ``AutoencoderKLHunyuanVideo`` ``target``."""
    return rename_state_dict(model.state_dict(), _TABLE, target, direction="to_diffusers")
