"""SpaceTimeUNet: the one video U-Net assembler, configured by component keys and sizes (never paper-specific).

A level of the encoder is ``num_res_blocks`` units of [``block/resnet`` → spatial attention → temporal attention],
then a spatial (and optionally temporal) down-sampling; the decoder mirrors it with one more unit per level and
concatenation skips (Ronneberger et al. 2015; DDPM/ADM layout). VDM (Ho et al. 2022, §3) is the configuration
``temporal="attention"``: space-only 1×3×3 convs everywhere and a temporal attention after every spatial attention;
Imagen Video's SR stages, Video LDM and SVD add temporal convs (``temporal="conv"`` / ``"both"``); Lumiere halves
time too (``temporal_down_levels``).

Shapes: ``model(x, t, **cond)`` with ``x`` ``(B, in_channels, T, H, W)`` and ``t`` ``(B,)`` (or a scalar) ->
``(B, out_channels, T, H, W)``. H and W must be divisible by ``2 ** (levels − 1)``; T by 2 per temporal
down-sampling. T = 1 (an image) works whenever time is not down-sampled.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .. import registry
from ..attention.configure import configure_attention
from ..blocks.resnet import frame_group_norm
from ..checks import check_divisible, check_video
from ..registry import register
from .conditioning import ConditioningEmbedding, check_cond_keywords, maybe_checkpoint, timesteps_for
from .unet_parts import TEMPORAL_MODES, UNetUnit, bad_unet_inputs, unet_inputs, unet_output_shape


TINY = dict(in_channels=3, base_channels=16, channel_mults=(1, 2), num_res_blocks=1, attention_levels=(1,),
            head_dim=8, num_groups=4, temporal="attention", zero_init_output=False)


@register(
    "net", "space_time_unet", paper="Ho et al. 2022 (VDM) §3 factorized space-time U-Net; generic assembler",
    tiny=TINY, inputs=unet_inputs, output_shape=unet_output_shape, bad_inputs=bad_unet_inputs(TINY),
    tolerance={"bfloat16": 4e-2, "float16": 2e-2},
)
class SpaceTimeUNet(nn.Module):
    """Video U-Net ``(B, C_in, T, H, W), t -> (B, C_out, T, H, W)`` assembled from registered components.

    Args:
        in_channels, out_channels: channels of ``x`` and of the prediction (default ``in_channels``).
        base_channels, channel_mults: level ``i`` has ``base_channels · channel_mults[i]`` channels.
        num_res_blocks: ``block/resnet`` units per encoder level (int or one per level); the decoder has one more.
        attention_levels: levels (0 = full resolution) with spatial attention (``block/spatial_transformer``);
            the middle block always has it when ``mid_attention``.
        temporal: temporal mixing, ``"none"`` (an image U-Net per frame), ``"conv"`` (a zero-initialised
            ``conv/temporal_resblock`` inside every res-block), ``"attention"`` (a ``block/temporal_transformer``
            after every spatial attention, VDM), ``"both"``.
        temporal_attention_levels: levels with temporal attention (default: ``attention_levels``).
        temporal_position: frame positions of the temporal attention (``"relative"``, VDM; ``"sinusoidal"``;
            ``"none"``).
        temporal_down_levels: levels after which time is halved too (``conv/temporal_down``/``temporal_up``,
            Lumiere); T must then be divisible by ``2 ** len(temporal_down_levels)``.
        head_dim: attention heads are ``channels // head_dim`` (channels must be divisible by it).
        num_heads: instead, a fixed number of heads at every width (SD 1.x: 8); overrides ``head_dim``.
        transformer_depth, transformer_ff_mult: layers per attention block and their feed-forward width multiplier.
        emb_dim: conditioning-embedding width (default ``4 · base_channels``); emb_mlp_layers: Linear layers on the
            timestep path (VDM: 2 or 4); time_scale: ``t`` is multiplied by it before the sinusoid (1000 for
            continuous t ∈ [0, 1]; 1 for discrete indices).
        num_classes, class_dropout_prob: class-label conditioning (``class_labels`` keyword) added to the embedding.
        added_cond_dim: a conditioning vector (``added_cond`` keyword, e.g. pooled text) through an MLP, added;
            added_cond_embed (+ ``added_cond_embed_kwargs``): a registry key replacing that MLP, built with
            ``dim=emb_dim`` (SVD: ``embed/micro_cond`` on its 3 scalars).
        concat_channels: extra channels concatenated to ``x`` (``concat`` keyword: low-res video, masks, latents).
        context_dim: cross-attention to ``context`` tokens ``(B, M, context_dim)`` in every spatial attention
            (and in the temporal ones with ``temporal_cross_attention``).
        num_groups, dropout, scale_shift: res-block GroupNorm groups, dropout and FiLM conditioning.
        zero_init_output: zero the output conv (ADM), so the net predicts 0 at init.
        gradient_checkpointing: recompute each unit in the backward pass (``set_gradient_checkpointing`` toggles).
        res_block, spatial_block, temporal_block: registry keys filling the unit's three slots (defaults
            ``block/resnet``, ``block/spatial_transformer``, ``block/temporal_transformer``), with extra constructor
            keywords in ``*_block_kwargs``: a paper's variant of a slot is a registered block, not a new U-Net.
        res_block_kwargs_by_unit: more res-block keywords for the units whose path matches an fnmatch pattern
            (``"down.<level>.<i>"``, ``"mid.<i>"``, ``"up.<k>.<i>"``, up stages counted from the coarsest), applied in
            order after ``res_block_kwargs`` (SVD: GroupNorm eps 1e-6 in its cross-attention down and all up blocks).
        stem_block, stem_block_kwargs: a registry key (built with ``dim=base_channels`` and the kwargs) applied to
            the first conv's output, ``h = stem(conv_in(x))`` (ModelScope-T2V's ``transformer_in``); None: no stem.
        decoder: False builds the encoder alone (``embed``, ``conv_in``, ``stem``, ``down``, ``mid``; no ``up``,
            ``norm_out``, ``conv_out``): what a ControlNet copies (``net/control_branch``).
        attention_backend: pin this ``attention_backend/<name>`` on every attention module (None: each as its block
            builds it, ``"auto"``); recorded, so the config rebuilds the model on the same backend
            (``components.attention.set_attention_backend`` changes it on a built model).
        frame_attention, frame_attention_kwargs: swap every ``attention/spatial`` for this frame-wise variant after
            building, weights kept (``"cross_frame"``: Text2Video-Zero; ``"fully_cross_frame"``: ControlVideo): what
            ``swap_spatial_attention`` on a built model records. ``spatial_block_kwargs={"attention": ...}`` builds
            the variant directly and is what recipes declare.

    The network is ``decode(*encode(x, t, **cond))``: ``encode`` runs the embedding, the first conv (plus an optional
    ``hint`` added to its output, ControlNet's embedded control map), the stem, the down path and the middle block;
    ``decode`` the up path on the skips.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int | None = None,
        *,
        base_channels: int = 64,
        channel_mults: Sequence[int] = (1, 2, 4, 8),
        num_res_blocks: int | Sequence[int] = 2,
        attention_levels: Sequence[int] = (1, 2, 3),
        temporal: str = "attention",
        temporal_attention_levels: Sequence[int] | None = None,
        temporal_position: str = "relative",
        temporal_cross_attention: bool = False,
        temporal_down_levels: Sequence[int] = (),
        head_dim: int = 64,
        num_heads: int | None = None,
        transformer_depth: int = 1,
        transformer_ff_mult: float = 4.0,
        mid_attention: bool = True,
        emb_dim: int | None = None,
        emb_mlp_layers: int = 2,
        time_scale: float = 1000.0,
        num_classes: int | None = None,
        class_dropout_prob: float = 0.0,
        added_cond_dim: int | None = None,
        added_cond_embed: str | None = None,
        added_cond_embed_kwargs: dict | None = None,
        concat_channels: int = 0,
        context_dim: int | None = None,
        num_groups: int = 32,
        dropout: float = 0.0,
        scale_shift: bool = True,
        zero_init_output: bool = True,
        gradient_checkpointing: bool = False,
        res_block: str = "block/resnet",
        res_block_kwargs: dict | None = None,
        res_block_kwargs_by_unit: dict | None = None,
        spatial_block: str = "block/spatial_transformer",
        spatial_block_kwargs: dict | None = None,
        temporal_block: str = "block/temporal_transformer",
        temporal_block_kwargs: dict | None = None,
        stem_block: str | None = None,
        stem_block_kwargs: dict | None = None,
        decoder: bool = True,
        attention_backend: str | None = None,
        frame_attention: str | None = None,
        frame_attention_kwargs: dict | None = None,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        levels = len(channel_mults)
        if levels < 1:
            raise ValueError(f"{where}: channel_mults must name at least one level, got {channel_mults}")
        if temporal not in TEMPORAL_MODES:
            raise ValueError(f"{where}: temporal must be one of {TEMPORAL_MODES}, got {temporal!r}")
        blocks = [num_res_blocks] * levels if isinstance(num_res_blocks, int) else list(num_res_blocks)
        if len(blocks) != levels or min(blocks) < 1:
            raise ValueError(f"{where}: num_res_blocks must be a positive int or one per level ({levels}), "
                             f"got {num_res_blocks}")
        temporal_attention_levels = attention_levels if temporal_attention_levels is None else temporal_attention_levels
        for name, lv in (("attention_levels", attention_levels), ("temporal_attention_levels", temporal_attention_levels),
                         ("temporal_down_levels", temporal_down_levels)):
            bad = [i for i in lv if not 0 <= i < levels]
            if bad:
                raise ValueError(f"{where}: {name} must be level indices in [0, {levels}), got {list(lv)}")
        if any(i == levels - 1 for i in temporal_down_levels):
            raise ValueError(f"{where}: temporal_down_levels cannot include the last level {levels - 1} "
                             "(there is no down-sampling after it)")
        if concat_channels < 0:
            raise ValueError(f"{where}: concat_channels must be >= 0, got {concat_channels}")
        factory = {"device": device, "dtype": dtype}
        out_channels = in_channels if out_channels is None else out_channels
        emb_dim = 4 * base_channels if emb_dim is None else emb_dim
        self.in_channels, self.out_channels, self.concat_channels = in_channels, out_channels, concat_channels
        self.context_dim, self.levels = context_dim, levels
        self.spatial_factor = 2 ** (levels - 1)
        self.temporal_factor = 2 ** len(temporal_down_levels)
        # (T, H, W) of an input must be multiples of these (what ``_check`` enforces; the pipeline checks it first)
        self.size_multiple = (self.temporal_factor, self.spatial_factor, self.spatial_factor)
        self.gradient_checkpointing = gradient_checkpointing
        self.supported_cond = tuple(name for name, on in (
            ("context", context_dim is not None), ("concat", concat_channels > 0),
            ("added_cond", added_cond_dim is not None), ("class_labels", num_classes is not None)) if on)

        self.embed = ConditioningEmbedding(
            emb_dim, freq_dim=base_channels + base_channels % 2, flavour="unet", mlp_layers=emb_mlp_layers,
            time_scale=time_scale, num_classes=num_classes, class_dropout_prob=class_dropout_prob,
            added_cond_dim=added_cond_dim, added_cond_embed=added_cond_embed,
            added_cond_embed_kwargs=added_cond_embed_kwargs, **factory)

        slots = dict(res_block=res_block, res_block_kwargs=res_block_kwargs, spatial_block=spatial_block,
                     spatial_block_kwargs=spatial_block_kwargs, temporal_block=temporal_block,
                     temporal_block_kwargs=temporal_block_kwargs)

        by_unit = dict(res_block_kwargs_by_unit or {})

        def unit(c_in: int, c_out: int, level: int, path: str, *, attend: bool = True, mid: bool = False
                 ) -> UNetUnit:
            # the middle block's attention follows mid_attention, not the level lists (SD: no attention at level 3)
            spatial = attend and (mid or level in attention_levels)
            temporal_attn = attend and temporal in ("attention", "both") and (mid or level in temporal_attention_levels)
            heads_by, heads_name = (num_heads, "num_heads") if num_heads is not None else (head_dim, "head_dim")
            if (spatial or temporal_attn) and c_out % heads_by:
                raise ValueError(f"{where}: channels {c_out} at level {level} must be divisible by "
                                 f"{heads_name}={heads_by}")
            return UNetUnit(
                c_in, c_out, emb_dim=emb_dim, num_groups=num_groups, dropout=dropout, scale_shift=scale_shift,
                temporal_conv=temporal in ("conv", "both"), spatial_attention=spatial,
                temporal_attention=temporal_attn, head_dim=head_dim, depth=transformer_depth, ff_mult=transformer_ff_mult,
                context_dim=context_dim, temporal_context=temporal_cross_attention,
                temporal_position=temporal_position, num_heads=num_heads,
                **{**slots, "res_block_kwargs": _kwargs_for(path, res_block_kwargs, by_unit)}, **factory)

        widths = [base_channels * m for m in channel_mults]
        self.conv_in = registry.build("conv/space_only_3d", in_channels=in_channels + concat_channels,
                                      out_channels=base_channels, **factory)
        self.stem = (registry.build(stem_block, dim=base_channels, **(stem_block_kwargs or {}), **factory)
                     if stem_block else None)
        self.down, skips, ch = nn.ModuleList(), [base_channels], base_channels
        for level, width in enumerate(widths):
            stage = nn.ModuleList()
            for i in range(blocks[level]):
                stage.append(unit(ch, width, level, f"down.{level}.{i}"))
                ch = width
                skips.append(ch)
            if level < levels - 1:
                stage.append(_resample("down", ch, level in temporal_down_levels, factory))
                skips.append(ch)
            self.down.append(stage)
        self.mid = nn.ModuleList([unit(ch, ch, levels - 1, "mid.0", attend=mid_attention, mid=True),
                                  unit(ch, ch, levels - 1, "mid.1", attend=False)])
        self.skip_channels = tuple(skips)  # one per skip, conv_in's first: the widths a ControlNet's zero convs take
        self.decoder = decoder
        attention = dict(attention_backend=attention_backend, frame_attention=frame_attention,
                         frame_attention_kwargs=frame_attention_kwargs)
        if not decoder:
            configure_attention(self, **attention)
            return
        self.up = nn.ModuleList()
        for level in reversed(range(levels)):
            stage = nn.ModuleList()
            for i in range(blocks[level] + 1):
                stage.append(unit(ch + skips.pop(), widths[level], level, f"up.{len(self.up)}.{i}"))
                ch = widths[level]
            if level > 0:
                stage.append(_resample("up", ch, (level - 1) in temporal_down_levels, factory))
            self.up.append(stage)
        self.norm_out = nn.GroupNorm(num_groups, ch, **factory)
        self.conv_out = registry.build("conv/space_only_3d", in_channels=ch, out_channels=out_channels, **factory)
        if zero_init_output:
            nn.init.zeros_(self.conv_out.weight)
            nn.init.zeros_(self.conv_out.bias)
        configure_attention(self, **attention)

    def set_gradient_checkpointing(self, enabled: bool = True) -> SpaceTimeUNet:
        self.gradient_checkpointing = enabled
        return self

    def _check(self, x: Tensor, concat: Tensor | None) -> None:
        where = type(self).__name__
        check_video(x, channels=self.in_channels, where=where)
        check_divisible("height", x.shape[3], self.spatial_factor, "2 ** (levels − 1)", where=where)
        check_divisible("width", x.shape[4], self.spatial_factor, "2 ** (levels − 1)", where=where)
        if self.temporal_factor > 1:
            check_divisible("frames", x.shape[2], self.temporal_factor, "2 ** len(temporal_down_levels)",
                            where=where)
        if self.concat_channels:
            if concat is None:
                raise ValueError(f"{where}: concat of shape (B, {self.concat_channels}, T, H, W) is required "
                                 "(the model was built with concat_channels)")
            if concat.shape != (x.shape[0], self.concat_channels, *x.shape[2:]):
                raise ValueError(f"{where}: concat must have shape (B, concat_channels, T, H, W) = "
                                 f"{(x.shape[0], self.concat_channels, *x.shape[2:])}, got {tuple(concat.shape)}")

    def forward(self, x: Tensor, t, *, control_residuals: Sequence[Tensor] | None = None, **cond) -> Tensor:
        """``control_residuals``: a ControlNet's outputs (``net/control_branch``), one per skip then one for the
        middle block, added to the skips and to the middle block's output (Zhang et al. 2023, ControlNet)."""
        if not self.decoder:
            raise ValueError(f"{type(self).__name__}: built with decoder=False (an encoder); call encode()")

        def body() -> Tensor:
            return self.decode(*self.encode(x, t, **cond), control_residuals=control_residuals)

        if self.step_cache is not None:  # the hook point of attention-level step caches (components/caches)
            return self.step_cache.run_net(self, body, timestep=torch.as_tensor(t) * self.embed.time_scale)
        return body()

    # step caches (components/caches): a U-Net offers its attention modules, not a stack of same-width blocks
    cache_structure = ("attention",)
    step_cache = None

    def encode(self, x: Tensor, t, *, hint: Tensor | None = None, **cond
               ) -> tuple[Tensor, list[Tensor], Tensor, Tensor | None]:
        """``(h, skips, emb, context)``: the middle block's output ``h``, the skip activations (conv_in's first), the
        conditioning embedding and the context tokens. ``hint`` ``(B, base_channels, T, H, W)`` is added to
        ``conv_in``'s output (ControlNet's embedded control map)."""
        where = type(self).__name__
        check_cond_keywords(cond, self.supported_cond, where)
        self._check(x, cond.get("concat"))
        emb = self.embed(timesteps_for(t, x, where), cond.get("class_labels"), cond.get("added_cond"))
        context = cond.get("context")
        if self.context_dim is not None and context is None:
            raise ValueError(f"{where}: context tokens (B, M, context_dim={self.context_dim}) are required")
        h = self.conv_in(torch.cat([x, cond["concat"].to(x.dtype)], dim=1) if self.concat_channels else x)
        if hint is not None:
            h = h + hint
        if self.stem is not None:
            h = self.stem(h)
        skips = [h]
        for stage in self.down:
            for layer in stage:
                h = self._run(layer, h, emb, context)
                skips.append(h)
        for layer in self.mid:
            h = self._run(layer, h, emb, context)
        return h, skips, emb, context

    def decode(self, h: Tensor, skips: list[Tensor], emb: Tensor, context: Tensor | None, *,
               control_residuals: Sequence[Tensor] | None = None) -> Tensor:
        """The up path from ``encode``'s outputs; ``control_residuals`` added to the skips and to ``h``."""
        if control_residuals is not None:
            if len(control_residuals) != len(skips) + 1:
                raise ValueError(f"{type(self).__name__}: control_residuals must hold {len(skips) + 1} tensors (one "
                                 f"per skip, then the middle block), got {len(control_residuals)}")
            skips = [s + r for s, r in zip(skips, control_residuals)]
            h = h + control_residuals[-1]
        skips = list(skips)
        for stage in self.up:
            for layer in stage:
                if isinstance(layer, UNetUnit):
                    h = torch.cat([h, skips.pop()], dim=1)
                h = self._run(layer, h, emb, context)
        h = nn.functional.silu(frame_group_norm(self.norm_out, h))
        return self.conv_out(h)

    def _run(self, layer: nn.Module, h: Tensor, emb: Tensor, context: Tensor | None) -> Tensor:
        if isinstance(layer, UNetUnit):
            return maybe_checkpoint(self.gradient_checkpointing and self.training, layer, h, emb, context)
        return layer(h)


def _kwargs_for(path: str, base: dict | None, by_unit: dict) -> dict:
    """``base`` res-block keywords with those of every ``by_unit`` pattern matching the unit's ``path`` on top."""
    kwargs = dict(base or {})
    for pattern, extra in by_unit.items():
        if fnmatch.fnmatchcase(path, pattern):
            kwargs.update(extra)
    return kwargs


def _resample(direction: str, channels: int, temporal: bool, factory: dict) -> nn.Module:
    """Spatial ×2 (``conv/spatial_<direction>``), followed by temporal ×2 (``conv/temporal_<direction>``) if asked."""
    spatial = registry.build(f"conv/spatial_{direction}", in_channels=channels, **factory)
    if not temporal:
        return spatial
    return nn.Sequential(spatial, registry.build(f"conv/temporal_{direction}", in_channels=channels, **factory))
