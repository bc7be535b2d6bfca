"""ControlNet on the space-time U-Net: a trainable copy of the encoder that turns a control video into residuals.

ControlNet (Zhang, Rao & Agrawala 2023, §3.2): copy the U-Net's encoder and middle block, feed it the noisy latent
plus an embedded control map (``cond_embed``: small stride-2 conv stack from pixel to latent resolution, last conv
zero), and add each of its skip activations, through a zero-initialised 1×1 conv, to the frozen U-Net's skips and
middle block. ControlVideo (Zhang et al. 2023) and Text2Video-Zero's ControlNet variant apply it to every frame
(space-only convs; its attention slot is the U-Net's, e.g. fully cross-frame attention).

* ``net/control_branch`` (``ControlBranch``): ``(x, t, control, context) -> [residual per skip] + [mid residual]``.
* ``net/controlled_unet`` (``ControlledUNet``): ``SpaceTimeUNet`` + ``ControlBranch`` mirroring its encoder;
  ``model(x, t, context=..., control=...)`` (``control=None``: the plain U-Net).

Parameter names of the branch's encoder are the U-Net's (``embed``, ``conv_in``, ``down``, ``mid``), so
``ControlBranch.from_unet(unet)`` builds it from the image model as ControlNet does: the branch is a
``SpaceTimeUNet(decoder=False)``, not a copy of its code.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .. import registry
from ..checks import check_video
from ..registry import BadInput, register
from .conditioning import check_cond_keywords
from .unet import SpaceTimeUNet
from .unet_parts import unet_inputs


def _conv(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, factory: dict | None = None) -> nn.Module:
    return registry.build("conv/space_only_3d", in_channels=c_in, out_channels=c_out, kernel_size=kernel,
                          stride=stride, **(factory or {}))


class ControlEmbedding(nn.Module):
    """Control map ``(B, C_ctrl, T, f·H, f·W) -> (B, out_channels, T, H, W)``, ``f = 2 ** (len(channels) − 1)``.

    ControlNet's condition encoder, per frame: ``conv_in`` then, per width step, a ``3×3`` conv and a stride-2
    ``3×3`` conv, SiLU after each, then ``conv_out`` (zero-initialised when ``zero_init``).
    """

    def __init__(self, in_channels: int, out_channels: int, channels: Sequence[int], *, zero_init: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.factor = 2 ** (len(channels) - 1)
        self.conv_in = _conv(in_channels, channels[0], factory=factory)
        self.blocks = nn.ModuleList()
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            self.blocks.append(_conv(c_in, c_in, factory=factory))
            self.blocks.append(_conv(c_in, c_out, stride=2, factory=factory))
        self.conv_out = _conv(channels[-1], out_channels, factory=factory)
        if zero_init:
            nn.init.zeros_(self.conv_out.weight)
            nn.init.zeros_(self.conv_out.bias)

    def forward(self, control: Tensor) -> Tensor:
        h = nn.functional.silu(self.conv_in(control))
        for block in self.blocks:
            h = nn.functional.silu(block(h))
        return self.conv_out(h)


def _branch_inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    (x, t), cond = unet_inputs(cfg, frames, batch, generator)
    factor = 2 ** (len(cfg.get("control_embedding_channels", (16, 32, 96, 256))) - 1)
    control = torch.randn(batch, cfg.get("control_channels", 3), frames, 8 * factor, 8 * factor, generator=generator)
    return (x, t), {**cond, "control": control}


def _bad(x_shape, control_shape):
    def make(cfg):
        ctx = torch.zeros(2, 3, cfg["context_dim"])
        return (torch.zeros(*x_shape(cfg)), torch.zeros(2)), {"control": torch.zeros(*control_shape(cfg)),
                                                              "context": ctx}
    return make


_DECODER_ONLY = frozenset({"out_channels", "zero_init_output", "gradient_checkpointing", "decoder"})
_BRANCH_TINY = dict(in_channels=4, base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_levels=(0,),
                    num_heads=2, context_dim=8, num_groups=4, temporal="none", control_embedding_channels=(4, 8), zero_init=False)
_BAD = [
    BadInput(match="B C T H W", inputs=_bad(lambda c: (2, 4, 8, 8), lambda c: (2, 3, 2, 16, 16)), why="4-D x"),
    BadInput(match="control must have shape", inputs=_bad(lambda c: (2, 4, 2, 8, 8), lambda c: (2, 3, 2, 8, 8)),
             why="a control map at latent instead of pixel resolution"),
    BadInput(match="temporal must be one of", init={"temporal": "pseudo3d"}, why="unknown temporal mixing"),
]


@register(
    "net", "control_branch", paper="Zhang, Rao & Agrawala 2023 (ControlNet); Zhang et al. 2023 (ControlVideo)",
    tiny=_BRANCH_TINY, inputs=_branch_inputs, output_shape=lambda cfg, x, *a, **k: (x.shape[0], cfg["base_channels"],
                                                                                     *x.shape[2:]),
    bad_inputs=_BAD, tolerance={"bfloat16": 4e-2, "float16": 2e-2},
)
class ControlBranch(SpaceTimeUNet):
    """ControlNet: ``(x (B, C, T, H, W), t, control (B, C_ctrl, T, f·H, f·W), **cond) -> residuals``.

    The branch *is* the U-Net's encoder: a ``SpaceTimeUNet`` built with ``decoder=False`` (its ``embed``, ``conv_in``,
    ``stem``, ``down``, ``mid``, same names, same keywords: temporal down-sampling, concat channels, stem block,
    class and added conditioning all work under control), plus ControlNet's ``cond_embed`` (the control map to latent
    resolution, added to ``conv_in``'s output through ``encode(hint=...)``) and one 1×1 zero conv per skip
    (``zero_convs``) and for the middle block (``mid_zero_conv``). Returns one ``(B, C_skip, T, H_skip, W_skip)``
    residual per skip of the matching ``SpaceTimeUNet`` and one for its middle block, scaled by ``scale``; pass them
    as ``SpaceTimeUNet(..., control_residuals=...)``.

    Init: the zero convs and ``cond_embed.conv_out`` are zero (``zero_init=True``), so the residuals are 0 and the
    U-Net is unchanged at step 0; ``from_unet(unet)`` builds the branch of a U-Net with its encoder's weights
    (diffusers' ``ControlNetModel.from_unet``), ``copy_encoder_from(unet)`` copies them into an existing branch.

    Args: ``SpaceTimeUNet``'s keywords (its decoder-only ones are ignored), plus
        control_channels: channels of the control map (3: RGB depth / pose / edges).
        control_embedding_channels: widths of ``cond_embed`` (SD ControlNet: 16, 32, 96, 256 → f = 8).
        zero_init: zero the output convs (ControlNet); False only for tests.
        attention_backend, frame_attention, frame_attention_kwargs: as ``SpaceTimeUNet`` (named here so the config
            always records them).
    """

    def __init__(self, in_channels: int = 3, *, control_channels: int = 3,
                 control_embedding_channels: Sequence[int] = (16, 32, 96, 256), zero_init: bool = True,
                 attention_backend: str | None = None, frame_attention: str | None = None,
                 frame_attention_kwargs: dict | None = None, device=None, dtype=None, **unet) -> None:
        where = type(self).__name__
        if not control_embedding_channels:
            raise ValueError(f"{where}: control_embedding_channels must name at least one width")
        unet = {k: v for k, v in unet.items() if k not in _DECODER_ONLY}
        super().__init__(in_channels, decoder=False, attention_backend=attention_backend,
                         frame_attention=frame_attention, frame_attention_kwargs=frame_attention_kwargs,
                         device=device, dtype=dtype, **unet)
        factory = {"device": device, "dtype": dtype}
        base = self.skip_channels[0]
        self.control_channels = control_channels
        self.cond_embed = ControlEmbedding(control_channels, base, control_embedding_channels, zero_init=zero_init,
                                           **factory)
        self.zero_convs = nn.ModuleList(_conv(c, c, kernel=1, factory=factory) for c in self.skip_channels)
        self.mid_zero_conv = _conv(self.skip_channels[-1], self.skip_channels[-1], kernel=1, factory=factory)
        if zero_init:
            for conv in (*self.zero_convs, self.mid_zero_conv):
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)

    @classmethod
    def from_unet(cls, unet: SpaceTimeUNet, *, control_channels: int = 3,
                  control_embedding_channels: Sequence[int] = (16, 32, 96, 256), zero_init: bool = True
                  ) -> ControlBranch:
        """The ControlNet of ``unet`` (a registry-built ``SpaceTimeUNet``): its configuration, its encoder weights."""
        config = {k: v for k, v in registry.config_of(unet).items() if k != "type"}
        param = next(unet.parameters())
        branch = cls(control_channels=control_channels, control_embedding_channels=control_embedding_channels,
                     zero_init=zero_init, device=param.device, dtype=param.dtype, **config)
        return branch.copy_encoder_from(unet)

    def copy_encoder_from(self, unet: SpaceTimeUNet) -> ControlBranch:
        """Load the U-Net's encoder weights (``embed``, ``conv_in``, ``stem``, ``down``, ``mid``): ControlNet's init."""
        encoder = ("embed", "conv_in", "stem", "down", "mid")
        own = self.state_dict()
        shared = {k: v for k, v in unet.state_dict().items() if k.split(".", 1)[0] in encoder and k in own}
        missing = [k for k in own if k.split(".", 1)[0] in encoder and k not in shared]
        mismatched = [k for k, v in shared.items() if v.shape != own[k].shape]
        if missing or mismatched:
            raise ValueError(f"copy_encoder_from: the U-Net's encoder does not match this branch (first missing: "
                             f"{missing[:3]}, shape mismatches: {mismatched[:3]})")
        self.load_state_dict(shared, strict=False)
        return self

    def forward(self, x: Tensor, t, *, control: Tensor, scale: float = 1.0, **cond) -> list[Tensor]:
        where = type(self).__name__
        check_video(x, channels=self.in_channels, where=where)
        f = self.cond_embed.factor
        expected = (x.shape[0], self.control_channels, x.shape[2], x.shape[3] * f, x.shape[4] * f)
        if control is None or tuple(control.shape) != expected:
            got = None if control is None else tuple(control.shape)
            raise ValueError(f"{where}: control must have shape (B, control_channels, T, {f}·H, {f}·W) = {expected}, "
                             f"got {got}")
        h, skips, _, _ = self.encode(x, t, hint=self.cond_embed(control.to(x.dtype)), **cond)
        out = [conv(s) for conv, s in zip(self.zero_convs, skips, strict=True)] + [self.mid_zero_conv(h)]
        return out if scale == 1.0 else [r * scale for r in out]


_UNET_TINY = {k: v for k, v in _BRANCH_TINY.items() if k not in ("control_embedding_channels", "zero_init")}


@register(
    "net", "controlled_unet", paper="Zhang, Rao & Agrawala 2023 (ControlNet); Zhang et al. 2023 (ControlVideo)",
    tiny=dict(_UNET_TINY, control_embedding_channels=(4, 8), control_zero_init=False), inputs=_branch_inputs,
    output_shape=lambda cfg, x, *a, **k: tuple(x.shape), bad_inputs=_BAD, tolerance={"bfloat16": 4e-2, "float16": 2e-2},
)
class ControlledUNet(nn.Module):
    """``SpaceTimeUNet`` steered by a ControlNet: ``model(x, t, context=..., control=...) -> (B, C_out, T, H, W)``.

    ``control`` ``(B, control_channels, T, f·H, f·W)`` goes through ``control`` (``net/control_branch``, a copy of
    the U-Net's encoder configured from the same keywords) and its residuals are added to ``unet``'s skips and middle
    block (``SpaceTimeUNet.forward(..., control_residuals=...)``), scaled by ``control_scale``. Without ``control``
    the model is the plain U-Net. Every other keyword is ``SpaceTimeUNet``'s.

    Args:
        control_channels, control_embedding_channels: the control map and its embedding (see ``ControlBranch``).
        control_scale: ControlNet's ``conditioning_scale``.
        control_zero_init: zero the branch's output convs (ControlNet's init; False only for tests).
        attention_backend, frame_attention, frame_attention_kwargs: as ``SpaceTimeUNet``, for both the U-Net and
            the branch.
        **unet: ``SpaceTimeUNet`` keywords; the branch is built from the same ones, so every U-Net option works
            under control. Its encoder starts from its own initialisation: ``model.control.copy_encoder_from(
            model.unet)`` gives ControlNet's init (``ControlBranch.from_unet`` builds a branch for an existing U-Net).
    """

    def __init__(self, *, control_channels: int = 3, control_embedding_channels: Sequence[int] = (16, 32, 96, 256),
                 control_scale: float = 1.0, control_zero_init: bool = True, attention_backend: str | None = None,
                 frame_attention: str | None = None, frame_attention_kwargs: dict | None = None, device=None,
                 dtype=None, **unet) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        # each half applies the attention keywords itself (the swap finds no attention/spatial a second time)
        unet.update(attention_backend=attention_backend, frame_attention=frame_attention,
                    frame_attention_kwargs=frame_attention_kwargs)
        self.unet = SpaceTimeUNet(**unet, **factory)
        self.control = ControlBranch(control_channels=control_channels,
                                     control_embedding_channels=control_embedding_channels,
                                     zero_init=control_zero_init, **unet, **factory)
        self.control_scale = control_scale
        self.in_channels, self.out_channels = self.unet.in_channels, self.unet.out_channels
        self.spatial_factor, self.size_multiple = self.unet.spatial_factor, self.unet.size_multiple

    def forward(self, x: Tensor, t, *, control: Tensor | None = None, **cond) -> Tensor:
        check_cond_keywords(cond, self.unet.supported_cond, type(self).__name__)
        if control is None:
            return self.unet(x, t, **cond)
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        residuals = self.control(x, t, control=control, scale=self.control_scale, **cond)
        return self.unet(x, t, control_residuals=residuals, **cond)
