"""diffusers ``ControlNetModel`` (SD 1.x / 2.x ControlNets) <-> ``net/control_branch``.

``zoo.from_diffusers(controlnet)`` returns a ``ControlBranch``: ``branch(x, t, control=..., context=...)`` with ``x``
``B C T H W`` latents and ``control`` ``B 3 T 8H 8W`` maps gives, per frame, diffusers'
``down_block_res_samples`` then ``mid_block_res_sample`` (with ``conditioning_scale`` = ``scale``). The encoder's
names and config follow the U-Net converter (``unet2d.py``: same conventions); added here:
``controlnet_cond_embedding.{conv_in, blocks.n, conv_out}`` -> ``cond_embed.{conv_in, blocks.n, conv_out}``,
``controlnet_down_blocks.n`` -> ``zero_convs.n``, ``controlnet_mid_block`` -> ``mid_zero_conv`` (1×1 convs ->
``1×1×1`` space-only convs). ``conditioning_channel_order="rgb"`` and no global pooling (``guess_mode`` is a
sampling-time choice, not modelled).
"""

from __future__ import annotations

from torch import Tensor, nn

from .common import RenameTable, convert_weights, param_pairs, register_converter, rename_state_dict
from .unet2d import encoder_config, encoder_pairs


def controlnet_config(config) -> dict:
    """``ControlBranch`` keywords of a diffusers ``ControlNetModel`` config."""
    return dict(encoder_config(config), control_channels=config["conditioning_channels"],
                control_embedding_channels=tuple(config["conditioning_embedding_out_channels"]))


def controlnet_table(cfg: dict) -> RenameTable:
    """The diffusers <-> zoo rename table of a ``ControlBranch`` config made by ``controlnet_config``."""
    n_blocks = 2 * (len(cfg["control_embedding_channels"]) - 1)
    return RenameTable.from_pairs(encoder_pairs(cfg) + param_pairs([
        ("controlnet_cond_embedding.conv_in", "cond_embed.conv_in"),
        ("controlnet_cond_embedding.conv_out", "cond_embed.conv_out"),
        ("controlnet_down_blocks.{n}", "zero_convs.{n}"),
        ("controlnet_mid_block", "mid_zero_conv"),
        *((f"controlnet_cond_embedding.blocks.{n}", f"cond_embed.blocks.{n}") for n in range(n_blocks))]))


@register_converter("ControlNetModel")
def from_controlnet(model: nn.Module) -> nn.Module:
    """The ``ControlBranch`` equal to ``model`` on every frame, with its weights (eval mode)."""
    cfg = controlnet_config(model.config)
    return convert_weights(model, "net/control_branch", cfg, controlnet_table(cfg))


def to_controlnet_state_dict(branch: nn.Module, diffusers_model: nn.Module) -> dict[str, Tensor]:
    """``branch``'s weights as a state dict for ``diffusers_model`` (the same architecture)."""
    cfg = controlnet_config(diffusers_model.config)
    return rename_state_dict(branch.state_dict(), controlnet_table(cfg), diffusers_model, direction="to_diffusers")
