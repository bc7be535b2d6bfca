"""Cross-attention to conditioning tokens (text, CLIP image embeddings): every conditional model."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from ..examples import video_inputs
from ..registry import BadInput, register
from .base import MultiHeadAttention, qk_norm_module
from .common import BAD_INPUTS


_CONTEXT_LEN = 4


def _context(cfg, frames, batch, generator):
    return torch.randn(batch, _CONTEXT_LEN, cfg["context_dim"], generator=generator)


def _bad(shape_of_context, x_shape=None):
    def make(cfg):
        x = torch.zeros(*(x_shape or (2, cfg["dim"], 2, 4, 4)))
        return (x, torch.zeros(*shape_of_context(cfg))), {}
    return make


@register(
    "attention", "cross", paper="Rombach et al. 2022 (LDM); Saharia et al. 2022 (Imagen)",
    tiny=dict(dim=16, num_heads=2, context_dim=8), inputs=video_inputs("dim", context=_context),
    properties=("frame_independent", "permutation_equivariant"),
    bad_inputs=tuple(b for b in BAD_INPUTS if b.inputs is None) + (
        BadInput(match="B C T H W", why="a 4-D image instead of a video",
                 inputs=lambda cfg: ((torch.zeros(2, cfg["dim"], 8, 8), torch.zeros(2, 4, cfg["context_dim"])), {})),
        BadInput(match="channels", why="channels != dim",
                 inputs=_bad(lambda cfg: (2, 4, cfg["context_dim"]), x_shape=(2, 17, 2, 4, 4))),
        BadInput(match="context_dim", inputs=_bad(lambda cfg: (2, 4, cfg["context_dim"] + 1)),
                 why="context of the wrong width"),
        BadInput(match="context batch", inputs=_bad(lambda cfg: (3, 4, cfg["context_dim"])), why="batch mismatch"),
        BadInput(match="context", inputs=_bad(lambda cfg: (2, 3, 4, cfg["context_dim"])),
                 why="a per-frame context for 3 frames on a 2-frame clip"),
        BadInput(match="context_mask", why="a mask of the wrong shape",
                 inputs=lambda cfg: ((torch.zeros(2, cfg["dim"], 2, 4, 4), torch.zeros(2, 4, cfg["context_dim"])),
                                     {"context_mask": torch.ones(2, 5, dtype=torch.bool)})),
    ),
)
class CrossAttention(MultiHeadAttention):
    """Queries from the video (or tokens), keys/values from conditioning tokens ``context``.

    Shapes:
        ``x`` ``(B, C, T, H, W)`` (or tokens ``(B, N, dim)``) -> same shape.
        ``context`` ``(B, M, context_dim)``, shared by all frames: queries ``"b c t h w -> b (t h w) c"``, one
        sequence per video (no context copied per frame); or per-frame ``(B, T, M, context_dim)`` (e.g. SVD's
        first-frame CLIP context, or per-frame prompts): queries ``"b c t h w -> (b t) (h w) c"``, context
        ``"b t m c -> (b t) m c"``.
        ``context_mask`` (optional) ``(B, M)`` or ``(B, T, M)`` boolean, True = a real token (False = padding).
            A query whose context is all padding has no keys: its output is NaN.

    Each query token attends to the context independently, so the module is frame-independent and
    permutation-equivariant over frames. ``zero_init=True`` makes a newly added conditioning branch start at 0.

    Decoupled image tokens (Wan 2.1 I2V; IP-Adapter's decoupled cross-attention): with ``added_context_dim`` the
    module has a second key/value projection ``add_k_proj``, ``add_v_proj`` (and ``norm_added_k``, the same qk-norm
    as ``norm_k``) for ``added_context`` ``(B, M', added_context_dim)`` (CLIP image tokens), attended by the same
    queries, and the two results are summed before the output projection:

        out = W_out [ softmax(Q K_cᵀ/√d) V_c + softmax(Q K_iᵀ/√d) V_i ]
        (K_c, V_c from ``context``; K_i = norm_added_k(added_context W_k'), V_i = added_context W_v')

    Args:
        added_context_dim: width of ``added_context`` tokens; None: no second key/value set.
        (other arguments: ``MultiHeadAttention``; tokens here carry no video position, so ``position`` is "none")
    """

    POSITIONS = ("none",)

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *,
                 added_context_dim: int | None = None, **kwargs) -> None:
        super().__init__(dim, num_heads, head_dim, **kwargs)
        self.added_context_dim = added_context_dim
        if added_context_dim is not None:
            factory = {"device": kwargs.get("device"), "dtype": kwargs.get("dtype")}
            bias = self.to_k.bias is not None
            self.add_k_proj = nn.Linear(added_context_dim, self.dim, bias=bias, **factory)
            self.add_v_proj = nn.Linear(added_context_dim, self.dim, bias=bias, **factory)
            self.norm_added_k = qk_norm_module(self.qk_norm, self.head_dim, self.num_heads, self.qk_norm_eps,
                                               factory)

    def forward(self, x: Tensor, context: Tensor, context_mask: Tensor | None = None,
                added_context: Tensor | None = None) -> Tensor:
        where = type(self).__name__
        if (added_context is None) != (self.added_context_dim is None):
            raise ValueError(
                f"{where}: added_context (B, M', added_context_dim) is required exactly when the module is built "
                f"with added_context_dim (here {self.added_context_dim}), got "
                f"{None if added_context is None else tuple(added_context.shape)}"
            )
        if added_context is not None:
            return self._attend_decoupled(x, context, added_context, context_mask, where)
        if x.ndim == 3:
            if x.shape[-1] != self.dim:
                raise ValueError(f"{where}: tokens x must have {self.dim} channels (B, N, dim), got {x.shape[-1]}")
            if context.ndim != 3:
                raise ValueError(
                    f"{where}: with tokens x, context must be (B, M, context_dim), got {tuple(context.shape)}"
                )
            return self.attend_tokens(x, context, mask=self._mask(context_mask, context.shape[:2], where))
        if x.ndim != 5:
            raise ValueError(
                f"{where}: x must be a 5-D video B C T H W or tokens (B, N, dim), "
                f"got {x.ndim}-D shape {tuple(x.shape)}"
            )
        self.check_input(x)
        b, _, t, h, w = x.shape
        if context.ndim == 3:
            queries = rearrange(x, "b c t h w -> b (t h w) c")
            out = self.attend_tokens(queries, context, mask=self._mask(context_mask, context.shape[:2], where))
            return rearrange(out, "b (t h w) c -> b c t h w", t=t, h=h, w=w)
        if context.ndim != 4 or context.shape[1] != t:
            raise ValueError(
                f"{where}: context must be (B, M, context_dim) or per-frame (B, T={t}, M, context_dim), "
                f"got shape {tuple(context.shape)}"
            )
        mask = self._mask(context_mask, context.shape[:3], where)
        queries = rearrange(x, "b c t h w -> (b t) (h w) c")
        out = self.attend_tokens(queries, rearrange(context, "b t m c -> (b t) m c"), mask=mask)
        return rearrange(out, "(b t) (h w) c -> b c t h w", b=b, h=h, w=w)

    def _attend_decoupled(self, x: Tensor, context: Tensor, added: Tensor, context_mask: Tensor | None,
                          where: str) -> Tensor:
        """Tokens ``x`` ``(B, N, dim)`` against ``context`` and ``added`` tokens, the two attentions summed."""
        if x.ndim != 3 or x.shape[-1] != self.dim or context.ndim != 3:
            raise ValueError(f"{where}: with added_context, x must be tokens (B, N, dim={self.dim}) and context "
                             f"(B, M, context_dim), got x {tuple(x.shape)}, context {tuple(context.shape)}")
        if added.ndim != 3 or added.shape[0] != x.shape[0] or added.shape[-1] != self.added_context_dim:
            raise ValueError(f"{where}: added_context must be (B, M', added_context_dim) = ({x.shape[0]}, M', "
                             f"{self.added_context_dim}), got {tuple(added.shape)}")
        q = self.project_q(x)
        k, v = self.project_kv(context)
        out = self.core(q, k, v, mask=self._mask(context_mask, context.shape[:2], where))
        k_added = self.split_heads(self.add_k_proj(added), self.norm_added_k)
        return self.output(out + self.core(q, k_added, self.split_heads(self.add_v_proj(added))))

    @staticmethod
    def _mask(context_mask: Tensor | None, expected: torch.Size, where: str) -> Tensor | None:
        """``context_mask`` ``(B, [T,] M)`` -> boolean ``(B·[T], 1, 1, M)`` for ``attend``."""
        if context_mask is None:
            return None
        if tuple(context_mask.shape) != tuple(expected) or context_mask.dtype != torch.bool:
            raise ValueError(
                f"{where}: context_mask must be a boolean tensor of shape {tuple(expected)} (True = real token), "
                f"got {context_mask.dtype} {tuple(context_mask.shape)}"
            )
        return rearrange(context_mask.reshape(-1, expected[-1]), "b m -> b 1 1 m")

    def flops(self, x_shape: tuple[int, ...], context_len: int = 77, *, include_projections: bool = False,
              per_frame_context: bool = False) -> float:
        """Forward FLOPs: every query token against ``context_len`` context tokens."""
        shape = tuple(int(s) for s in x_shape)
        if len(shape) == 3:
            b, queries, frames = shape[0], shape[1], 1
        elif len(shape) == 5:
            b, queries, frames = shape[0], shape[2] * shape[3] * shape[4], shape[2]
        else:
            raise ValueError(f"x_shape must be B C T H W or B N C, got {shape}")
        total = self.attention_flops(b, queries, context_len)
        kv_tokens = b * context_len * (frames if per_frame_context else 1)
        return total + (self.projection_flops(b * queries, kv_tokens) if include_projections else 0.0)
