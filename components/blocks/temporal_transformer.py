"""Temporal transformer block: each pixel's frames attend to each other; zero output so it starts as the identity."""

from __future__ import annotations

from torch import Tensor

from ..attention.configure import configure_attention
from ..examples import video_inputs
from ..registry import register
from .spatial_transformer import bad_transformer_inputs, context_inputs
from .transformer import VideoTransformer


@register(
    "block", "temporal_transformer", paper="Ho et al. 2022 (VDM); Blattmann et al. 2023 (Video LDM, SVD)",
    tiny=dict(dim=16, num_heads=2, context_dim=8, num_groups=4), inputs=video_inputs("dim", context=context_inputs),
    properties=("identity_at_init", "permutation_equivariant"), bad_inputs=bad_transformer_inputs(),
)
class TemporalTransformer(VideoTransformer):
    """Transformer over time: GN -> proj_in -> [temporal self-attn, (cross-attn), FF] × depth -> proj_out (zero), + x.

    Shapes: ``x`` ``(B, dim, T, H, W)`` -> same; tokens of the temporal attention ``(B·H·W, T, dim)``
    (``b c t h w -> (b h w) t c``); ``context`` ``(B, M, context_dim)`` or per-frame ``(B, T, M, context_dim)``.
    ``forward(x, context=None, *, num_image_frames=0)``: the last ``num_image_frames`` frames are independent images
    (VDM's joint image–video training): they attend only to themselves, and since GroupNorm is per frame and every
    other operation per token, they stay independent of the video frames.

    The temporal layers added to an image model: VDM §3 (temporal attention after every spatial attention, relative
    position bias), Video LDM §3.1 / SVD ``VideoTransformerBlock`` (temporal self-attention, cross-attention to the
    context, feed-forward; sinusoidal frame embedding). Per layer: ``h = h + TemporalAttn(LN(h))``,
    ``h = h + CrossAttn(LN(h), context)``, ``h = h + FF(LN(h))``.

    Init: ``proj_out`` zeroed (weight and bias), so ``out = x`` at init and the image model is unchanged at step 0
    (``zero_init=False`` for a plain init). Without position information the block is permutation-equivariant over
    frames.

    Args:
        position: ``"none"`` | ``"relative"`` (VDM) | ``"sinusoidal"`` (SVD), see ``attention/temporal``.
        causal: frame i attends only to frames j <= i.
        attention_backend: pin this ``attention_backend/<name>`` on every attention inside (None: as built).
        (others as ``block/spatial_transformer``)
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *, context_dim: int | None = None,
                 depth: int = 1, position: str = "none", causal: bool = False, num_groups: int = 32,
                 eps: float = 1e-6, ff: str = "geglu", ff_mult: float = 4.0, dropout: float = 0.0,
                 zero_init: bool = True, attention_backend: str | None = None, device=None, dtype=None) -> None:
        super().__init__(dim, num_heads, head_dim, context_dim=context_dim, depth=depth, attention="temporal",
                         attention_kwargs={"position": position, "causal": causal}, num_groups=num_groups, eps=eps,
                         ff=ff, ff_mult=ff_mult, dropout=dropout, zero_init=zero_init, device=device, dtype=dtype)
        configure_attention(self, attention_backend=attention_backend)

    def forward(self, x: Tensor, context: Tensor | None = None, *, num_image_frames: int = 0) -> Tensor:
        return self._forward(x, context, num_image_frames=num_image_frames)
