"""Spatiotemporal transformer: the spatial block, then the temporal block (Make-A-Video's pseudo-3-D attention, E11)."""

from __future__ import annotations

from torch import Tensor, nn

from ..attention.configure import configure_attention
from ..examples import video_inputs
from ..registry import register
from .alpha_merge import AlphaMerge
from .spatial_transformer import SpatialTransformer, bad_transformer_inputs, context_inputs
from .temporal_transformer import TemporalTransformer


@register(
    "block", "spatiotemporal_transformer",
    paper="Singer et al. 2022 (Make-A-Video); Blattmann et al. 2023 (Video LDM, SVD)",
    tiny=dict(dim=16, num_heads=2, context_dim=8, num_groups=4), inputs=video_inputs("dim", context=context_inputs),
    bad_inputs=bad_transformer_inputs(),
)
class SpatiotemporalTransformer(nn.Module):
    """``temporal(spatial(x))``, or ``α·s + (1 − α)·temporal(s)`` with ``s = spatial(x)`` when ``merge_factor`` is set.

    Shapes: ``x`` ``(B, dim, T, H, W)`` -> same; ``context`` ``(B, M, context_dim)`` (or per frame);
    ``forward(x, context=None, *, num_image_frames=0)``.

    Make-A-Video E11: Attn_P3D(h) = flatten⁻¹(Attn_1D(Attn_2D(flatten(h)) ∘ T) ∘ T): the pretrained spatial attention
    on ``(B·T, H·W, C)`` followed by a new temporal attention on ``(B·H·W, T, C)``. Here each is a full block
    (``block/spatial_transformer`` under ``spatial.``, ``block/temporal_transformer`` under ``temporal.``), so an
    image model's spatial transformer loads with ``block.spatial.load_state_dict(image_block.state_dict())``.
    With ``merge_factor`` the two outputs are blended by ``block/alpha_merge`` (Video LDM / SVD; ``merge.``), and
    the last ``num_image_frames`` frames take the spatial path alone.

    Init: the temporal block's ``proj_out`` is zero, so at init the block equals the spatial transformer with the
    same weights, at every T (with or without the merge).

    Args:
        temporal_cross_attention: the temporal block also cross-attends to ``context`` (Video LDM, SVD); default
            off (Make-A-Video's temporal attention is self-attention only).
        position, causal: the temporal attention's frame positions and causality (``attention/temporal``).
        merge_factor: ``None`` (residual composition) or the initial logit of α (SVD: 0.5).
        attention_backend, frame_attention, frame_attention_kwargs: as ``block/spatial_transformer`` (the swap
            reaches the spatial half; both halves are recorded with it).
        (others as ``block/spatial_transformer``, shared by both halves)
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *, context_dim: int | None = None,
                 depth: int = 1, temporal_cross_attention: bool = False, position: str = "none", causal: bool = False,
                 merge_factor: float | None = None, num_groups: int = 32, eps: float = 1e-6, ff: str = "geglu",
                 ff_mult: float = 4.0, dropout: float = 0.0, attention_backend: str | None = None,
                 frame_attention: str | None = None, frame_attention_kwargs: dict | None = None, device=None,
                 dtype=None) -> None:
        super().__init__()
        shared = dict(depth=depth, num_groups=num_groups, eps=eps, ff=ff, ff_mult=ff_mult, dropout=dropout,
                      device=device, dtype=dtype)
        self.spatial = SpatialTransformer(dim, num_heads, head_dim, context_dim=context_dim, **shared)
        self.temporal_cross_attention = temporal_cross_attention
        self.temporal = TemporalTransformer(
            dim, num_heads, head_dim, context_dim=context_dim if temporal_cross_attention else None,
            position=position, causal=causal, **shared,
        )
        self.merge = (
            AlphaMerge(merge_factor, "learned_with_images", device=device, dtype=dtype)
            if merge_factor is not None else None
        )
        configure_attention(self, attention_backend=attention_backend, frame_attention=frame_attention,
                            frame_attention_kwargs=frame_attention_kwargs)

    def forward(self, x: Tensor, context: Tensor | None = None, *, num_image_frames: int = 0) -> Tensor:
        s = self.spatial(x, context)
        t = self.temporal(s, context if self.temporal_cross_attention else None, num_image_frames=num_image_frames)
        return t if self.merge is None else self.merge(s, t, num_image_frames=num_image_frames)
