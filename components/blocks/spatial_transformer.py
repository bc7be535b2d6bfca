"""Spatial transformer block: LDM's ``SpatialTransformer`` applied to every frame (the image model's attention)."""

from __future__ import annotations

import torch

from ..attention.configure import configure_attention
from ..examples import video_inputs
from ..registry import BadInput, register
from .transformer import VideoTransformer


def context_inputs(cfg, frames, batch, generator):
    """Example context tokens ``(B, 4, context_dim)``."""
    return torch.randn(batch, 4, cfg["context_dim"], generator=generator)


def _video(cfg: dict, channels_delta: int = 0, ndim: int = 5):
    shape = (2, cfg["dim"] + channels_delta, 2, 4, 4) if ndim == 5 else (2, cfg["dim"], 4, 4)
    return torch.zeros(*shape)


def _with_context(width_delta: int = 0, **video):
    def make(cfg: dict):
        return (_video(cfg, **video), torch.zeros(2, 4, cfg["context_dim"] + width_delta)), {}

    return make


def bad_transformer_inputs() -> list[BadInput]:
    """Bad inputs shared by the transformer blocks (tiny configs with ``context_dim``)."""
    return [
        BadInput(match="B C T H W", inputs=_with_context(ndim=4), why="a 4-D image"),
        BadInput(match="channels", inputs=_with_context(channels_delta=1), why="channels != dim"),
        BadInput(match="divisible by num_groups", init={"num_groups": 3}, why="dim % num_groups != 0"),
        BadInput(match="divisible by num_heads", init={"num_heads": 3}, why="dim % num_heads != 0"),
        BadInput(match="context_dim", inputs=_with_context(width_delta=1), why="context of the wrong width"),
        BadInput(match="context", inputs=lambda cfg: ((_video(cfg),), {}), why="cross-attention without context"),
    ]


@register(
    "block", "spatial_transformer", paper="Rombach et al. 2022 (LDM); Ho et al. 2022 (VDM)",
    tiny=dict(dim=16, num_heads=2, context_dim=8, num_groups=4), inputs=video_inputs("dim", context=context_inputs),
    properties=("frame_independent",), bad_inputs=bad_transformer_inputs(),
)
class SpatialTransformer(VideoTransformer):
    """Per-frame transformer: GN -> proj_in -> [self-attn, cross-attn, GEGLU FF] × depth -> proj_out, plus the input.

    Shapes: ``x`` ``(B, dim, T, H, W)`` -> same; ``context`` ``(B, M, context_dim)`` (text tokens, shared by all
    frames) or ``(B, T, M, context_dim)`` per frame; ``forward(x, context=None)``.

    LDM / Stable Diffusion (Rombach et al. 2022, §3.3; ``BasicTransformerBlock``), per layer on tokens h::

        h = h + SelfAttn(LN(h));   h = h + CrossAttn(LN(h), context);   h = h + FF(LN(h))

    With ``attention="spatial"`` tokens are the H·W pixels of one frame (``b c t h w -> (b t) (h w) c``) and GroupNorm
    is per frame, so the block is exactly the image model at every T (VDM §3: spatial attention, frames in the batch).
    The frame-wise variants keep the parameters and change only the keys/values: ``"sparse_causal"``
    (Tune-A-Video), ``"cross_frame"`` (Text2Video-Zero), ``"fully_cross_frame"`` (ControlVideo).

    Init: PyTorch defaults (the weights come from the image model); ``zero_init=True`` zeroes ``proj_out`` for a newly
    added block. Parameter names: ``norm``, ``proj_in``, ``layers.{i}.{norm1,attn1,norm2,attn2,norm3,ff}``,
    ``proj_out``.

    Args:
        dim, num_heads, head_dim: channels and heads (``num_heads · head_dim = dim``).
        context_dim: width of the context; ``None``: no cross-attention.
        depth: layers; attention: the self-attention variant (``attention/<name>``).
        num_groups, eps: input GroupNorm; ff, ff_mult: ``geglu`` (SD) | ``gelu`` | ``gelu_tanh`` and its width.
        dropout: attention/FF dropout; zero_init: zero ``proj_out`` (identity at init).
        attention_backend: pin this ``attention_backend/<name>`` on every attention inside (None: as built).
        frame_attention, frame_attention_kwargs: swap every ``attention/spatial`` inside for this frame-wise
            variant after building (what ``swap_spatial_attention`` records; ``attention=`` builds it directly).
    """

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *, context_dim: int | None = None,
                 depth: int = 1, attention: str = "spatial", num_groups: int = 32, eps: float = 1e-6,
                 ff: str = "geglu", ff_mult: float = 4.0, dropout: float = 0.0, zero_init: bool = False,
                 attention_backend: str | None = None, frame_attention: str | None = None,
                 frame_attention_kwargs: dict | None = None, device=None, dtype=None) -> None:
        super().__init__(dim, num_heads, head_dim, context_dim=context_dim, depth=depth, attention=attention,
                         num_groups=num_groups, eps=eps, ff=ff, ff_mult=ff_mult, dropout=dropout,
                         zero_init=zero_init, device=device, dtype=dtype)
        configure_attention(self, attention_backend=attention_backend, frame_attention=frame_attention,
                            frame_attention_kwargs=frame_attention_kwargs)
