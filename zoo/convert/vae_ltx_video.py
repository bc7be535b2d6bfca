"""diffusers ``AutoencoderKLLTXVideo`` <-> ``net/ltx_video_vae``.

The module tree is diffusers' (``ltx_video_vae_parts.py`` keeps its names: ``down_blocks.{i}.resnets``,
``downsamplers.0``, ``conv_out``; ``up_blocks.{i}.conv_in`` / ``upsamplers.0.conv`` / ``resnets``; ``norm3``,
``conv_shortcut``, ``per_channel_scale1/2``, ``scale_shift_table``, ``timestep_scale_multiplier``, the
``latents_mean`` / ``latents_std`` buffers) but for one spot: a timestep embedder is ``embed/timestep``
(``time_embedder.timestep_embedder.linear_{1,2}`` -> ``time_embedder.mlp.fc{1,2}``). The model is one-shot: diffusers'
tiling and frame-wise decoding (both off by default) are not converted.

The 0.9.5+ encoder (``down_block_types`` ``LTXVideo095DownBlock3D``: one level per width after the first, space-to-depth
down-samplers by ``downsample_type``) is ``downsample_type=`` of ours. Configs refused (naming the field): mixed block
types, ``downsample_type`` other than ``conv`` with 0.9.0 blocks, ``patch_size_t`` ≠ 1, compression ratios other than
the levels give.
"""

from __future__ import annotations

from torch import Tensor, nn

from .checks import config_getter, refuse_unsupported
from .common import RenameTable, convert_weights, register_converter, rename_state_dict


__all__ = ["VAE_LTX_VIDEO_DIFFUSERS_CLASS", "vae_ltx_video_config", "vae_ltx_video_to_diffusers_state_dict"]

VAE_LTX_VIDEO_DIFFUSERS_CLASS = "AutoencoderKLLTXVideo"
_P = r"(?P<p>weight|bias)"
_TABLE = RenameTable(
    rules=(
        (rf"(?P<a>.+\.time_embedder)\.timestep_embedder\.linear_(?P<i>[12])\.{_P}", r"\g<a>.mlp.fc\g<i>.\g<p>"),
        (r"(?P<key>.+)", r"\g<key>"),
    ),
    reverse=(
        (rf"(?P<a>.+\.time_embedder)\.mlp\.fc(?P<i>[12])\.{_P}", r"\g<a>.timestep_embedder.linear_\g<i>.\g<p>"),
        (r"(?P<key>.+)", r"\g<key>"),
    ),
)


def vae_ltx_video_config(config) -> dict:
    """``net/ltx_video_vae`` keywords of a diffusers ``AutoencoderKLLTXVideo`` config (refuses what ours cannot
    express, naming every problem)."""
    get = config_getter(config)
    problems = []
    levels = len(get("block_out_channels"))
    kinds = tuple(get("down_block_types", ("LTXVideoDownBlock3D",) * levels))
    layouts = {"LTXVideoDownBlock3D", "LTXVideo095DownBlock3D"}
    is_095 = bool(kinds) and kinds[-1] == "LTXVideo095DownBlock3D"  # diffusers' rule: the last block type decides
    if set(kinds) - layouts or len(set(kinds)) > 1:
        problems.append(f"down_block_types must all be one of {sorted(layouts)}, got {kinds}")
    downsample = tuple(get("downsample_type", ("conv",) * levels))
    if not is_095 and any(k != "conv" for k in downsample):
        problems.append(f"downsample_type must all be 'conv' with LTXVideoDownBlock3D, got {downsample}")
    if get("patch_size_t", 1) != 1:
        problems.append(f"patch_size_t must be 1, got {get('patch_size_t')}")
    halves = [(k in ("conv", "temporal", "spatiotemporal"), k in ("conv", "spatial", "spatiotemporal"))
              for k, on in zip(downsample if is_095 else ("conv",) * levels, get("spatio_temporal_scaling")) if on]
    for field, expected in (("spatial_compression_ratio", get("patch_size", 4) * 2 ** sum(s for _, s in halves)),
                            ("temporal_compression_ratio", 2 ** sum(t for t, _ in halves))):
        if get(field) not in (None, expected):
            problems.append(f"{field} must be {expected} (what the levels give), got {get(field)}")
    refuse_unsupported(VAE_LTX_VIDEO_DIFFUSERS_CLASS, problems)
    return dict(
        in_channels=get("in_channels", 3), out_channels=get("out_channels", 3),
        latent_channels=get("latent_channels", 128), block_channels=tuple(get("block_out_channels")),
        layers_per_block=tuple(get("layers_per_block")),
        spatio_temporal_scaling=tuple(bool(s) for s in get("spatio_temporal_scaling")),
        decoder_block_channels=tuple(get("decoder_block_out_channels")),
        decoder_layers_per_block=tuple(get("decoder_layers_per_block")),
        decoder_spatio_temporal_scaling=tuple(bool(s) for s in get("decoder_spatio_temporal_scaling")),
        decoder_inject_noise=tuple(bool(s) for s in get("decoder_inject_noise")),
        upsample_residual=tuple(bool(s) for s in get("upsample_residual")),
        upsample_factor=tuple(int(s) for s in get("upsample_factor")),
        downsample_type=tuple(downsample[:levels - 1]) if is_095 else None,
        timestep_conditioning=bool(get("timestep_conditioning", False)), patch_size=get("patch_size", 4),
        eps=get("resnet_norm_eps", 1e-6), encoder_causal=bool(get("encoder_causal", True)),
        decoder_causal=bool(get("decoder_causal", False)),
    )


@register_converter(VAE_LTX_VIDEO_DIFFUSERS_CLASS)
def from_diffusers_vae_ltx_video(model: nn.Module) -> nn.Module:
    """The ``net/ltx_video_vae`` equal to ``model`` (weights and latent statistics converted; same device and dtype;
    eval mode)."""
    return convert_weights(model, "net/ltx_video_vae", vae_ltx_video_config(model.config), _TABLE)


def vae_ltx_video_to_diffusers_state_dict(model: nn.Module, target: nn.Module | dict[str, Tensor]) -> dict[str, Tensor]:
    """The reverse direction: our state dict for a diffusers ``AutoencoderKLLTXVideo`` ``target``."""
    return rename_state_dict(model.state_dict(), _TABLE, target, direction="to_diffusers")
