"""Multi-head attention projections shared by every attention variant.

A variant decides which tokens are queries and which are keys/values (by folding a ``B C T H W`` video with an
einops pattern); this class owns the projections and calls the one attention core, ``attend``. Every variant has
the same parameter names (``to_q``, ``to_k``, ``to_v``, ``to_out``; ``norm_q``/``norm_k`` with qk-norm), so weights
move between variants (e.g. an image model's spatial attention becomes Tune-A-Video's sparse-causal attention).

    Q = x W_q,  K = c W_k,  V = c W_v,  out = concat_h(softmax(Q_h K_hᵀ / √d) V_h) W_out    (c = x for self-attention)

Two options act on Q and K between the projection and the core, for every variant alike:

* QK normalisation (``qk_norm``): a LayerNorm or RMSNorm per head (Open-Sora, CogVideoX / HunyuanVideo), or an
  RMSNorm over all heads' channels before the head split (Wan), ``Q <- norm_q(Q)``, ``K <- norm_k(K)``;
* rotary positions (``position="rope"``, Su et al. 2021): ``Q_i <- R(p_i) Q_i``, ``K_j <- R(p_j) K_j`` with ``p`` a
  token's ``(t, h, w)`` and R the 3-D rotation of ``embed/rope_3d``, so ``Q_iᵀ K_j`` depends on ``p_j − p_i`` only.
  A variant folds the position tables (``RoPE3d.video_tables``) with the same einops pattern as its tokens, so each
  query and key keeps its own position whatever sequences the variant cuts the clip into.
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn

from ..checks import check_video
from ..embed.rope import RoPE3d, apply_rope
from .backends import attend, attention_flops, check_backend_name
from .context_parallel import active_shard


# qk_norm setting -> kind; the default epsilons follow the models that use each (LayerNorm: torch's 1e-5 as
# Open-Sora; RMSNorm: 1e-6 as Wan and HunyuanVideo [V-code: diffusers transformer_wan.py, transformer_hunyuan_video.py])
QK_NORMS = {False: "none", "none": "none", True: "layer", "layer": "layer", "rms": "rms",
            "rms_across_heads": "rms_across_heads"}
_QK_EPS = {"layer": 1e-5, "rms": 1e-6, "rms_across_heads": 1e-6}


def qk_norm_kind(qk_norm, where: str) -> str:
    """The kind of a ``qk_norm`` setting (``False``/``"none"``, ``True``/``"layer"``, ``"rms"``,
    ``"rms_across_heads"``); ValueError for anything else."""
    try:
        return QK_NORMS[qk_norm]
    except (KeyError, TypeError):
        raise ValueError(f"{where}: qk_norm must be one of False, True, 'layer', 'rms', 'rms_across_heads', got "
                         f"{qk_norm!r}") from None


def qk_norm_module(kind: str, head_dim: int, num_heads: int, eps: float | None, factory: dict) -> nn.Module:
    """The norm of one of q / k: per head (width ``head_dim``) or across heads (width ``num_heads·head_dim``)."""
    eps = _QK_EPS.get(kind, 0.0) if eps is None else eps
    if kind == "layer":
        return nn.LayerNorm(head_dim, eps=eps, **factory)
    if kind == "rms":
        return nn.RMSNorm(head_dim, eps=eps, **factory)
    if kind == "rms_across_heads":
        return nn.RMSNorm(num_heads * head_dim, eps=eps, **factory)
    return nn.Identity()


class MultiHeadAttention(nn.Module):
    """Token attention ``(B, N, dim) -> (B, N, dim)`` on the attention core.

    Args:
        dim: token width (channels C of the video).
        num_heads: number of heads; ``head_dim`` defaults to ``dim // num_heads`` and
            ``num_heads * head_dim`` must equal ``dim``.
        context_dim: width of key/value tokens when they come from a context (cross-attention); default ``dim``.
        qkv_bias: bias on the q/k/v projections.
        qk_norm: normalise q and k (stabilises large models): ``True``/``"layer"`` LayerNorm per head, ``"rms"``
            RMSNorm per head (HunyuanVideo), ``"rms_across_heads"`` RMSNorm over all heads' channels (Wan);
            ``qk_norm_eps`` overrides the epsilon (default 1e-5 LayerNorm, 1e-6 RMSNorm).
        position: ``"none"`` or ``"rope"``: rotary positions on q and k by each token's ``(t, h, w)`` (``embed/rope_3d``
            with ``rope_axes_dim`` (default ``default_axes_dim``), ``rope_theta``, ``rope_max_positions``; tables
            precomputed at build). Variants whose tokens carry no video position (``attention/cross``) refuse it.
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
        qk_norm: bool | str = False,
        qk_norm_eps: float | None = None,
        position: str = "none",
        rope_axes_dim: tuple[int, int, int] | None = None,
        rope_theta: float = 10000.0,
        rope_max_positions: int = 1024,
        zero_init: bool = False,
        dropout: float = 0.0,
        backend: str = "auto",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        if position not in self.POSITIONS:
            raise ValueError(f"{where}: position must be one of {self.POSITIONS}, got {position!r}")
        kind = qk_norm_kind(qk_norm, where)
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
        self.qk_norm, self.qk_norm_eps = kind, qk_norm_eps
        self.norm_q = qk_norm_module(kind, head_dim, num_heads, qk_norm_eps, factory)
        self.norm_k = qk_norm_module(kind, head_dim, num_heads, qk_norm_eps, factory)
        self.position = position
        self.rope = (RoPE3d(head_dim, rope_axes_dim, rope_theta, max_positions=rope_max_positions)
                     if position == "rope" else None)
        self.to_out = nn.Linear(dim, dim, **factory)
        self.out_dropout = nn.Dropout(dropout)
        if zero_init:
            nn.init.zeros_(self.to_out.weight)
            nn.init.zeros_(self.to_out.bias)

    # the position schemes a variant accepts (``position=``); a variant without video positions narrows it
    POSITIONS: tuple[str, ...] = ("none", "rope")

    def split_heads(self, x: Tensor, norm: nn.Module | None = None) -> Tensor:
        """``(B, N, num_heads·head_dim) -> (B, num_heads, N, head_dim)`` (a view; plain torch: einops' per-call cost
        showed in profiles), ``norm`` applied across heads before or per head after the split by its width."""
        across = norm is not None and self.qk_norm == "rms_across_heads"
        x = norm(x) if across else x
        x = x.view(*x.shape[:-1], self.num_heads, self.head_dim).transpose(-3, -2)
        return norm(x) if norm is not None and not across else x

    def project_q(self, x: Tensor) -> Tensor:
        """Query heads ``(B, num_heads, N, head_dim)`` of tokens ``x`` ``(B, N, dim)`` (qk-norm applied)."""
        return self.split_heads(self.to_q(x), self.norm_q)

    def project_kv(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """Key and value heads ``(B, num_heads, M, head_dim)`` of tokens ``context`` ``(B, M, context_dim)``."""
        if context.shape[-1] != self.context_dim:
            raise ValueError(
                f"{type(self).__name__}: context must have width context_dim={self.context_dim}, "
                f"got {context.shape[-1]} (shape {tuple(context.shape)})"
            )
        return self.split_heads(self.to_k(context), self.norm_k), self.split_heads(self.to_v(context))

    def rope_tables(self, x: Tensor, pattern: str, **axes) -> tuple[Tensor, Tensor] | None:
        """The position tables of video ``x`` ``(B, C, T, H, W)`` folded by the einops ``pattern`` its tokens are
        folded with (written for ``b c t h w``; the tables are one video, ``b = 1``): ``(S, N, head_dim)`` each, or
        None without ``position="rope"``."""
        if self.rope is None:
            return None
        cos, sin = self.rope.video_tables(tuple(x.shape[2:]), x.device)
        return rearrange(cos, pattern, **axes), rearrange(sin, pattern, **axes)

    def apply_rope(self, x: Tensor, rope: tuple[Tensor, Tensor] | None) -> Tensor:
        """Heads ``(B', num_heads, N, head_dim)`` rotated by ``rope`` tables ``(N, D)`` or ``(S, N, D)`` (None: as is)."""
        return x if rope is None else apply_rope(x, *rope)

    def output(self, out: Tensor) -> Tensor:
        """Attention output heads ``(B, num_heads, N, head_dim)`` -> ``(B, N, dim)``: merged, projected (dropout in
        training)."""
        merged = out.transpose(1, 2).reshape(out.shape[0], out.shape[2], -1)  # b h n d -> b n (h d)
        return self.out_dropout(self.to_out(merged))

    # set by ``set_context_parallel`` on the self-attentions of a net that shards its token sequence
    sequence_sharded = False

    def core(self, q: Tensor, k: Tensor, v: Tensor, *, mask: Tensor | None = None, causal: bool = False) -> Tensor:
        """The attention core on projected heads: ``(B, num_heads, N, head_dim)`` (no output projection). Inside a
        net's sharded forward (``sequence_sharded``), N is this rank's shard and the core runs Ulysses / Ring
        attention over the whole sequence (``context_parallel.sharded_attention``)."""
        shard = active_shard() if self.sequence_sharded else None
        if shard is not None:
            return shard.attend(q, k, v, mask=mask, causal=causal, backend=self.backend,
                                dropout_p=self.dropout if self.training else 0.0)
        return attend(q, k, v, mask=mask, causal=causal, backend=self.backend,
                      dropout_p=self.dropout if self.training else 0.0)

    def attend_heads(self, q: Tensor, k: Tensor, v: Tensor, *, mask: Tensor | None = None,
                     causal: bool = False) -> Tensor:
        """The attention core on projected heads, then the output projection: ``(B, N, dim)``.

        ``mask`` is boolean (True = attend) or additive (a position bias), broadcastable to ``(B, num_heads, N, M)``.
        """
        return self.output(self.core(q, k, v, mask=mask, causal=causal))

    def attend_tokens(
        self,
        x: Tensor,
        context: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        causal: bool = False,
        rope: tuple[Tensor, Tensor] | None = None,
        rope_k: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """``x`` ``(B, N, dim)`` attends to ``context`` ``(B, M, context_dim)`` (``x`` itself when None).

        ``mask`` is boolean or additive, broadcastable to ``(B, num_heads, N, M)``. ``rope``: ``(cos, sin)`` fp32
        tables ``(N, head_dim)`` or ``(S, N, head_dim)`` (``apply_rope``) rotating the queries, and the keys of
        self-attention unless ``rope_k`` gives the keys' own. Returns ``(B, N, dim)``.
        """
        self_attention = context is None
        context = x if context is None else context
        if context.shape[0] != x.shape[0]:
            raise ValueError(
                f"{type(self).__name__}: context batch {context.shape[0]} must match the query batch {x.shape[0]}"
            )
        k, v = self.project_kv(context)
        q = self.apply_rope(self.project_q(x), rope)
        k = self.apply_rope(k, rope_k if rope_k is not None or not self_attention else rope)
        return self.attend_heads(q, k, v, mask=mask, causal=causal)

    def attention_flops(self, batch: int, n_q: int, n_k: int, *, causal: bool = False) -> float:
        """``4·batch·num_heads·n_q·n_k·head_dim`` (halved when causal): one ``attend`` call's forward FLOPs."""
        return attention_flops(batch, self.num_heads, n_q, n_k, self.head_dim, causal=causal)

    def projection_flops(self, q_tokens: int, kv_tokens: int) -> float:
        """Forward FLOPs of the projections: q and out over ``q_tokens`` tokens, k and v over ``kv_tokens``."""
        return 2.0 * self.dim * (2 * q_tokens * self.dim + 2 * kv_tokens * self.context_dim)

    def check_input(self, x: Tensor) -> None:
        check_video(x, channels=self.dim, where=type(self).__name__)

    def extra_repr(self) -> str:
        extra = "".join(f", {name}={value!r}" for name, value, default in (
            ("qk_norm", self.qk_norm, "none"), ("position", self.position, "none")) if value != default)
        return f"dim={self.dim}, num_heads={self.num_heads}, head_dim={self.head_dim}, backend={self.backend!r}{extra}"
