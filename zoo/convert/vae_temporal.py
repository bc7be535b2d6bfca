"""diffusers ``AutoencoderKLTemporalDecoder`` (SVD's VAE) <-> ``net/video_autoencoder`` (``temporal_decoder=True``).

Conventions bridged:

* layout: diffusers folds frames into the batch at its boundary (``encode`` takes ``(B·T, C, H, W)``; ``decode`` takes
  ``(B·T, 4, h, w)`` with ``num_frames=T`` and returns ``(B·T, C, H, W)``); ours takes ``B C T H W`` throughout
  (``rearrange(x, "(b t) c h w -> b c t h w", t=T)`` at the boundary, in the caller);
* ``encode(...).latent_dist.mean`` / ``.logvar`` = our ``encode_moments(x)`` (same clamp to [−30, 20]);
  ``.mode()`` = our ``encode(x)``; latents are unscaled on both sides (``scaling_factor`` 0.18215 is the pipeline's);
* the decoder's alpha merges (``merge_strategy="learned"``, ``switch_spatial_to_temporal_mix=True``): diffusers blends
  ``(1 − σ(m))·spatial + σ(m)·temporal``, ours ``σ(m')·spatial + (1 − σ(m'))·temporal``, so ``m' = −m`` (the one
  value transform, applied in both directions);
* ``layers_per_block`` must be 2 (see ``vae_temporal_config``); mid blocks are lists (res, attention, res): ``mid_block.resnets.{0, 1}`` / ``attentions.0`` -> ``mid.{0, 2}`` /
  ``mid.1``; the attention's ``group_norm`` -> ``norm``, ``to_{q,k,v}`` (biased) and ``to_out.0`` -> ``attn.to_*``;
* 2-D convs become ``1×k×k`` space-only Conv3d weights; the encoder's down-sampler of level L is the
  ``layers_per_block``-th entry of ``encoder.down.L``, the decoder's up-sampler the ``layers_per_block + 1``-th of
  ``decoder.up.L`` (levels numbered from the coarsest, as in diffusers); ``conv_norm_out`` -> ``norm_out``.
"""

from __future__ import annotations

from torch import Tensor, nn

from .blocks import RESNET
from .checks import config_getter, level_problems, refuse_unsupported
from .common import RenameTable, convert_weights, param_pairs, prefixed, register_converter, rename_state_dict
from .svd import SPATIOTEMPORAL_RESNET


__all__ = ["VAE_TEMPORAL_DIFFUSERS_CLASS", "vae_temporal_config", "vae_temporal_rename_table",
           "vae_temporal_to_diffusers_state_dict"]

VAE_TEMPORAL_DIFFUSERS_CLASS = "AutoencoderKLTemporalDecoder"

_IMAGE_RESNET = param_pairs([p for p in RESNET if p[0] != "time_emb_proj"])
_ATTENTION = param_pairs([("group_norm", "norm"), ("to_q", "attn.to_q"), ("to_k", "attn.to_k"),
                          ("to_v", "attn.to_v"), ("to_out.0", "attn.to_out")])
_MERGE = "merge.merge_factor"


def autoencoder_pairs(layers_per_block: int, decoder_resnet: list, extra: list) -> list:
    """diffusers <-> zoo pairs of an SD-style KL autoencoder: encoder and decoder with ``layers_per_block``
    res-blocks per encoder level (``_IMAGE_RESNET`` in the encoder, ``decoder_resnet`` in the decoder), mid blocks
    with one attention, plus the ``extra`` (diffusers, zoo) top-level names (``quant_conv``, …)."""
    n = layers_per_block
    pairs = param_pairs([*extra, ("encoder.down_blocks.{L}.downsamplers.0.conv", f"encoder.down.{{L}}.{n}.conv"),
                         ("decoder.up_blocks.{L}.upsamplers.0.conv", f"decoder.up.{{L}}.{n + 1}.conv")])
    for part in ("encoder", "decoder"):
        res = _IMAGE_RESNET if part == "encoder" else decoder_resnet
        pairs += prefixed(f"{part}.", f"{part}.", param_pairs([("conv_in", "conv_in"), ("conv_out", "conv_out"),
                                                               ("conv_norm_out", "norm_out")]))
        pairs += (prefixed(f"{part}.mid_block.resnets.0.", f"{part}.mid.0.", res)
                  + prefixed(f"{part}.mid_block.attentions.0.", f"{part}.mid.1.", _ATTENTION)
                  + prefixed(f"{part}.mid_block.resnets.1.", f"{part}.mid.2.", res))
    pairs += prefixed("encoder.down_blocks.{L}.resnets.{i}.", "encoder.down.{L}.{i}.", _IMAGE_RESNET)
    pairs += prefixed("decoder.up_blocks.{L}.resnets.{i}.", "decoder.up.{L}.{i}.", decoder_resnet)
    return pairs


def vae_temporal_rename_table(layers_per_block: int) -> RenameTable:
    """The rename table for ``layers_per_block`` res-blocks per encoder level (both directions)."""
    return RenameTable.from_pairs(autoencoder_pairs(
        layers_per_block, SPATIOTEMPORAL_RESNET, [("quant_conv", "quant_conv"),
                                                  ("decoder.time_conv_out", "decoder.time_conv_out")]))


def _negate_merges(state: dict[str, Tensor], suffix: str) -> dict[str, Tensor]:
    return {k: -v if k.endswith(suffix) else v for k, v in state.items()}


def vae_temporal_config(config) -> dict:
    """``net/video_autoencoder`` keywords of a diffusers ``AutoencoderKLTemporalDecoder`` config."""
    get = config_getter(config)
    widths = list(get("block_out_channels"))
    problems = level_problems(widths)
    if get("layers_per_block") != 2:
        # diffusers' MidBlockTemporalDecoder builds layers_per_block res-blocks but runs (res, attention, res): with 1
        # its attention is never called, with 3+ the extra res-blocks are dead weights; 2 is the only faithful size
        problems.append(f"layers_per_block must be 2 (the decoder mid block is res, attention, res), got "
                        f"{get('layers_per_block')}")
    if any(kind != "DownEncoderBlock2D" for kind in get("down_block_types")):
        problems.append(f"down_block_types must all be DownEncoderBlock2D, got {get('down_block_types')}")
    refuse_unsupported(VAE_TEMPORAL_DIFFUSERS_CLASS, problems)
    return dict(in_channels=get("in_channels"), out_channels=get("out_channels"),
                latent_channels=get("latent_channels"), base_channels=widths[0],
                channel_mults=tuple(w // widths[0] for w in widths), num_res_blocks=get("layers_per_block"),
                num_groups=32, eps=1e-6, temporal_decoder=True, temporal_eps=1e-5, post_quant_conv=False,
                scaling_factor=get("scaling_factor"))


@register_converter(VAE_TEMPORAL_DIFFUSERS_CLASS)
def from_diffusers_vae_temporal(model: nn.Module) -> nn.Module:
    """The ``net/video_autoencoder`` equal to ``model`` (weights converted; same device and dtype; eval mode)."""
    return convert_weights(model, "net/video_autoencoder", vae_temporal_config(model.config),
                           vae_temporal_rename_table(model.config.layers_per_block),
                           adapt=lambda state: _negate_merges(state, _MERGE))


def vae_temporal_to_diffusers_state_dict(model: nn.Module, target: nn.Module | dict[str, Tensor],
                                         layers_per_block: int) -> dict[str, Tensor]:
    """The reverse direction: our state dict renamed (and merge logits negated) for a diffusers
    ``AutoencoderKLTemporalDecoder`` ``target``."""
    state = rename_state_dict(model.state_dict(), vae_temporal_rename_table(layers_per_block), target,
                              direction="to_diffusers")
    return _negate_merges(state, "time_mixer.mix_factor")
