"""Multi-head attention projections shared by every attention variant.

A variant decides which tokens are queries and which are keys/values (by folding a ``B C T H W`` video with an
einops pattern); this class owns the projections and calls the one attention core, ``attend``. Every variant has
the same parameter names (``to_q``, ``to_k``, ``to_v``, ``to_out``; ``norm_q``/``norm_k`` with qk-norm), so weights
move between variants (e.g. an image model's spatial attention becomes Tune-A-Video's sparse-causal attention).

    Q = x W_q,  K = c W_k,  V = c W_v,  out = concat_h(softmax(Q_h K_hᵀ / √d) V_h) W_out    (c = x for self-attention)
"""

from __future__ import annotations

from torch import Tensor, nn

from ..checks import check_video
from .backends import attend, attention_flops, check_backend_name


class MultiHeadAttention(nn.Module):
    """Token attention ``(B, N, dim) -> (B, N, dim)`` on the attention core.

    Args:
        dim: token width (channels C of the video).
        num_heads: number of heads; ``head_dim`` defaults to ``dim // num_heads`` and
            ``num_heads * head_dim`` must equal ``dim``.
        context_dim: width of key/value tokens when they come from a context (cross-attention); default ``dim``.
        qkv_bias: bias on the q/k/v projections.
        qk_norm: LayerNorm over each head's q and k (stabilises large models).
        zero_init: zero the output projection so the module outputs 0 at init (a residual branch is identity).
        dropout: dropout on the attention weights and the output, in training only.
        backend: attention backend name (``attention_backend/<name>``) or ``"auto"``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        head_dim: int | None = None,
        *,
        context_dim: int | None = None,
        qkv_bias: bool = False,
        qk_norm: bool = False,
        zero_init: bool = False,
        dropout: float = 0.0,
        backend: str = "auto",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        if dim <= 0 or num_heads <= 0:
            raise ValueError(f"{where}: dim and num_heads must be positive, got dim={dim}, num_heads={num_heads}")
        if head_dim is None:
            if dim % num_heads:
                raise ValueError(f"{where}: dim={dim} must be divisible by num_heads={num_heads}")
            head_dim = dim // num_heads
        elif num_heads * head_dim != dim:
            raise ValueError(
                f"{where}: num_heads × head_dim must equal dim, got {num_heads} × {head_dim} = "
                f"{num_heads * head_dim} != dim={dim}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{where}: dropout must be in [0, 1), got {dropout}")
        check_backend_name(backend, argument="backend", where=where)
        factory = {"device": device, "dtype": dtype}
        context_dim = dim if context_dim is None else context_dim
        self.dim, self.num_heads, self.head_dim, self.context_dim = dim, num_heads, head_dim, context_dim
        self.dropout, self.backend = dropout, backend
        self.to_q = nn.Linear(dim, dim, bias=qkv_bias, **factory)
        self.to_k = nn.Linear(context_dim, dim, bias=qkv_bias, **factory)
        self.to_v = nn.Linear(context_dim, dim, bias=qkv_bias, **factory)
        self.norm_q = nn.LayerNorm(head_dim, **factory) if qk_norm else nn.Identity()
        self.norm_k = nn.LayerNorm(head_dim, **factory) if qk_norm else nn.Identity()
        self.to_out = nn.Linear(dim, dim, **factory)
        self.out_dropout = nn.Dropout(dropout)
        if zero_init:
            nn.init.zeros_(self.to_out.weight)
            nn.init.zeros_(self.to_out.bias)

    def project_q(self, x: Tensor) -> Tensor:
        """Query heads ``(B, num_heads, N, head_dim)`` of tokens ``x`` ``(B, N, dim)`` (qk-norm applied)."""
        q = self.to_q(x)  # b n (h d) -> b h n d (a view; plain torch: einops' per-call cost showed in profiles)
        return self.norm_q(q.view(*q.shape[:-1], self.num_heads, self.head_dim).transpose(-3, -2))

    def project_kv(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """Key and value heads ``(B, num_heads, M, head_dim)`` of tokens ``context`` ``(B, M, context_dim)``."""
        if context.shape[-1] != self.context_dim:
            raise ValueError(
                f"{type(self).__name__}: context must have width context_dim={self.context_dim}, "
                f"got {context.shape[-1]} (shape {tuple(context.shape)})"
            )
        k, v = self.to_k(context), self.to_v(context)  # b m (h d) -> b h m d (views, as einops would give)
        k = k.view(*k.shape[:-1], self.num_heads, self.head_dim).transpose(-3, -2)
        v = v.view(*v.shape[:-1], self.num_heads, self.head_dim).transpose(-3, -2)
        return self.norm_k(k), v

    def attend_heads(self, q: Tensor, k: Tensor, v: Tensor, *, mask: Tensor | None = None,
                     causal: bool = False) -> Tensor:
        """The attention core on projected heads, then the output projection: ``(B, N, dim)``.

        ``mask`` is boolean (True = attend) or additive (a position bias), broadcastable to ``(B, num_heads, N, M)``.
        """
        out = attend(
            q, k, v, mask=mask, causal=causal, backend=self.backend,
            dropout_p=self.dropout if self.training else 0.0,
        )
        merged = out.transpose(1, 2).reshape(out.shape[0], out.shape[2], -1)  # b h n d -> b n (h d)
        return self.out_dropout(self.to_out(merged))

    def attend_tokens(
        self,
        x: Tensor,
        context: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        causal: bool = False,
    ) -> Tensor:
        """``x`` ``(B, N, dim)`` attends to ``context`` ``(B, M, context_dim)`` (``x`` itself when None).

        ``mask`` is boolean or additive, broadcastable to ``(B, num_heads, N, M)``. Returns ``(B, N, dim)``.
        """
        context = x if context is None else context
        if context.shape[0] != x.shape[0]:
            raise ValueError(
                f"{type(self).__name__}: context batch {context.shape[0]} must match the query batch {x.shape[0]}"
            )
        k, v = self.project_kv(context)
        return self.attend_heads(self.project_q(x), k, v, mask=mask, causal=causal)

    def attention_flops(self, batch: int, n_q: int, n_k: int, *, causal: bool = False) -> float:
        """``4·batch·num_heads·n_q·n_k·head_dim`` (halved when causal): one ``attend`` call's forward FLOPs."""
        return attention_flops(batch, self.num_heads, n_q, n_k, self.head_dim, causal=causal)

    def projection_flops(self, q_tokens: int, kv_tokens: int) -> float:
        """Forward FLOPs of the projections: q and out over ``q_tokens`` tokens, k and v over ``kv_tokens``."""
        return 2.0 * self.dim * (2 * q_tokens * self.dim + 2 * kv_tokens * self.context_dim)

    def check_input(self, x: Tensor) -> None:
        check_video(x, channels=self.dim, where=type(self).__name__)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, head_dim={self.head_dim}, backend={self.backend!r}"
