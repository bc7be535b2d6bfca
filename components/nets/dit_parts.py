"""Pieces of ``SpaceTimeDiT``: block patterns, fixed position tables, DiT's final adaLN layer, PixArt-α's context
projection, Wan's image-token projection, registry metadata."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..blocks.dit_adaln_zero import layer_norm
from ..embed import SinCosPosEmbed1d, SinCosPosEmbed2d, SinCosPosEmbed3d


# attention of block k = pattern[k % len(pattern)] (attention/<name> keys)
BLOCK_PATTERNS = {
    "full": ("spacetime",),
    "spatial": ("spatial",),
    "temporal": ("temporal",),
    "alternating": ("spatial", "temporal"),
}
POSITIONS = ("sincos_3d", "sincos_2d", "sincos_2d_1d", "rope_3d")  # rope_3d: rotary, not added (embed/rope_3d)


def position_table(kind: str, dim: int, grid: tuple[int, int, int], *, device=None) -> Tensor:
    """``(T·H·W, dim)`` fixed sin-cos positions of a token grid, tokens in ``(t h w)`` order.

    ``sincos_3d``: ``embed/sincos_3d``; ``sincos_2d``: ``embed/sincos_2d`` of (H, W), the same for every frame
    (DiT's table at T = 1); ``sincos_2d_1d``: that plus ``embed/sincos_1d`` of the frame index.
    """
    t, h, w = grid
    if kind == "sincos_3d":
        return SinCosPosEmbed3d(dim).table((t, h, w), device=device)
    spatial = SinCosPosEmbed2d(dim).table((h, w), device=device)  # (H·W, dim)
    table = spatial[None].expand(t, -1, -1)
    if kind == "sincos_2d_1d":
        table = table + SinCosPosEmbed1d(dim).table(t, device=device)[:, None]
    return table.reshape(t * h * w, dim)


class FinalAdaLN(nn.Module):
    """DiT's final layer: ``Linear(LN(x)·(1 + scale) + shift)``, ``(shift, scale) = Linear(SiLU(c))``.

    Shapes: ``x`` ``(B, N, dim)``, ``c`` ``(B, dim)`` -> ``(B, N, out_dim)`` with ``out_dim = p_t·p_h·p_w·C_out``.
    LayerNorm without affine parameters (eps 1e-6); the modulation and output Linear start at zero (DiT).
    ``modulation="adaln_single"`` (PixArt-α, Latte-1): ``(shift, scale) = scale_shift_table + c`` with a learned
    ``(2, dim)`` table (init N(0, 1/dim)) and ``c`` the timestep embedding itself; the output Linear still starts at 0.
    Per-token ``c`` ``(B, N, dim)`` (Wan 2.2 TI2V) modulates each token with its own pair. ``upcast``: the norm and
    modulation in fp32 (diffusers' Wan ``norm_out`` is an ``FP32LayerNorm``), cast back before the Linear.
    ``cond_dim`` (default ``dim``), ``affine`` and ``eps``: CogVideoX's ``norm_out`` modulates an affine LayerNorm
    (eps 1e-5) from its 512-wide time embedding.
    """

    def __init__(self, dim: int, out_dim: int, *, modulation: str = "adaln_zero", upcast: bool = False,
                 cond_dim: int | None = None, affine: bool = False, eps: float = 1e-6, device=None,
                 dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.upcast = upcast
        self.norm = nn.LayerNorm(dim, elementwise_affine=affine, eps=eps, **factory)
        self.single = modulation == "adaln_single"
        if self.single:
            self.scale_shift_table = nn.Parameter(torch.randn(2, dim, **factory) * dim ** -0.5)
        else:
            self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim or dim, 2 * dim, **factory))
        self.linear = nn.Linear(dim, out_dim, **factory)
        for layer in (self.linear,) if self.single else (self.modulation[-1], self.linear):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        c = c[:, None] if c.ndim == 2 else c  # (B, 1 | N, dim)
        if self.single:
            table = self.scale_shift_table.float() if self.upcast else self.scale_shift_table
            shift, scale = (table + c[:, :, None]).unbind(dim=2)  # (B, 1 | N, 2, dim) -> 2 × (B, 1 | N, dim)
        else:
            shift, scale = self.modulation(c).chunk(2, dim=-1)
        return self.linear((layer_norm(self.norm, x, self.upcast) * (1 + scale) + shift).to(x.dtype))


class ContextProjection(nn.Module):
    """PixArt-α's caption projection (Latte-1): ``Linear(context_dim, dim) -> GELU(tanh) -> Linear(dim, dim)``.

    Shapes: ``(B, M, context_dim)`` text-encoder tokens (T5: 4096) -> ``(B, M, dim)``. Init N(0, 0.02) weights, zero
    biases (PixArt-α's ``initialize_weights``).
    """

    def __init__(self, context_dim: int, dim: int, *, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.linear_1 = nn.Linear(context_dim, dim, **factory)
        self.linear_2 = nn.Linear(dim, dim, **factory)
        for layer in (self.linear_1, self.linear_2):
            nn.init.normal_(layer.weight, std=0.02)
            nn.init.zeros_(layer.bias)

    def forward(self, context: Tensor) -> Tensor:
        return self.linear_2(nn.functional.gelu(self.linear_1(context), approximate="tanh"))


class ImageContextProjection(nn.Module):
    """Wan 2.1 I2V's projection of CLIP image tokens: ``LN -> Linear(d, d) -> GELU -> Linear(d, dim) -> LN``.

    [V-code: diffusers transformer_wan.py ``WanImageEmbedding``; Wan-Video/Wan2.1 wan/modules/model.py ``MLPProj``]
    Shapes: ``(B, M, image_dim)`` (CLIP ViT-H/14 penultimate tokens: M = 257, image_dim = 1280) -> ``(B, M, dim)``.
    Both LayerNorms are affine (eps 1e-5) and run in fp32 (diffusers' ``FP32LayerNorm``), the GELU is exact.
    ``pos_len`` (Wan FLF2V: 2·257) adds a learned ``(1, pos_len, image_dim)`` position table (init 0) to the tokens of
    the first and last frame concatenated along M (diffusers folds them from the batch: ``(2B, 257, d) -> (B, 514,
    d)``; ours takes ``(B, 514, d)`` as the caller concatenates them).
    """

    def __init__(self, image_dim: int, dim: int, *, pos_len: int | None = None, device=None, dtype=None) -> None:
        from timm.layers import Mlp  # lazy: timm is slow to import (tests/test_startup.py)

        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.image_dim, self.pos_len = image_dim, pos_len
        self.norm1 = nn.LayerNorm(image_dim, **factory)
        self.ff = Mlp(image_dim, image_dim, dim, act_layer=nn.GELU, **factory)
        self.norm2 = nn.LayerNorm(dim, **factory)
        self.pos_embed = None if pos_len is None else nn.Parameter(torch.zeros(1, pos_len, image_dim, **factory))

    def forward(self, image: Tensor) -> Tensor:
        if self.pos_embed is not None:
            image = image + self.pos_embed.to(image.dtype)
        y = self.ff(layer_norm(self.norm1, image, upcast=True).to(image.dtype))
        return layer_norm(self.norm2, y, upcast=True).to(image.dtype)


def dit_inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    """``(x, t), cond``: ``x ~ N(0, 1)`` of the config's spatial size, integer steps ``t`` in [0, 1000)."""
    _, h, w = cfg.get("input_size", (1, 32, 32))
    x = torch.randn(batch, cfg.get("in_channels", 4), frames, h, w, generator=generator)
    t = torch.randint(0, 1000, (batch,), generator=generator)
    cond = {}
    if cfg.get("num_classes") is not None:
        cond["class_labels"] = torch.randint(0, cfg["num_classes"], (batch,), generator=generator)
    if cfg.get("added_cond_dim") is not None:
        cond["added_cond"] = torch.randn(batch, cfg["added_cond_dim"], generator=generator)
    if cfg.get("context_dim") is not None:
        cond["context"] = torch.randn(batch, 3, cfg["context_dim"], generator=generator)
    if cfg.get("image_context_dim") is not None:
        tokens = cfg.get("image_pos_embed_len") or 5
        cond["image_context"] = torch.randn(batch, tokens, cfg["image_context_dim"], generator=generator)
    return (x, t), cond


def dit_output_shape(cfg: dict, x: Tensor, *args, **kwargs) -> tuple[int, ...]:
    b, c, t, h, w = x.shape
    out = cfg.get("out_channels") or (2 * c if cfg.get("learn_sigma", True) else c)
    return (b, out, t, h, w)


def same_channels_output_shape(cfg: dict, x: Tensor, *args, **kwargs) -> tuple[int, ...]:
    """``output_shape`` of a net predicting as many channels as its input latents (no learned Σ: the flow / v nets)."""
    return dit_output_shape({**cfg, "learn_sigma": False}, x)


def bad_net_inputs(inputs, x_shape: tuple[int, ...] | None = None, t=None, **cond):
    """A ``BadInput.inputs`` maker: the entry's own example ``inputs`` with ``x`` replaced by zeros of ``x_shape``
    (None: kept), ``t`` by ``t`` (None: kept) and the conditioning keywords in ``cond`` overridden (None: dropped
    as a keyword left out would be)."""
    def make(cfg: dict):
        (x, t0), good = inputs(cfg, generator=torch.Generator().manual_seed(0))
        x = x if x_shape is None else torch.zeros(*x_shape)
        return (x, t0 if t is None else t), {**good, **cond}

    return make


def shard_video(shard, tokens: Tensor, rope):
    """Under context parallel (``shard`` a ``SequenceShard``; None: one device): this rank's video tokens ``(B, N, D)``
    and rotary tables, ``(N, head_dim)`` or per head ``(1, heads, N, head_dim)`` (Mochi, LTX-Video): the token axis is
    the second to last (the text stream stays whole on every rank)."""
    if shard is None:
        return tokens, rope
    return shard.split(tokens), None if rope is None else tuple(shard.split(table, dim=table.ndim - 2)
                                                                  for table in rope)
