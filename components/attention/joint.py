"""Joint ("MM-DiT") attention: video and text tokens in one sequence, one softmax over both.

Esser et al. 2024 (SD3, MM-DiT §2.2) as the open video models use it. The two streams keep their own token widths'
roles but attend jointly::

    Q = [Q_x ; Q_c],  K = [K_x ; K_c],  V = [V_x ; V_c]           (x: N video tokens, c: M text tokens)
    O = softmax(Q Kᵀ / √d) V,   [O_x ; O_c] = split(O),   out_x = O_x W_out,   out_c = O_c W_out^c

* **shared projections** (CogVideoX, Yang et al. 2024 §2.2 "expert transformer"; HunyuanVideo's single-stream
  blocks): ``Q_c = c W_q`` — the same ``to_q/to_k/to_v`` (and qk-norm, and ``to_out``) for both streams; the
  streams differ only in their modulation (``block/cogvideox``);
* **per-stream projections** (``separate_context=True``; HunyuanVideo's dual-stream blocks, SD3): the text stream
  has its own ``add_q_proj/add_k_proj/add_v_proj``, qk-norms ``norm_added_q/norm_added_k`` and ``to_add_out``.

Rotary positions (``rope=(cos, sin)``, ``embed/rope_3d`` tables ``(N, head_dim)``) rotate the **video** queries and keys
only; text tokens carry no position (CogVideoX, HunyuanVideo). ``context_first`` orders the sequence ``[c ; x]``
(CogVideoX) instead of ``[x ; c]`` (HunyuanVideo); the order changes nothing mathematically but is kept so the softmax
sums run in the peers' order. ``context_mask`` ``(B, M)`` (True = a real token) hides text padding from every query
(HunyuanVideo's prompt mask). ``project_out=False`` leaves the merged heads unprojected (HunyuanVideo's single-stream
blocks project them together with their MLP).

Mochi 1's asymmetric variant (Genmo 2024): the text stream is narrower than the video stream (``context_dim`` 1536 vs
``dim`` 3072): its projections map ``context_dim -> dim`` and ``to_add_out`` maps back ``dim -> context_dim``; and the
last block's text stream has no output (``context_pre_only``: no ``to_add_out``, the text tokens are keys and values
only, ``context_out`` is None) [V-code: diffusers attention_processor.py ``MochiAttention``, ``MochiAttnProcessor2_0``].
Per-head rotary tables ``(1, num_heads, N, head_dim)`` (Mochi's learned per-head frequencies) are taken as well.

Under context parallel (``set_context_parallel``) the video tokens are this rank's shard and the text stream is whole
on every rank: ``context_parallel.sharded_joint_attention`` (Ulysses / Ring; docs/context_parallel.md).

Parameter names are diffusers' (``to_q``, ``norm_q``, ``add_q_proj``, ``norm_added_q``, ``to_add_out``), so weights
convert by renaming only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..registry import BadInput, register
from .base import MultiHeadAttention, qk_norm_module
from .context_parallel import active_shard


def _inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    """Video tokens of a ``(frames, 2, 3)`` grid and 5 text tokens."""
    x = torch.randn(batch, frames * 6, cfg["dim"], generator=generator)
    c = torch.randn(batch, 5, cfg["dim"], generator=generator)
    return (x, c), {}


def _bad(change):
    def make(cfg: dict):
        (x, c), kwargs = _inputs(cfg)
        return change(cfg, x, c)
    return make


@register(
    "attention", "joint", paper="Esser et al. 2024 (SD3 MM-DiT); Yang et al. 2024 (CogVideoX); Kong et al. 2024 "
                                "(HunyuanVideo)",
    tiny=dict(dim=16, num_heads=2, separate_context=True, qk_norm="rms"), inputs=_inputs,
    bad_inputs=[
        BadInput(match="context must be tokens", why="text tokens of the wrong width",
                 inputs=_bad(lambda cfg, x, c: ((x, torch.zeros(2, 5, cfg["dim"] + 1)), {}))),
        BadInput(match="x must be tokens", why="a video instead of tokens",
                 inputs=_bad(lambda cfg, x, c: ((torch.zeros(2, cfg["dim"], 2, 2, 3), c), {}))),
        BadInput(match="context_mask", why="a mask of the wrong shape",
                 inputs=_bad(lambda cfg, x, c: ((x, c), {"context_mask": torch.ones(2, 4, dtype=torch.bool)}))),
        BadInput(match="rope", why="tables for another token count",
                 inputs=_bad(lambda cfg, x, c: ((x, c), {"rope": (torch.ones(7, 8), torch.zeros(7, 8))}))),
        BadInput(match="divisible by num_heads", init={"num_heads": 3}),
        BadInput(match="need separate_context=True", init={"separate_context": False, "context_dim": 8},
                 why="a narrower text stream through the video's shared projections"),
    ],
)
class JointAttention(MultiHeadAttention):
    """``(x (B, N, dim), context (B, M, dim)) -> (x_out (B, N, dim), context_out (B, M, dim))``: one attention over the
    concatenated sequence (see the module docstring).

    Args:
        dim, num_heads, head_dim, qkv_bias, qk_norm, qk_norm_eps, dropout, backend: as ``MultiHeadAttention``
            (CogVideoX: LayerNorm qk-norm eps 1e-6, biases; HunyuanVideo: RMSNorm eps 1e-6, biases).
        separate_context: the text stream's own projections, qk-norms and output projection (MM-DiT dual stream).
        context_first: the sequence is ``[context ; x]`` (CogVideoX) rather than ``[x ; context]`` (HunyuanVideo).
        project_out: apply the output projection(s) (False: HunyuanVideo's single-stream blocks, ``pre_only``).
        out_bias: bias on the output projection(s).
        zero_init: zero the output projection(s), so the module outputs 0 for both streams at init.
        context_dim: width of the text tokens (default ``dim``; another width needs ``separate_context``: Mochi 1536).
        context_pre_only: the text stream is keys and values only (Mochi's last block): no ``to_add_out``, no text
            queries are attended with, ``forward`` returns ``(x_out, None)``. ``add_q_proj`` / ``norm_added_q`` are
            still built (the checkpoints hold them) but frozen (``requires_grad=False``): nothing reads them.
    """

    POSITIONS = ("none",)  # rope tables come from the net (``rope=``): they rotate the video tokens only

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *, qkv_bias: bool = True,
                 qk_norm: bool | str = False, qk_norm_eps: float | None = None, separate_context: bool = False,
                 context_first: bool = False, project_out: bool = True, out_bias: bool = True,
                 zero_init: bool = False, context_dim: int | None = None, context_pre_only: bool = False,
                 dropout: float = 0.0, backend: str = "auto", device=None, dtype=None) -> None:
        if (context_dim not in (None, dim) or context_pre_only) and not separate_context:
            raise ValueError(f"JointAttention: context_dim={context_dim} != dim={dim} and context_pre_only="
                             f"{context_pre_only} need separate_context=True (the text stream's own projections)")
        super().__init__(dim, num_heads, head_dim, qkv_bias=qkv_bias, qk_norm=qk_norm, qk_norm_eps=qk_norm_eps,
                         dropout=dropout, backend=backend, device=device, dtype=dtype)
        factory = {"device": device, "dtype": dtype}
        self.separate_context, self.context_first, self.project_out = separate_context, context_first, project_out
        # the text tokens' width (MultiHeadAttention's ``context_dim`` is the k/v input width: the video's here)
        self.context_width, self.context_pre_only = dim if context_dim is None else context_dim, context_pre_only
        width = self.context_width
        if not project_out:
            self.to_out = nn.Identity()
        elif not out_bias:
            self.to_out = nn.Linear(dim, dim, bias=False, **factory)
        if separate_context:
            self.add_q_proj = nn.Linear(width, dim, bias=qkv_bias, **factory)
            self.add_k_proj = nn.Linear(width, dim, bias=qkv_bias, **factory)
            self.add_v_proj = nn.Linear(width, dim, bias=qkv_bias, **factory)
            self.norm_added_q = qk_norm_module(self.qk_norm, self.head_dim, num_heads, qk_norm_eps, factory)
            self.norm_added_k = qk_norm_module(self.qk_norm, self.head_dim, num_heads, qk_norm_eps, factory)
            self.to_add_out = (nn.Linear(dim, width, bias=out_bias, **factory) if project_out and not context_pre_only
                               else nn.Identity())
            if context_pre_only:  # the text queries feed only the text outputs, which nobody reads
                self.add_q_proj.requires_grad_(False)
                self.norm_added_q.requires_grad_(False)
        if zero_init:  # both output projections start at 0: a new joint branch outputs 0 for either stream
            for layer in (self.to_out, getattr(self, "to_add_out", None)):
                if isinstance(layer, nn.Linear):
                    nn.init.zeros_(layer.weight)
                    if layer.bias is not None:
                        nn.init.zeros_(layer.bias)

    def _context_heads(self, context: Tensor) -> tuple[Tensor | None, Tensor, Tensor]:
        if not self.separate_context:
            return self.project_q(context), *self.project_kv(context)
        return (None if self.context_pre_only else self.split_heads(self.add_q_proj(context), self.norm_added_q),
                self.split_heads(self.add_k_proj(context), self.norm_added_k),
                self.split_heads(self.add_v_proj(context)))

    def _check(self, x: Tensor, context: Tensor, rope, context_mask) -> None:
        where = type(self).__name__
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"{where}: x must be tokens (B, N, dim={self.dim}), got shape {tuple(x.shape)}")
        if context.ndim != 3 or context.shape[-1] != self.context_width or context.shape[0] != x.shape[0]:
            raise ValueError(f"{where}: context must be tokens (B, M, context_dim) = ({x.shape[0]}, M, "
                             f"{self.context_width}), got shape {tuple(context.shape)}")
        per_head = (1, self.num_heads, x.shape[1], self.head_dim)
        if rope is not None and tuple(rope[0].shape) not in ((x.shape[1], self.head_dim), per_head):
            raise ValueError(f"{where}: rope tables must be (N, head_dim) = ({x.shape[1]}, {self.head_dim}) or per "
                             f"head {per_head} for the video tokens, got {tuple(rope[0].shape)}")
        if context_mask is not None and tuple(context_mask.shape) != tuple(context.shape[:2]):
            raise ValueError(f"{where}: context_mask must be (B, M) = {tuple(context.shape[:2])}, got "
                             f"{tuple(context_mask.shape)}")

    def forward(self, x: Tensor, context: Tensor, *, rope: tuple[Tensor, Tensor] | None = None,
                context_mask: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """``x`` ``(B, N, dim)``, ``context`` ``(B, M, context_dim)``, ``rope`` ``(N, head_dim)`` (or per-head ``(1,
        num_heads, N, head_dim)``) tables for ``x``, ``context_mask`` ``(B, M)`` bool -> ``(B, N, dim)``, ``(B, M,
        context_dim)`` (None with ``context_pre_only``)."""
        self._check(x, context, rope, context_mask)
        n = x.shape[1]
        q, (k, v) = self.project_q(x), self.project_kv(x)
        q, k = self.apply_rope(q, rope), self.apply_rope(k, rope)
        qc, kc, vc = self._context_heads(context)
        shard = active_shard() if self.sequence_sharded else None
        if shard is not None:  # context parallel: x is this rank's shard of the video, the text is whole
            out_x, out_c = shard.attend_joint(q, k, v, qc, kc, vc, context_mask=context_mask,
                                              context_first=self.context_first, backend=self.backend,
                                              dropout_p=self.dropout if self.training else 0.0)
            return self._project(self.merge_heads(out_x), None if out_c is None else self.merge_heads(out_c))
        first, second = ((qc, kc, vc), (q, k, v)) if self.context_first else ((q, k, v), (qc, kc, vc))
        if qc is None:  # context_pre_only: the video tokens query [x ; context]
            k, v = (torch.cat(pair, dim=2) for pair in zip(first[1:], second[1:], strict=True))  # b h (n + m) d
        else:
            q, k, v = (torch.cat(pair, dim=2) for pair in zip(first, second, strict=True))  # b h (n + m) d
        mask = None
        if context_mask is not None:
            video = torch.ones(x.shape[0], n, dtype=torch.bool, device=x.device)
            keys = (context_mask.bool(), video) if self.context_first else (video, context_mask.bool())
            mask = torch.cat(keys, dim=1)[:, None, None, :]  # (B, 1, 1, N + M): padding hidden from every query
        out = self.merge_heads(self.core(q, k, v, mask=mask))
        if qc is None:
            return self._project(out, None)
        out_c, out_x = (out[:, :-n], out[:, -n:]) if self.context_first else (out[:, n:], out[:, :n])
        return self._project(out_x, out_c)

    @staticmethod
    def merge_heads(out: Tensor) -> Tensor:
        return out.transpose(1, 2).reshape(out.shape[0], out.shape[2], -1)  # b h n d -> b n (h d)

    def _project(self, out_x: Tensor, out_c: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Merged heads ``(B, N, dim)``, ``(B, M, dim)`` -> each stream's output projection (and dropout)."""
        if out_c is None:
            return self.out_dropout(self.to_out(out_x)), None
        to_c = self.to_add_out if self.separate_context else self.to_out
        return self.out_dropout(self.to_out(out_x)), self.out_dropout(to_c(out_c))

    def flops(self, x_shape: tuple[int, ...], context_len: int = 226, *, include_projections: bool = False) -> float:
        """Forward FLOPs of ``x`` tokens ``(B, N, dim)`` with ``context_len`` text tokens: one attention over N + M
        tokens (and q/k/v/out over all of them, either stream's projections)."""
        shape = tuple(int(s) for s in x_shape)
        if len(shape) != 3:
            raise ValueError(f"x_shape must be tokens B N dim, got {shape}")
        b, tokens = shape[0], shape[1] + int(context_len)
        total = self.attention_flops(b, tokens, tokens)
        return total + (self.projection_flops(b * tokens, b * tokens) if include_projections else 0.0)

    def check_input(self, x: Tensor) -> None:
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"{type(self).__name__}: x must be tokens (B, N, dim={self.dim}), got {tuple(x.shape)}")

    def extra_repr(self) -> str:
        extra = "".join(f", {name}={value!r}" for name, value, default in (
            ("context_dim", self.context_width, self.dim), ("context_pre_only", self.context_pre_only, False))
            if value != default)
        return (f"{super().extra_repr()}, separate_context={self.separate_context}, "
                f"context_first={self.context_first}, project_out={self.project_out}{extra}")
