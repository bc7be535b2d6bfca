"""SVD's spatiotemporal transformer: spatial layers and temporal layers in one token space, blended by an alpha merge."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from .. import registry
from ..attention.configure import configure_attention
from ..checks import check_video
from ..embed.sinusoidal import sinusoidal_embedding
from ..examples import video_inputs
from ..registry import register
from .common import check_context, feed_forward
from .spatial_transformer import bad_transformer_inputs, context_inputs
from .transformer import TransformerLayer, VideoTransformer


class SVDTemporalLayer(TransformerLayer):
    """SVD's ``VideoTransformerBlock``: ``h + FF_in(LN(h))``, then a temporal ``TransformerLayer``.

    Shapes: ``h`` ``(B, T, H, W, dim)`` channels-last -> same; ``context`` ``(B, M, context_dim)`` (one per clip).
    Per layer on the frames of one pixel (``attention/temporal``, no position term: SVD adds the frame embedding to
    the tokens before the layer)::

        h = h + FF_in(LN_in(h));  h = h + TemporalAttn(LN(h));  h = h + CrossAttn(LN(h), context);  h = h + FF(LN(h))

    Parameter names are those of ``TransformerLayer`` plus ``norm_in``, ``ff_in``.
    """

    def __init__(self, dim: int, num_heads: int, head_dim: int | None = None, *, context_dim: int | None = None,
                 ff: str = "geglu", ff_mult: float = 4.0, dropout: float = 0.0, device=None, dtype=None) -> None:
        super().__init__(dim, num_heads, head_dim, attention="temporal", attention_kwargs={"position": "none"},
                         context_dim=context_dim, ff=ff, ff_mult=ff_mult, dropout=dropout, device=device,
                         dtype=dtype)
        self.norm_in = nn.LayerNorm(dim, device=device, dtype=dtype)
        self.ff_in = feed_forward(dim, ff_mult, ff, dropout=dropout, where=type(self).__name__, device=device,
                                  dtype=dtype)

    def forward(self, h: Tensor, context: Tensor | None = None, **attention_inputs) -> Tensor:
        h = h + self.ff_in(self.norm_in(h))
        return super().forward(h, context, **attention_inputs)

    def zero_residuals_(self) -> None:
        """Zero every branch's last projection, so the layer is the identity."""
        for linear in (self.ff_in.fc2, self.attn1.to_out, self.ff.fc2, *([self.attn2.to_out] if self.attn2 else [])):
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)


@register(
    "block", "svd_spatiotemporal_transformer",
    paper="Blattmann et al. 2023 (SVD SpatialVideoTransformer; Video LDM §3.1 temporal attention + merge)",
    tiny=dict(dim=16, num_heads=2, context_dim=8, num_groups=4), inputs=video_inputs("dim", context=context_inputs),
    bad_inputs=bad_transformer_inputs(),
)
class SVDSpatiotemporalTransformer(VideoTransformer):
    """SVD's ``SpatialVideoTransformer`` (diffusers ``TransformerSpatioTemporalModel``) on a ``B C T H W`` video.

    Shapes: ``x`` ``(B, dim, T, H, W)`` -> same; ``context`` ``(B, M, context_dim)`` (SVD: the CLIP image embedding,
    M = 1) or per frame ``(B, T, M, context_dim)`` (the temporal layers then use frame 0's, SVD's
    ``use_spatial_context``); ``forward(x, context=None, *, image_only_indicator=None)``.

    One GroupNorm / ``proj_in`` / ``proj_out`` shared by both paths (``VideoTransformer``'s), and per depth::

        s = SpatialLayer(h, context)                       # layers.i        (attention/spatial + cross + GEGLU)
        m = SVDTemporalLayer(s + MLP(sinusoid(frame)), c)   # temporal_layers.i, time_pos_embed (dim -> 4 dim -> dim)
        h = α s + (1 − α) m                                # merge (block/alpha_merge, α = sigmoid(logit))
        out = x + proj_out(h)

    The frame embedding is the ``[cos | sin]`` sinusoid of the frame index 0..T−1.

    Init: the SVD defaults (merge logit 0.5; PyTorch defaults elsewhere). ``zero_init=True`` zeroes the temporal
    layers' residual projections and the frame embedding's last layer, so the temporal path returns ``s`` and the
    block equals its spatial part at init (temporal layers added to a pretrained image model, Video LDM).

    Args:
        dim, num_heads, head_dim, context_dim, depth, num_groups, eps, ff, ff_mult, dropout: as
            ``block/spatial_transformer`` (shared by both paths).
        merge_factor, merge_strategy: ``block/alpha_merge``.
        zero_init: start as the spatial transformer (see Init).
        attention_backend, frame_attention, frame_attention_kwargs: as ``block/spatial_transformer``.
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *, context_dim: int | None = None,
                 depth: int = 1, num_groups: int = 32, eps: float = 1e-6, ff: str = "geglu", ff_mult: float = 4.0,
                 dropout: float = 0.0, merge_factor: float = 0.5, merge_strategy: str = "learned_with_images",
                 zero_init: bool = False, attention_backend: str | None = None, frame_attention: str | None = None,
                 frame_attention_kwargs: dict | None = None, device=None, dtype=None) -> None:
        from timm.layers import Mlp  # lazy: timm is slow to import (tests/test_startup.py)

        super().__init__(dim, num_heads, head_dim, context_dim=context_dim, depth=depth, attention="spatial",
                         num_groups=num_groups, eps=eps, ff=ff, ff_mult=ff_mult, dropout=dropout, device=device,
                         dtype=dtype)
        factory = {"device": device, "dtype": dtype}
        self.temporal_layers = nn.ModuleList(
            SVDTemporalLayer(dim, num_heads, head_dim, context_dim=context_dim, ff=ff, ff_mult=ff_mult,
                             dropout=dropout, **factory)
            for _ in range(depth)
        )
        self.time_pos_embed = Mlp(dim, 4 * dim, dim, act_layer=nn.SiLU, **factory)
        self.merge = registry.build("block/alpha_merge", merge_factor=merge_factor, merge_strategy=merge_strategy,
                                    **factory)
        if zero_init:
            for layer in self.temporal_layers:
                layer.zero_residuals_()
            nn.init.zeros_(self.time_pos_embed.fc2.weight)
            nn.init.zeros_(self.time_pos_embed.fc2.bias)
        configure_attention(self, attention_backend=attention_backend, frame_attention=frame_attention,
                            frame_attention_kwargs=frame_attention_kwargs)

    def frame_embedding(self, num_frames: int, device, dtype) -> Tensor:
        """``(1, T, 1, 1, dim)``: MLP of the sinusoid of each frame index (SVD's ``time_pos_embed``)."""
        sinusoid = sinusoidal_embedding(torch.arange(num_frames, device=device), self.dim, flip_sin_to_cos=True)
        return rearrange(self.time_pos_embed(sinusoid.to(dtype)), "t c -> 1 t 1 1 c")

    def forward(self, x: Tensor, context: Tensor | None = None, *,
                image_only_indicator: Tensor | None = None) -> Tensor:
        where = type(self).__name__
        check_video(x, channels=self.dim, where=where)
        check_context(context, self.context_dim, where)
        b, _, t = x.shape[:3]
        h = self.norm(rearrange(x, "b c t h w -> (b t) c h w"))
        h = self.proj_in(rearrange(h, "(b t) c h w -> b t h w c", b=b))
        pos = self.frame_embedding(t, x.device, h.dtype)
        temporal_context = context[:, 0] if context is not None and context.ndim == 4 else context
        for spatial, temporal in zip(self.layers, self.temporal_layers):
            h = spatial(h, context)
            mixed = temporal(h + pos, temporal_context)
            # b t h w c <-> b c t h w as permuted views (what einops.rearrange returns for a pure permutation)
            h = self.merge(h.permute(0, 4, 1, 2, 3), mixed.permute(0, 4, 1, 2, 3),
                           image_only_indicator=image_only_indicator)
            h = h.permute(0, 2, 3, 4, 1)
        return x + self.proj_out(h).permute(0, 4, 1, 2, 3)
