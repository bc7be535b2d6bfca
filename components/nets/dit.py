"""SpaceTimeDiT: the one diffusion-transformer assembler (DiT on spacetime patches), configured by keys and sizes.

Peebles & Xie 2023 (DiT, §3) on a video, as the Sora report describes it (a latent video cut into spacetime
patches that a diffusion transformer denoises; docs/papers.md §5):

    tokens = PatchEmbed3d(x) + pos          embed/patch3d; fixed sin-cos positions (embed/sincos_3d, or 2-D per
                                            frame, or 2-D + 1-D), stored as a frozen parameter like DiT's
    c      = TimestepEmbedding(t) + Embedding(y) [+ MLP(added_cond)]     (DiT: c = t_emb + y_emb)
    tokens = DiTBlock_k(tokens, c)          block/dit_adaln_zero × depth; the attention of block k follows
                                            ``block_pattern`` (full spacetime / spatial / temporal / alternating)
    out    = unpatchify(Linear(LN(tokens)·(1 + scale) + shift))    final adaLN layer; (shift, scale) = Linear(SiLU(c))

Text-to-video (PixArt-α / Latte-1, docs/papers.md §5.3): ``context_dim`` projects ``context`` tokens with PixArt-α's
caption MLP to D and adds a cross-attention sub-layer to the blocks named by ``cross_attention_in`` (Latte-1: the
spatial ones), which hide text padding given as ``context_mask`` ``(B, M)`` (True = a real token);
``modulation="adaln_single"`` replaces every block's ``Linear(SiLU(c))`` by one shared
``Linear(SiLU(c))`` (``c -> 6·D``) plus a learned per-block table (PixArt-α's adaLN-single).

Wan 2.1 / 2.2 (``net/wan_transformer`` is this class with Wan's options): ``pos_embed="rope_3d"`` adds no table but
rotates every block's queries and keys (``embed/rope_3d``; the ``(cos, sin)`` tables of the token grid are computed
once per forward and handed to each block); ``image_context_dim`` projects CLIP ``image_context`` tokens
(``ImageContextProjection``) into a second key/value set of every cross-attention (Wan 2.1 I2V); ``t`` may be per
token ``(B, N)`` (Wan 2.2 TI2V), giving per-token modulation; ``block_kwargs`` are further ``block/dit_adaln_zero``
options of every block (Wan: ``ffn_dim``, qk-norm across heads, affine cross-attention norm).

Shapes: ``model(x, t, **cond)``, ``x`` ``(B, in_channels, T, H, W)``, ``t`` ``(B,)`` (DiT: integer steps 0…999,
``time_scale=1``) -> ``(B, out_channels, T, H, W)`` with ``out_channels = 2·in_channels`` when ``learn_sigma``
(ε and the interpolation of log Σ, improved DDPM). T, H, W must be divisible by the patch size.

Init as DiT's ``initialize_weights``: blocks and patch embed by their components, timestep MLP N(0, 0.02), label
table N(0, 0.02), the final layer's modulation and output Linear zeroed (so the net predicts 0 at init).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .. import registry
from ..attention.configure import configure_attention
from ..attention.context_parallel import sequence_shard
from ..embed.rope import RoPE3d
from ..registry import BadInput, register
from .conditioning import ConditioningEmbedding, check_cond_keywords, maybe_checkpoint, timesteps_for
from .dit_parts import (
    BLOCK_PATTERNS,
    POSITIONS,
    ContextProjection,
    FinalAdaLN,
    ImageContextProjection,
    dit_inputs,
    dit_output_shape,
    position_table,
    shard_video,
)


TINY = dict(in_channels=4, input_size=(2, 8, 8), patch_size=(1, 2, 2), hidden_dim=32, depth=2, num_heads=2,
            block_pattern="alternating", num_classes=10, class_dropout_prob=0.1, frequency_dim=32)


def _bad(x_shape, t=None, **cond):
    return lambda cfg: ((torch.zeros(*x_shape), torch.zeros(x_shape[0], dtype=torch.long) if t is None else t),
                        cond)


@register(
    "net", "space_time_dit", paper="Peebles & Xie 2023 (DiT); Brooks et al. 2024 (Sora) spacetime patches",
    tiny=TINY, inputs=dit_inputs, output_shape=dit_output_shape, tolerance={"bfloat16": 4e-2, "float16": 2e-2},
    bad_inputs=[
        BadInput(match="B C T H W", inputs=_bad((2, 4, 8, 8))),
        BadInput(match="channels", inputs=_bad((2, 5, 2, 8, 8))),
        BadInput(match="height=7 must be divisible by patch_size", inputs=_bad((2, 4, 2, 7, 8))),
        BadInput(match="unknown conditioning keyword 'y'", error=TypeError,
                 inputs=_bad((2, 4, 2, 8, 8), y=torch.zeros(2, dtype=torch.long))),
        BadInput(match="not built to take 'context'", inputs=_bad((2, 4, 2, 8, 8), context=torch.zeros(2, 3, 8))),
        BadInput(match="block_pattern", init={"block_pattern": "diagonal"}),
        BadInput(match="pos_embed", init={"pos_embed": "learned"}),
        BadInput(match="divisible by num_heads", init={"num_heads": 3}),
        BadInput(match="cross_attention_in", init={"context_dim": 8, "cross_attention_in": ("spacetime",)}),
    ],
)
class SpaceTimeDiT(nn.Module):
    """Diffusion transformer on spacetime patches: ``(B, C, T, H, W), t -> (B, C_out, T, H, W)``.

    Args:
        in_channels: latent channels C.
        out_channels: prediction channels (default ``2·C`` with ``learn_sigma``, else ``C``).
        learn_sigma: predict the variance interpolation too (DiT, improved DDPM).
        input_size: the ``(T, H, W)`` the frozen position table is stored for (DiT-XL/2: ``(1, 32, 32)``); other
            sizes get the same fixed function computed on the fly.
        patch_size: ``(p_t, p_h, p_w)`` (int: ``(1, p, p)``).
        hidden_dim, depth, num_heads: width D, number of blocks, heads (``D % num_heads == 0``).
        mlp_ratio: block MLP width over D.
        block_pattern: the attention of each block: ``"full"`` (all T·H·W tokens, Sora-style), ``"spatial"``
            (per frame: an image DiT), ``"temporal"``, ``"alternating"`` (spatial, temporal, …; Latte), or a list of
            ``attention/<name>`` names, one per block.
        pos_embed: ``"sincos_3d"``, ``"sincos_2d"`` (per frame, the image DiT's table), ``"sincos_2d_1d"``
            (2-D per frame + 1-D over frames, both full width) or ``"rope_3d"`` (rotary, every block
            ``"spacetime"``); ``rope_axes_dim`` its ``(d_t, d_h, d_w)`` split of the head (None: ``embed/rope_3d``'s).
        num_classes, class_dropout_prob: class-label conditioning with a null row for CFG (DiT: 1000, 0.1).
        added_cond_dim: a conditioning vector through an MLP, added to c.
        frequency_dim: timestep sinusoid width (DiT 256); time_scale: multiplies t first (1: integer steps).
        qk_norm: qk-norm kind of every block's self-attention (``block/dit_adaln_zero``: True, "rms",
            "rms_across_heads").
        context_dim: width of ``context`` tokens ``(B, M, context_dim)`` (T5: 4096); they go through
            ``ContextProjection`` (PixArt-α's caption MLP, to D) into a cross-attention sub-layer. None: no text.
            Its padding mask ``context_mask`` ``(B, M)`` (True = a real token; default all real) is then taken too.
        image_context_dim: width of ``image_context`` tokens ``(B, M', image_context_dim)`` (CLIP: 1280), projected
            to D (``ImageContextProjection``) and attended by the cross-attentions' second k/v set (Wan I2V).
        image_pos_embed_len: a learned position table over the image tokens (Wan FLF2V: 514 = 2 frames × 257).
        cross_attention_in: attention names whose blocks cross-attend (Latte-1: ``("spatial",)``); None: every block.
        modulation: ``"adaln_zero"`` (DiT) or ``"adaln_single"`` (PixArt-α, Latte-1; see ``block/dit_adaln_zero``).
        pos_embed_param: store the fixed position table as a frozen ``nn.Parameter`` (official DiT, counted by
            ``parameters()``) or, False, as a non-persistent buffer (diffusers' PixArt / Latte, not counted).
        block_kwargs: further ``block/dit_adaln_zero`` keywords of every block (e.g. ``{"ffn_dim": 8960}``).
        upcast: LayerNorms, modulation and gated residual adds in fp32 in the blocks and the final layer (Wan).
        gradient_checkpointing: recompute each block in the backward pass.
        attention_backend: pin this ``attention_backend/<name>`` on every attention module (None: ``"auto"`` as
            built); recorded, so the config rebuilds the model on the same backend.
        frame_attention, frame_attention_kwargs: swap the spatial blocks' ``attention/spatial`` for this frame-wise
            variant after building, weights kept (what ``swap_spatial_attention`` on a built model records).
        spacetime_attention, spacetime_attention_kwargs: swap every full ``attention/spacetime`` for this sparse video
            attention after building (what ``swap_spacetime_attention`` and ``--attention`` record).
    """

    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int | None = None,
        *,
        learn_sigma: bool = True,
        input_size: Sequence[int] = (1, 32, 32),
        patch_size: int | Sequence[int] = (1, 2, 2),
        hidden_dim: int = 1152,
        depth: int = 28,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        block_pattern: str | Sequence[str] = "full",
        pos_embed: str = "sincos_3d",
        num_classes: int | None = None,
        class_dropout_prob: float = 0.1,
        added_cond_dim: int | None = None,
        frequency_dim: int = 256,
        time_scale: float = 1.0,
        qk_norm: bool | str = False,
        context_dim: int | None = None,
        cross_attention_in: Sequence[str] | None = None,
        modulation: str = "adaln_zero",
        pos_embed_param: bool = True,
        rope_axes_dim: Sequence[int] | None = None,
        image_context_dim: int | None = None,
        image_pos_embed_len: int | None = None,
        block_kwargs: dict | None = None,
        upcast: bool = False,
        gradient_checkpointing: bool = False,
        attention_backend: str | None = None,
        frame_attention: str | None = None,
        frame_attention_kwargs: dict | None = None,
        spacetime_attention: str | None = None,
        spacetime_attention_kwargs: dict | None = None,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        factory = {"device": device, "dtype": dtype}
        if isinstance(block_pattern, str):
            if block_pattern not in BLOCK_PATTERNS:
                raise ValueError(f"{where}: block_pattern must be one of {tuple(BLOCK_PATTERNS)} or a list of "
                                 f"attention names, got {block_pattern!r}")
            attentions = [BLOCK_PATTERNS[block_pattern][i % len(BLOCK_PATTERNS[block_pattern])] for i in range(depth)]
        else:
            attentions = list(block_pattern)
            if len(attentions) != depth:
                raise ValueError(f"{where}: block_pattern lists {len(attentions)} attentions for depth={depth}")
        if pos_embed not in POSITIONS:
            raise ValueError(f"{where}: pos_embed must be one of {POSITIONS}, got {pos_embed!r}")
        if len(input_size) != 3:
            raise ValueError(f"{where}: input_size must be (T, H, W), got {input_size!r}")
        if pos_embed == "rope_3d" and set(attentions) != {"spacetime"}:
            raise ValueError(f"{where}: pos_embed='rope_3d' rotates the (t h w) token sequence, so every block needs "
                             f"'spacetime' attention (block_pattern='full'), got {sorted(set(attentions))}")
        if hidden_dim % num_heads:
            raise ValueError(f"{where}: hidden_dim={hidden_dim} must be divisible by num_heads={num_heads}")
        if image_context_dim is not None and context_dim is None:
            raise ValueError(f"{where}: image_context_dim needs context_dim (image keys/values join the text "
                             f"cross-attention), got image_context_dim={image_context_dim}, context_dim=None")
        self.in_channels = in_channels
        self.out_channels = out_channels or (2 * in_channels if learn_sigma else in_channels)
        self.hidden_dim, self.pos_embed_kind = hidden_dim, pos_embed
        self.gradient_checkpointing = gradient_checkpointing
        self.supported_cond = tuple(name for name, on in (
            ("class_labels", num_classes is not None), ("added_cond", added_cond_dim is not None),
            ("context", context_dim is not None), ("context_mask", context_dim is not None),
            ("image_context", image_context_dim is not None)) if on)
        if cross_attention_in is not None and not set(cross_attention_in) & set(attentions):
            raise ValueError(f"{where}: cross_attention_in={tuple(cross_attention_in)} names no attention of the "
                             f"blocks {sorted(set(attentions))}")

        self.patch = registry.build("embed/patch3d", in_channels=in_channels, dim=hidden_dim,
                                    patch_size=patch_size, **factory)
        self.patch_size = self.patch.patch_size
        self.size_multiple = tuple(self.patch_size)  # (T, H, W) of an input: multiples of the patch
        grid = self.patch.grid_size((1, in_channels, *input_size))
        self.input_grid = tuple(grid)
        self.rope = None
        if pos_embed == "rope_3d":  # fp32 tables of each axis, precomputed (max_positions 1024, Wan's rope_max_seq_len)
            self.rope = RoPE3d(hidden_dim // num_heads, rope_axes_dim)
        else:
            table = position_table(pos_embed, hidden_dim, grid, device=device)
            table = table.to(dtype or torch.get_default_dtype())[None]
            if pos_embed_param:
                self.pos_embed = nn.Parameter(table, requires_grad=False)
            else:
                self.register_buffer("pos_embed", table, persistent=False)
        self.embed = ConditioningEmbedding(
            hidden_dim, freq_dim=frequency_dim, flavour="dit", time_scale=time_scale, num_classes=num_classes,
            class_dropout_prob=class_dropout_prob, added_cond_dim=added_cond_dim, **factory)
        self.context_proj = (ContextProjection(context_dim, hidden_dim, **factory) if context_dim is not None
                             else None)
        self.image_proj = (None if image_context_dim is None else
                           ImageContextProjection(image_context_dim, hidden_dim, pos_len=image_pos_embed_len, **factory))
        added = {} if image_context_dim is None else {"added_context_dim": hidden_dim}
        # adaLN-single: one projection of c shared by every block (PixArt-α's t_block, init N(0, 0.02))
        self.shared_modulation = None
        if modulation == "adaln_single":
            self.shared_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_dim, 6 * hidden_dim, **factory))
            nn.init.normal_(self.shared_modulation[-1].weight, std=0.02)
            nn.init.zeros_(self.shared_modulation[-1].bias)

        def cross(name: str) -> int | None:
            wanted = context_dim is not None and (cross_attention_in is None or name in cross_attention_in)
            return hidden_dim if wanted else None

        self.blocks = nn.ModuleList(
            registry.build("block/dit_adaln_zero", dim=hidden_dim, num_heads=num_heads,
                           cond_dim=hidden_dim if modulation == "adaln_zero" else None, attention=name,
                           mlp_ratio=mlp_ratio, qk_norm=qk_norm, context_dim=cross(name), modulation=modulation,
                           upcast=upcast, **(added if cross(name) else {}), **(block_kwargs or {}), **factory)
            for name in attentions
        )
        self.final = FinalAdaLN(hidden_dim, self.out_channels * self.patch_size[0] * self.patch_size[1]
                                * self.patch_size[2], modulation=modulation, upcast=upcast, **factory)
        configure_attention(self, attention_backend=attention_backend, frame_attention=frame_attention,
                            frame_attention_kwargs=frame_attention_kwargs, spacetime_attention=spacetime_attention,
                            spacetime_attention_kwargs=spacetime_attention_kwargs)

    # step caches (components/caches): what this net's hook points offer; the cache attached for one call
    cache_structure = ("blocks", "attention")
    step_cache = None
    # the context-parallel mesh its token sequence is sharded over (``set_context_parallel``; None: one device)
    context_parallel = None

    def set_gradient_checkpointing(self, enabled: bool = True) -> SpaceTimeDiT:
        self.gradient_checkpointing = enabled
        return self

    def positions(self, grid: tuple[int, int, int], like: Tensor) -> Tensor:
        """``(1, N, D)`` fixed positions of a token grid (the stored table when it is the grid it was built for)."""
        if tuple(grid) == self.input_grid:
            return self.pos_embed.to(like.dtype)
        return position_table(self.pos_embed_kind, self.hidden_dim, grid, device=like.device)[None].to(like.dtype)

    def forward(self, x: Tensor, t, **cond) -> Tensor:
        where = type(self).__name__
        check_cond_keywords(cond, self.supported_cond, where)
        # the patch embed's tokens are a transposed view of its conv output: every residual add of the blocks on that
        # layout ran ~20× slower than on contiguous tokens (CPU profile of the Wan transformer; diffusers does the same)
        tokens = self.patch(x).contiguous()
        grid = self.patch.grid_size(x.shape)
        rope = None
        if self.rope is not None:
            rope = self.rope.tables(grid, x.device)  # (cos, sin), each (N, head_dim) fp32, shared by every block
        else:
            tokens = tokens + self.positions(grid, tokens)
        t = timesteps_for(t, x, where, tokens=tokens.shape[1])  # (B,) or per token (B, N)
        c = self.embed(t, cond.get("class_labels"), cond.get("added_cond"))  # (B, D) or (B, N, D)
        c_blocks = c if self.shared_modulation is None else self.shared_modulation(c)
        context = self._context(cond.get("context"), x)
        mask = self._context_mask(cond.get("context_mask"), context)
        image = self._image_context(cond.get("image_context"), x)

        def run_block(k: int, tokens: Tensor) -> Tensor:
            block = self.blocks[k]
            ctx, img, m = (context, image, mask) if block.cross_attn is not None else (None, None, None)
            return maybe_checkpoint(self.gradient_checkpointing and self.training, _run_block, block, tokens,
                                    c_blocks, grid, ctx, rope, img, m)

        with sequence_shard(self.context_parallel, tokens.shape[1]) as shard:
            if shard is not None:  # this rank's tokens, with their per-token conditioning and rotary tables
                if self.step_cache is not None:
                    raise ValueError(f"{where}: a step cache decides from this rank's tokens only, so ranks would "
                                     f"diverge; got step_cache={type(self.step_cache).__name__} with context_parallel")
                tokens, rope, t, c, c_blocks = _shard_tokens(shard, tokens, rope, t, c, c_blocks)
            tokens = self.block_loop(tokens, run_block, c=c_blocks, embedding=c, timestep=t * self.embed.time_scale)
            out = self.final(tokens, c)
            out = out if shard is None else shard.gather(out)  # (B, N, C_out·p_t·p_h·p_w): narrower than D
        return self.patch.unpatchify(out, grid, self.out_channels)

    def block_loop(self, tokens: Tensor, run_block, **facts) -> Tensor:
        """``tokens = run_block(k, tokens)`` for every block k; the hook point of step caches (components/caches):
        a cache attached for this call (``step_cache``) takes the loop over. ``facts``: the blocks' conditioning
        ``c``, the timestep ``embedding`` and the ``timestep`` (t · time_scale, diffusers' units)."""
        if self.step_cache is not None:
            return self.step_cache.run_blocks(self, tokens, run_block, **facts)
        for k in range(len(self.blocks)):
            tokens = run_block(k, tokens)
        return tokens

    def _image_context(self, image: Tensor | None, x: Tensor) -> Tensor | None:
        """``(B, M', image_context_dim)`` CLIP tokens -> ``(B, M', D)`` through the image projection."""
        if self.image_proj is None:
            return None
        where, width = type(self).__name__, self.image_proj.image_dim
        tokens = self.image_proj.pos_len
        if (image is None or image.ndim != 3 or image.shape[0] != x.shape[0] or image.shape[-1] != width
                or tokens not in (None, image.shape[1])):
            got = None if image is None else tuple(image.shape)
            raise ValueError(f"{where}: image_context must be image tokens of shape (B, M, image_context_dim) = "
                             f"({x.shape[0]}, {tokens or 'M'}, {width}) (the model was built with "
                             f"image_context_dim), got {got}")
        return self.image_proj(image.to(x.dtype))

    def _context(self, context: Tensor | None, x: Tensor) -> Tensor | None:
        """``(B, M, context_dim)`` text tokens -> ``(B, M, D)`` through the caption projection."""
        if self.context_proj is None:
            return None
        where = type(self).__name__
        width = self.context_proj.linear_1.in_features
        if context is None or context.ndim != 3 or context.shape[0] != x.shape[0] or context.shape[-1] != width:
            got = None if context is None else tuple(context.shape)
            raise ValueError(f"{where}: context must be tokens of shape (B, M, context_dim) = ({x.shape[0]}, M, "
                             f"{width}) (the model was built with context_dim), got {got}")
        return self.context_proj(context.to(x.dtype))

    def _context_mask(self, mask: Tensor | None, context: Tensor | None) -> Tensor | None:
        """``context_mask`` ``(B, M)`` (True / 1 = a real text token; None: all real) -> bool, checked against the
        text tokens; the cross-attentions hide the padding from every query."""
        if mask is None or context is None:
            return None
        if tuple(mask.shape) != tuple(context.shape[:2]):
            raise ValueError(f"{type(self).__name__}: context_mask must be (B, M) = {tuple(context.shape[:2])} (one "
                             f"flag per text token of context), got {tuple(mask.shape)}")
        return mask.bool()


def _shard_tokens(shard, tokens: Tensor, rope, t: Tensor, c: Tensor, c_blocks: Tensor):
    """This rank's slice of everything indexed by token: tokens ``(B, N, D)``, rope tables ``(N, head_dim)``, and
    ``t`` ``(B, N)`` / ``c`` ``(B, N, D')`` when per token."""
    tokens, rope = shard_video(shard, tokens, rope)
    t = shard.split(t) if t.ndim == 2 else t
    c, c_blocks = (shard.split(x) if x.ndim == 3 else x for x in (c, c_blocks))
    return tokens, rope, t, c, c_blocks


def _run_block(block: nn.Module, tokens: Tensor, c: Tensor, grid, context: Tensor | None = None, rope=None,
               image: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
    return block(tokens, c, grid=grid, context=context, rope=rope, added_context=image, context_mask=mask)
