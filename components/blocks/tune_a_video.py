"""Tune-A-Video's inflated transformer block (Wu et al. 2023, §4). The paper's trainable set is the recipe's
(``zoo/recipes/tune_a_video.py``, ``Recipe.trainable``)."""

from __future__ import annotations

from ..attention.configure import configure_attention
from ..examples import video_inputs
from ..registry import register
from .spatial_transformer import bad_transformer_inputs, context_inputs
from .transformer import VideoTransformer


@register(
    "block", "tune_a_video", paper="Wu et al. 2023 (Tune-A-Video)",
    tiny=dict(dim=16, num_heads=2, context_dim=8, num_groups=4), inputs=video_inputs("dim", context=context_inputs),
    bad_inputs=bad_transformer_inputs(),
)
class TuneAVideoTransformer(VideoTransformer):
    """Stable Diffusion's transformer block inflated to video: sparse-causal self-attention, text cross-attention,
    feed-forward, then a new temporal attention (``Transformer3DModel`` / ``BasicTransformerBlock`` of Tune-A-Video).

    Shapes: ``x`` ``(B, dim, T, H, W)`` -> same; ``context`` ``(B, M, context_dim)`` text tokens shared by the frames;
    ``forward(x, context=None)``.

    Per layer on tokens h (E12 for ``attn1``)::

        h = h + SparseCausalAttn(LN(h))      K, V from frames 0 and i − 1   (attention/sparse_causal)
        h = h + CrossAttn(LN(h), text)                                       (attention/cross)
        h = h + FF(LN(h))
        h = h + TemporalAttn(LN_temp(h))     (b t) (h w) c -> (b h w) t c    (attention/temporal, no positions)

    Parameter names follow the official code (``attn1``, ``attn2``, ``ff``, ``norm_temp``, ``attn_temp``), so the
    recipe's ``trainable`` suffixes (official ``trainable_modules``) select exactly the paper's trainable set.

    Init: ``attn_temp.to_out`` is zero (weight and bias; the official code zeroes only the weight and leaves the
    bias, so its block adds a constant at init); with it the block equals the image block with ``attn1`` as
    sparse-causal attention. ``attn1`` has the parameters of ``attention/spatial``, so SD weights load unchanged.

    Args: as ``block/spatial_transformer`` (the self-attention is fixed to ``sparse_causal``; no
    ``frame_attention``: there is no ``attention/spatial`` to swap).
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *, context_dim: int | None = None,
                 depth: int = 1, num_groups: int = 32, eps: float = 1e-6, ff: str = "geglu", ff_mult: float = 4.0,
                 dropout: float = 0.0, attention_backend: str | None = None, device=None, dtype=None) -> None:
        super().__init__(dim, num_heads, head_dim, context_dim=context_dim, depth=depth, attention="sparse_causal",
                         temporal_attention=True, num_groups=num_groups, eps=eps, ff=ff, ff_mult=ff_mult,
                         dropout=dropout, device=device, dtype=dtype)
        configure_attention(self, attention_backend=attention_backend)
