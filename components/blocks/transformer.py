"""The one transformer mechanism behind the spatial, temporal and Tune-A-Video blocks.

``TransformerLayer`` is Stable Diffusion's ``BasicTransformerBlock`` on a video: pre-norm self-attention, optional
cross-attention to context tokens, feed-forward, each residual; optionally a zero-initialised temporal attention after
them (Tune-A-Video). Which tokens attend to which is a registry key (``attention/spatial``, ``attention/temporal``,
``attention/sparse_causal``, ...); every variant has the same parameter names, so swapping the key keeps the weights.

``VideoTransformer`` wraps ``depth`` layers as LDM's ``SpatialTransformer`` does: per-frame GroupNorm, ``proj_in``,
the layers, ``proj_out``, plus the input. The registered blocks (``spatial_transformer.py``,
``temporal_transformer.py``, ``tune_a_video.py``) are this class with their paper's defaults.

Layout: the layers keep the hidden state channels-last, ``b t h w c`` (LayerNorm, feed-forward and projections act on
the last axis); an attention variant sees ``b c t h w`` (``rearrange(h, "b t h w c -> b c t h w")``) and folds it its
own way.
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn

from .. import registry
from ..checks import check_divisible, check_video
from .common import check_context, feed_forward


def _on_video(attention: nn.Module, h: Tensor, *args, **kwargs) -> Tensor:
    """Apply a ``B C T H W`` attention variant to a channels-last ``b t h w c`` hidden state."""
    out = attention(h.permute(0, 4, 1, 2, 3), *args, **kwargs)  # b t h w c -> b c t h w (a view, as in einops)
    return out.permute(0, 2, 3, 4, 1)  # b c t h w -> b t h w c


class TransformerLayer(nn.Module):
    """``h + attn1(LN(h))``, ``h + attn2(LN(h), context)``, ``h + ff(LN(h))`` [, ``h + attn_temp(LN(h))``].

    Shapes: ``h`` ``(B, T, H, W, dim)`` channels-last -> same; ``context`` ``(B, M, context_dim)`` or per-frame
    ``(B, T, M, context_dim)``.

    Args:
        dim, num_heads, head_dim: width and heads of every attention (``num_heads · head_dim = dim``).
        attention: self-attention variant, ``attention/<name>`` taking ``B C T H W``.
        attention_kwargs: extra constructor arguments of that variant (``{"position": "relative"}``).
        context_dim: width of the context tokens; ``None``: no cross-attention (``attn2``/``norm2`` absent).
        ff, ff_mult: feed-forward kind (``geglu`` as SD, ``gelu``, ``gelu_tanh``) and hidden multiplier.
        temporal_attention: append Tune-A-Video's ``norm_temp`` + ``attn_temp`` (``attention/temporal``, no position
            encoding) with a zero output projection, so it adds exactly 0 at init.
        dropout: attention and feed-forward dropout.
    """

    def __init__(self, dim: int, num_heads: int, head_dim: int | None = None, *, attention: str = "spatial",
                 attention_kwargs: dict | None = None, context_dim: int | None = None, ff: str = "geglu",
                 ff_mult: float = 4.0, temporal_attention: bool = False, dropout: float = 0.0, device=None,
                 dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        heads = {"dim": dim, "num_heads": num_heads, "head_dim": head_dim, "dropout": dropout, **factory}
        if attention == "cross" or not registry.has_component(f"attention/{attention}"):
            raise ValueError(
                f"{type(self).__name__}: attention must name a self-attention variant attention/<name> "
                f"(spatial, temporal, sparse_causal, ...), got {attention!r}"
            )
        self.norm1 = nn.LayerNorm(dim, **factory)
        self.attn1 = registry.build(f"attention/{attention}", **heads, **(attention_kwargs or {}))
        self.context_dim = context_dim
        self.norm2 = self.attn2 = None
        if context_dim is not None:
            self.norm2 = nn.LayerNorm(dim, **factory)
            self.attn2 = registry.build("attention/cross", **heads, context_dim=context_dim)
        self.norm3 = nn.LayerNorm(dim, **factory)
        self.ff = feed_forward(dim, ff_mult, ff, dropout=dropout, where=type(self).__name__, **factory)
        self.norm_temp = self.attn_temp = None
        if temporal_attention:
            self.norm_temp = nn.LayerNorm(dim, **factory)
            self.attn_temp = registry.build("attention/temporal", **heads, zero_init=True)

    def forward(self, h: Tensor, context: Tensor | None = None, **attention_inputs) -> Tensor:
        check_context(context, self.context_dim, type(self).__name__)
        h = h + _on_video(self.attn1, self.norm1(h), **attention_inputs)
        if self.attn2 is not None:
            if context.ndim == 3:  # one context for the clip: every token is a query, no copy per frame
                b, t, hh, w, _ = h.shape
                tokens = rearrange(self.norm2(h), "b t h w c -> b (t h w) c")
                h = h + rearrange(self.attn2(tokens, context), "b (t h w) c -> b t h w c", t=t, h=hh, w=w)
            else:
                h = h + _on_video(self.attn2, self.norm2(h), context)
        h = h + self.ff(self.norm3(h))
        if self.attn_temp is not None:
            h = h + _on_video(self.attn_temp, self.norm_temp(h))
        return h


class VideoTransformer(nn.Module):
    """``x + proj_out(layers(proj_in(GN(x))))`` on a ``B C T H W`` video (LDM's ``SpatialTransformer``, linear projections).

    Shapes: ``x`` ``(B, dim, T, H, W)`` -> same; ``context`` ``(B, M, context_dim)`` or ``(B, T, M, context_dim)``.
    GroupNorm statistics are per frame (``b c t h w -> (b t) c h w``), as in the image model.

    Args: those of ``TransformerLayer`` plus
        depth: number of layers (SD's ``transformer_depth``).
        num_groups, eps: the input GroupNorm (SD: 32 groups, eps 1e-6).
        zero_init: zero ``proj_out`` (weight and bias) so the block is the identity at init.
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *, context_dim: int | None = None,
                 depth: int = 1, attention: str = "spatial", attention_kwargs: dict | None = None,
                 temporal_attention: bool = False, num_groups: int = 32, eps: float = 1e-6, ff: str = "geglu",
                 ff_mult: float = 4.0, dropout: float = 0.0, zero_init: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        check_divisible("dim", dim, num_groups, "num_groups", where=where)
        if depth < 1:
            raise ValueError(f"{where}: depth must be >= 1, got {depth}")
        factory = {"device": device, "dtype": dtype}
        self.dim, self.context_dim = dim, context_dim
        self.norm = nn.GroupNorm(num_groups, dim, eps=eps, **factory)
        self.proj_in = nn.Linear(dim, dim, **factory)
        self.layers = nn.ModuleList(
            TransformerLayer(dim, num_heads, head_dim, attention=attention, attention_kwargs=attention_kwargs,
                             context_dim=context_dim, ff=ff, ff_mult=ff_mult, temporal_attention=temporal_attention,
                             dropout=dropout, **factory)
            for _ in range(depth)
        )
        self.proj_out = nn.Linear(dim, dim, **factory)
        if zero_init:
            nn.init.zeros_(self.proj_out.weight)
            nn.init.zeros_(self.proj_out.bias)

    def _forward(self, x: Tensor, context: Tensor | None, **attention_inputs) -> Tensor:
        where = type(self).__name__
        check_video(x, channels=self.dim, where=where)
        check_context(context, self.context_dim, where)
        b = x.shape[0]
        h = self.norm(rearrange(x, "b c t h w -> (b t) c h w"))
        h = self.proj_in(rearrange(h, "(b t) c h w -> b t h w c", b=b))
        for layer in self.layers:
            h = layer(h, context, **attention_inputs)
        return x + rearrange(self.proj_out(h), "b t h w c -> b c t h w")

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        return self._forward(x, context)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, context_dim={self.context_dim}"
