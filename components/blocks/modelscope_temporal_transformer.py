"""ModelScope-T2V's temporal transformer (diffusers ``TransformerTemporalModel``): ``temp_attentions`` and the
``transformer_in`` stem.

Wang et al. 2023 (ModelScope text-to-video). Differences from ``block/temporal_transformer`` (VDM / Video LDM), each a
number that changes outputs or parameter counts:

* the input GroupNorm's statistics span the whole clip ``(C/G, T, H, W)``, not one frame;
* every layer has *two* temporal self-attentions (diffusers ``double_self_attention=True``: ``attn2`` attends to the
  layer's own tokens, never to the text);
* the attention width ``num_heads · head_dim`` may differ from the channels (the stem: 320 channels, 8 × 64 = 512).
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn

from .. import registry
from ..attention.configure import configure_attention
from ..checks import check_divisible, check_video
from ..examples import bad_channels, bad_ndim, video_inputs
from ..registry import BadInput, register
from .common import check_context, feed_forward


class DoubleSelfAttentionLayer(nn.Module):
    """``h + attn1(LN(h))``, ``h + attn2(LN(h))``, ``h + ff(LN(h))``; both attentions are ``attention/<name>``
    self-attentions on channels-last ``(B, T, H, W, dim)`` hidden states (same shape out)."""

    def __init__(self, dim: int, num_heads: int, head_dim: int, *, attention: str = "temporal",
                 attention_kwargs: dict | None = None, ff: str = "geglu", ff_mult: float = 4.0,
                 dropout: float = 0.0, device=None, dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        heads = dict(dim=dim, num_heads=num_heads, head_dim=head_dim, dropout=dropout, **(attention_kwargs or {}),
                     **factory)
        self.norm1 = nn.LayerNorm(dim, **factory)
        self.attn1 = registry.build(f"attention/{attention}", **heads)
        self.norm2 = nn.LayerNorm(dim, **factory)
        self.attn2 = registry.build(f"attention/{attention}", **heads)
        self.norm3 = nn.LayerNorm(dim, **factory)
        self.ff = feed_forward(dim, ff_mult, ff, dropout=dropout, where=type(self).__name__, **factory)

    def forward(self, h: Tensor) -> Tensor:
        for norm, attn in ((self.norm1, self.attn1), (self.norm2, self.attn2)):
            out = attn(rearrange(norm(h), "b t h w c -> b c t h w"))
            h = h + rearrange(out, "b c t h w -> b t h w c")
        return h + self.ff(self.norm3(h))


@register(
    "block", "modelscope_temporal_transformer",
    paper="Wang et al. 2023 (ModelScope-T2V) TemporalTransformer; diffusers TransformerTemporalModel",
    tiny=dict(dim=16, num_heads=2, num_groups=4), inputs=video_inputs("dim"),
    properties=("identity_at_init", "permutation_equivariant"),
    bad_inputs=[
        BadInput(match="B C T H W", inputs=bad_ndim("dim"), why="a 4-D image"),
        BadInput(match="channels", inputs=bad_channels("dim"), why="channels != dim"),
        BadInput(match="divisible by num_groups", init={"num_groups": 3}, why="dim % num_groups != 0"),
        BadInput(match="divisible by num_heads", init={"num_heads": 3}, why="dim % num_heads != 0 (no head_dim)"),
        BadInput(match="context", init={"context_dim": 8}, why="ModelScope's temporal layers never see the text"),
    ],
)
class ModelScopeTemporalTransformer(nn.Module):
    """``x + proj_out(layers(proj_in(GN(x))))`` over frames, with GroupNorm over the whole clip.

    Shapes: ``x`` ``(B, dim, T, H, W)`` -> same; the layers see ``(B, T, H, W, num_heads·head_dim)`` channels-last
    and attend over T at each pixel (``attention/temporal`` folds ``b c t h w -> (b h w) t c``).

    Per layer (``DoubleSelfAttentionLayer``): ``h += TemporalAttn₁(LN(h))``, ``h += TemporalAttn₂(LN(h))``,
    ``h += GEGLU-FF(LN(h))``. No frame positions (``position="none"``), so the block is permutation-equivariant over
    frames. Init: ``proj_out`` zeroed (``zero_init``), so the block is the identity at init (converted weights
    replace it). Parameter names: ``norm``, ``proj_in``, ``layers.{i}.{norm1,attn1,norm2,attn2,norm3,ff}``,
    ``proj_out``.

    Args:
        dim: channels of ``x``.
        num_heads, head_dim: attention heads and their width; ``head_dim`` defaults to ``dim // num_heads``
            (``temp_attentions``); the stem ``transformer_in`` uses 8 × 64 on 320 channels.
        depth: layers; position: ``attention/temporal``'s frame positions (ModelScope: ``"none"``).
        context_dim: must be None (accepted because the U-Net's temporal slot passes it).
        num_groups, eps: the clip GroupNorm (32, 1e-6); ff, ff_mult: ``geglu`` × 4; dropout; zero_init.
        attention_backend: pin this ``attention_backend/<name>`` on every attention inside (None: as built).
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *, depth: int = 1,
                 position: str = "none", context_dim: int | None = None, num_groups: int = 32, eps: float = 1e-6,
                 ff: str = "geglu", ff_mult: float = 4.0, dropout: float = 0.0, zero_init: bool = True,
                 attention_backend: str | None = None, device=None, dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        check_divisible("dim", dim, num_groups, "num_groups", where=where)
        if head_dim is None:
            check_divisible("dim", dim, num_heads, "num_heads", where=where)
            head_dim = dim // num_heads
        if context_dim is not None:
            raise ValueError(f"{where}: ModelScope's temporal transformer has no cross-attention, so context_dim "
                             f"must be None, got {context_dim}")
        factory = {"device": device, "dtype": dtype}
        inner = num_heads * head_dim
        self.dim, self.inner_dim = dim, inner
        self.norm = nn.GroupNorm(num_groups, dim, eps=eps, **factory)
        self.proj_in = nn.Linear(dim, inner, **factory)
        self.layers = nn.ModuleList(
            DoubleSelfAttentionLayer(inner, num_heads, head_dim, attention_kwargs={"position": position}, ff=ff,
                                     ff_mult=ff_mult, dropout=dropout, **factory)
            for _ in range(depth)
        )
        self.proj_out = nn.Linear(inner, dim, **factory)
        if zero_init:
            nn.init.zeros_(self.proj_out.weight)
            nn.init.zeros_(self.proj_out.bias)
        configure_attention(self, attention_backend=attention_backend)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        where = type(self).__name__
        check_video(x, channels=self.dim, where=where)
        check_context(context, None, where)
        h = self.proj_in(rearrange(self.norm(x), "b c t h w -> b t h w c"))
        for layer in self.layers:
            h = layer(h)
        return x + rearrange(self.proj_out(h), "b t h w c -> b c t h w")

    def extra_repr(self) -> str:
        return f"dim={self.dim}, inner_dim={self.inner_dim}"
