"""Slow, obvious reference implementations of every attention variant (explicit loops, softmax written out).

Each reference reads the module's weights and recomputes its output one query set at a time, choosing the keys by
the paper's rule in plain Python, so a folding bug (wrong einops axis, wrong key frame) cannot hide in both.
"""

from __future__ import annotations

import torch

from components.embed.relative_bias import relative_position_bucket


def softmax_attention(module, queries, keys, *, bias=None, allowed=None):
    """``queries`` ``(N, dim)`` attend to ``keys`` ``(M, context_dim)`` with ``module``'s weights -> ``(N, dim)``.

    ``bias`` ``(heads, N, M)`` is added to the logits; ``allowed`` ``(N, M)`` boolean masks keys out.
    """
    heads, d = module.num_heads, module.head_dim
    q = module.to_q(queries).reshape(len(queries), heads, d)
    k = module.to_k(keys).reshape(len(keys), heads, d)
    v = module.to_v(keys).reshape(len(keys), heads, d)
    q, k = module.norm_q(q), module.norm_k(k)
    outs = []
    for h in range(heads):
        logits = q[:, h] @ k[:, h].T / d**0.5
        if bias is not None:
            logits = logits + bias[h]
        if allowed is not None:
            logits = logits.masked_fill(~allowed, float("-inf"))
        weights = torch.exp(logits - logits.max(dim=-1, keepdim=True).values)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        outs.append(weights @ v[:, h])
    return module.to_out(torch.cat(outs, dim=-1))


def frame_tokens(x, b, t):
    """``(H·W, C)`` tokens of frame t of video b, raster order."""
    return x[b, :, t].reshape(x.shape[1], -1).T


def _write_frame(out, b, t, tokens):
    out[b, :, t] = tokens.T.reshape(out.shape[1], *out.shape[3:])


def spatial(module, x):
    out = torch.empty_like(x)
    for b in range(x.shape[0]):
        for t in range(x.shape[2]):
            tok = frame_tokens(x, b, t)
            _write_frame(out, b, t, softmax_attention(module, tok, tok))
    return out


def spacetime(module, x):
    return fully_cross_frame(module, x, key_frames=None)


def fully_cross_frame(module, x, key_frames=None):
    out = torch.empty_like(x)
    frames = range(x.shape[2]) if key_frames is None else [f % x.shape[2] for f in key_frames]
    for b in range(x.shape[0]):
        keys = torch.cat([frame_tokens(x, b, f) for f in frames])
        for t in range(x.shape[2]):
            _write_frame(out, b, t, softmax_attention(module, frame_tokens(x, b, t), keys))
    return out


def cross_frame(module, x):
    return fully_cross_frame(module, x, key_frames=[0])


def sparse_causal(module, x):
    """Tune-A-Video: K/V = [frame 0, frame i − 1], frame 0 using [0, 0]."""
    out = torch.empty_like(x)
    for b in range(x.shape[0]):
        for t in range(x.shape[2]):
            keys = torch.cat([frame_tokens(x, b, 0), frame_tokens(x, b, max(t - 1, 0))])
            _write_frame(out, b, t, softmax_attention(module, frame_tokens(x, b, t), keys))
    return out


def temporal(module, x, num_image_frames=0):
    bsz, _, frames, height, width = x.shape
    video = frames - num_image_frames
    allowed = torch.zeros(frames, frames, dtype=torch.bool)
    for i in range(frames):
        for j in range(frames):
            both_video = i < video and j < video
            allowed[i, j] = (both_video or i == j) and (j <= i or not module.causal)
    bias = None
    if module.position == "relative":
        table = module.relative_bias.table.weight  # (buckets, heads)
        bias = torch.empty(module.num_heads, frames, frames)
        for i in range(frames):
            for j in range(frames):
                bucket = relative_position_bucket(torch.tensor(j - i), module.relative_bias.num_buckets,
                                                  module.relative_bias.max_distance)
                bias[:, i, j] = table[bucket]
    out = torch.empty_like(x)
    for b in range(bsz):
        for yy in range(height):
            for xx in range(width):
                tokens = x[b, :, :, yy, xx].T  # (T, C)
                if module.position == "sinusoidal":
                    half = module.dim // 2
                    pos = torch.tensor([float(i if i < video else 0) for i in range(frames)])[:, None]
                    angles = pos * torch.tensor([10_000.0 ** (-k / half) for k in range(half)])[None]
                    tokens = tokens + module.frame_pos_embed(torch.cat([angles.cos(), angles.sin()], dim=-1))
                out[b, :, :, yy, xx] = softmax_attention(module, tokens, tokens, bias=bias, allowed=allowed).T
    return out


def windowed(module, x):
    bsz, _, frames, height, width = x.shape
    wt, wh, ww = module.window_size(frames, height, width)
    out = torch.empty_like(x)
    for b in range(bsz):
        for t0 in range(0, frames, wt):
            for y0 in range(0, height, wh):
                for x0 in range(0, width, ww):
                    cells = [(t, y, xx) for t in range(t0, t0 + wt) for y in range(y0, y0 + wh)
                             for xx in range(x0, x0 + ww)]
                    tokens = torch.stack([x[b, :, t, y, xx] for t, y, xx in cells])
                    result = softmax_attention(module, tokens, tokens)
                    for (t, y, xx), value in zip(cells, result):
                        out[b, :, t, y, xx] = value
    return out


def cross(module, x, context):
    """Every frame's tokens attend to the context (shared ``(B, M, c)`` or per-frame ``(B, T, M, c)``)."""
    out = torch.empty_like(x)
    for b in range(x.shape[0]):
        for t in range(x.shape[2]):
            keys = context[b] if context.ndim == 3 else context[b, t]
            _write_frame(out, b, t, softmax_attention(module, frame_tokens(x, b, t), keys))
    return out
