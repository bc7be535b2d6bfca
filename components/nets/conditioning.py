"""What the assemblers share: the conditioning embedding, the forward-keyword check and gradient checkpointing.

The conditioning embedding is the sum every U-Net / DiT adds into its blocks (VDM §3: "conditioning (c and λ_t)
enters as an embedding vector added into every residual block, after a small MLP stack"; DiT §3.2: ``c = t_emb +
y_emb``)::

    emb = MLP_extra(TimestepEmbedding(t · time_scale)) + Embedding(class_labels) + MLP(added_cond)

Only the parts a net is configured for exist; each comes from a registered component or a torch/timm primitive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .. import registry


# context_mask: (B, M) True for real text tokens (HunyuanVideo's prompt mask); guidance: a distilled guidance scale
# the net embeds (HunyuanVideo's guidance embedding)
COND_KEYWORDS = ("context", "concat", "added_cond", "class_labels", "frame_mask", "control", "image_context",
                 "context_mask", "guidance")


class ConditioningEmbedding(nn.Module):
    """``(t (B,), class_labels (B,) | None, added_cond (B, added_cond_dim) | None) -> (B, dim)``.

    Per-token timesteps ``t`` ``(B, N)`` (Wan 2.2 TI2V: the first frame's tokens at t = 0) give ``(B, N, dim)``; the
    class and ``added_cond`` embeddings are per sample and broadcast over the tokens.

    Args:
        dim: embedding width.
        freq_dim: width of the timestep sinusoid (``embed/timestep``).
        flavour: ``embed/timestep`` flavour (``"dit"``: DiT's MLP and init; ``"unet"``: diffusers').
        mlp_layers: total Linear layers on the timestep path (even, >= 2; VDM uses 2 or 4): the timestep embedding
            has 2, each further pair is a ``Linear–SiLU–Linear`` (timm ``Mlp``) after a SiLU.
        time_scale: ``t`` is multiplied by it before the sinusoid (1000 for continuous t in [0, 1], 1 for indices).
        num_classes: class-label table size (``None``: no class input); ``class_dropout_prob > 0`` adds one "null"
            row (index ``num_classes``) used for classifier-free guidance and, in training, for a random
            ``class_dropout_prob`` fraction of labels (DiT's ``LabelEmbedder``).
        added_cond_dim: width of a conditioning vector (pooled text, fps, ...) fed through ``Linear–SiLU–Linear``.
        added_cond_embed, added_cond_embed_kwargs: a registry key embedding ``added_cond`` instead of that MLP, built
            with ``dim=dim`` and the kwargs (SVD: ``embed/micro_cond``, ``{"freq_dim": 256, "num_scalars": 3}``).
    """

    def __init__(self, dim: int, *, freq_dim: int = 256, flavour: str = "dit", mlp_layers: int = 2,
                 time_scale: float = 1.0, num_classes: int | None = None, class_dropout_prob: float = 0.0,
                 added_cond_dim: int | None = None, added_cond_embed: str | None = None,
                 added_cond_embed_kwargs: dict | None = None, device=None, dtype=None) -> None:
        from timm.layers import Mlp  # lazy: timm is slow to import (tests/test_startup.py)

        super().__init__()
        if mlp_layers < 2 or mlp_layers % 2:
            raise ValueError(f"ConditioningEmbedding: emb_mlp_layers must be an even number >= 2, got {mlp_layers}")
        if not 0.0 <= class_dropout_prob < 1.0:
            raise ValueError(f"ConditioningEmbedding: class_dropout_prob must be in [0, 1), got {class_dropout_prob}")
        factory = {"device": device, "dtype": dtype}
        self.dim, self.time_scale = dim, time_scale
        self.num_classes, self.class_dropout_prob, self.added_cond_dim = num_classes, class_dropout_prob, added_cond_dim
        self.timestep = registry.build("embed/timestep", dim=dim, freq_dim=freq_dim, flavour=flavour, **factory)
        self.extra = nn.Sequential(*[
            nn.Sequential(nn.SiLU(), Mlp(dim, dim, dim, act_layer=nn.SiLU, **factory))
            for _ in range(mlp_layers // 2 - 1)
        ])
        self.class_embed = None
        if num_classes is not None:
            rows = num_classes + (1 if class_dropout_prob > 0 else 0)
            self.class_embed = nn.Embedding(rows, dim, **factory)
            nn.init.normal_(self.class_embed.weight, std=0.02)
        self.added = (
            None if added_cond_dim is None
            else registry.build(added_cond_embed, dim=dim, **(added_cond_embed_kwargs or {}), **factory)
            if added_cond_embed is not None
            else Mlp(added_cond_dim, dim, dim, act_layer=nn.SiLU, **factory)
        )

    def forward(self, t: Tensor, class_labels: Tensor | None = None, added_cond: Tensor | None = None) -> Tensor:
        emb = self.extra(self.timestep(t.reshape(-1) * self.time_scale)).view(*t.shape, self.dim)
        b = t.shape[0]
        if self.class_embed is not None:
            if class_labels is None:
                if self.class_dropout_prob == 0:
                    raise ValueError("class_labels (B,) are required: the model was built with num_classes")
                class_labels = torch.full((b,), self.num_classes, dtype=torch.long, device=t.device)
            if class_labels.shape != (b,) or class_labels.is_floating_point():
                raise ValueError(f"class_labels must be integer labels of shape (B,) = ({b},), "
                                 f"got {class_labels.dtype} {tuple(class_labels.shape)}")
            if self.training and self.class_dropout_prob > 0:
                drop = torch.rand(b, device=t.device) < self.class_dropout_prob
                class_labels = torch.where(drop, torch.full_like(class_labels, self.num_classes), class_labels)
            emb = emb + _per_sample(self.class_embed(class_labels), emb)
        if self.added is not None:
            if added_cond is None or added_cond.shape != (b, self.added_cond_dim):
                got = None if added_cond is None else tuple(added_cond.shape)
                raise ValueError(f"added_cond must have shape (B, added_cond_dim) = ({b}, {self.added_cond_dim}), "
                                 f"got {got}")
            emb = emb + _per_sample(self.added(added_cond.to(emb.dtype)), emb)
        return emb


def _per_sample(e: Tensor, emb: Tensor) -> Tensor:
    """A per-sample ``(B, dim)`` embedding, broadcast over the tokens of a per-token ``(B, N, dim)`` one."""
    return e[:, None] if emb.ndim == 3 else e


def timesteps_for(t, x: Tensor, where: str, tokens: int | None = None) -> Tensor:
    """``t`` as a ``(B,)`` tensor on ``x``'s device: a python number or 0-D tensor is broadcast over the batch.

    ``tokens``: the net also takes per-token timesteps ``(B, tokens)`` (Wan 2.2 TI2V), returned as they are.
    """
    b = x.shape[0]
    t = torch.as_tensor(t, device=x.device)
    if t.ndim == 0:
        t = t.expand(b)
    if t.shape != (b,) and (tokens is None or t.shape != (b, tokens)):
        shapes = f"(B,) = ({b},)" + ("" if tokens is None else f" or per token (B, N) = ({b}, {tokens})")
        raise ValueError(f"{where}: t must be a scalar or shape {shapes}, got shape {tuple(t.shape)}")
    return t if t.is_floating_point() else t.float()


def check_cond_keywords(cond: dict, supported: Iterable[str], where: str) -> None:
    """Unknown keywords are a ``TypeError``; known ones this net does not take are a ``ValueError`` saying why."""
    supported = tuple(supported)
    for name in cond:
        if name not in COND_KEYWORDS:
            raise TypeError(f"{where}: unknown conditioning keyword {name!r}; conditioning keywords are "
                            f"{', '.join(COND_KEYWORDS)} (this model takes: {', '.join(supported) or 'none'})")
        if name not in supported and cond[name] is not None:
            raise ValueError(f"{where}: this model was not built to take {name!r} (it takes: "
                             f"{', '.join(supported) or 'no conditioning'}); see its constructor arguments")


def maybe_checkpoint(enabled: bool, fn: Callable, *args):
    """``fn(*args)``, recomputed in the backward pass (activation checkpointing) when ``enabled``."""
    if enabled and torch.is_grad_enabled():
        return checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)
