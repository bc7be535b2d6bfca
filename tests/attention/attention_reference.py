"""Slow, obvious reference implementations of every attention variant (explicit loops, softmax written out).

Each reference reads the module's weights and recomputes its output one query set at a time, choosing the keys by
the paper's rule in plain Python, so a folding bug (wrong einops axis, wrong key frame) cannot hide in both.
"""

from __future__ import annotations

import torch

from components.embed.relative_bias import relative_position_bucket


def rotate(x, positions, axes_dim, theta):
    """RoPE written out: ``x`` ``(N, heads, D)``, ``positions`` list of N ``(t, h, w)``; pair ``(2m, 2m+1)`` of axis
    a's slice turns by ``p_a · θ^(−2m/d_a)`` (Su et al. 2021, eq. 34, one slice per axis)."""
    out = x.clone()
    for n, pos in enumerate(positions):
        start = 0
        for p_a, d_a in zip(pos, axes_dim):
            for m in range(d_a // 2):
                angle = torch.tensor(p_a * theta ** (-2 * m / d_a), dtype=torch.float64)
                c, s = float(angle.cos()), float(angle.sin())
                i = start + 2 * m
                a, b = x[n, :, i], x[n, :, i + 1]
                out[n, :, i], out[n, :, i + 1] = a * c - b * s, a * s + b * c
            start += d_a
    return out


def project(module, queries, keys):
    """q, k, v ``(N|M, heads, D)`` with the module's projections and qk-norm (across heads: before the split)."""
    heads, d = module.num_heads, module.head_dim
    q, k, v = module.to_q(queries), module.to_k(keys), module.to_v(keys)
    if module.qk_norm == "rms_across_heads":
        return (module.norm_q(q).reshape(len(q), heads, d), module.norm_k(k).reshape(len(k), heads, d),
                v.reshape(len(v), heads, d))
    q, k = module.norm_q(q.reshape(len(q), heads, d)), module.norm_k(k.reshape(len(k), heads, d))
    return q, k, v.reshape(len(v), heads, d)


def softmax_attention(module, queries, keys, *, bias=None, allowed=None, q_pos=None, k_pos=None):
    """``queries`` ``(N, dim)`` attend to ``keys`` ``(M, context_dim)`` with ``module``'s weights -> ``(N, dim)``.

    ``bias`` ``(heads, N, M)`` is added to the logits; ``allowed`` ``(N, M)`` boolean masks keys out; ``q_pos`` /
    ``k_pos`` (lists of ``(t, h, w)``) rotate q and k when the module has ``position="rope"``.
    """
    heads, d = module.num_heads, module.head_dim
    q, k, v = project(module, queries, keys)
    if getattr(module, "rope", None) is not None:
        rope = module.rope
        q, k = rotate(q, q_pos, rope.axes_dim, rope.theta), rotate(k, k_pos, rope.axes_dim, rope.theta)
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


def frame_positions(x, t):
    """The ``(t, h, w)`` of frame t's tokens, raster order."""
    return [(t, yy, xx) for yy in range(x.shape[3]) for xx in range(x.shape[4])]


def _write_frame(out, b, t, tokens):
    out[b, :, t] = tokens.T.reshape(out.shape[1], *out.shape[3:])


def spatial(module, x):
    out = torch.empty_like(x)
    for b in range(x.shape[0]):
        for t in range(x.shape[2]):
            tok, pos = frame_tokens(x, b, t), frame_positions(x, t)
            _write_frame(out, b, t, softmax_attention(module, tok, tok, q_pos=pos, k_pos=pos))
    return out


def spacetime(module, x):
    return fully_cross_frame(module, x, key_frames=None)


def fully_cross_frame(module, x, key_frames=None):
    out = torch.empty_like(x)
    frames = range(x.shape[2]) if key_frames is None else [f % x.shape[2] for f in key_frames]
    for b in range(x.shape[0]):
        keys = torch.cat([frame_tokens(x, b, f) for f in frames])
        k_pos = [p for f in frames for p in frame_positions(x, f)]
        for t in range(x.shape[2]):
            _write_frame(out, b, t, softmax_attention(module, frame_tokens(x, b, t), keys,
                                                      q_pos=frame_positions(x, t), k_pos=k_pos))
    return out


def cross_frame(module, x):
    return fully_cross_frame(module, x, key_frames=[0])


def sparse_causal(module, x):
    """Tune-A-Video: K/V = [frame 0, frame i − 1], frame 0 using [0, 0]."""
    out = torch.empty_like(x)
    for b in range(x.shape[0]):
        for t in range(x.shape[2]):
            keys = torch.cat([frame_tokens(x, b, 0), frame_tokens(x, b, max(t - 1, 0))])
            k_pos = frame_positions(x, 0) + frame_positions(x, max(t - 1, 0))
            _write_frame(out, b, t, softmax_attention(module, frame_tokens(x, b, t), keys,
                                                      q_pos=frame_positions(x, t), k_pos=k_pos))
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
                pos = [(t, yy, xx) for t in range(frames)]
                out[b, :, :, yy, xx] = softmax_attention(module, tokens, tokens, bias=bias, allowed=allowed,
                                                         q_pos=pos, k_pos=pos).T
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
                    result = softmax_attention(module, tokens, tokens, q_pos=cells, k_pos=cells)
                    for (t, y, xx), value in zip(cells, result):
                        out[b, :, t, y, xx] = value
    return out


def decoupled_cross(module, tokens, context, added):
    """Wan I2V: the same queries against the text and the image tokens, the two attentions summed, then W_out."""
    heads, d = module.num_heads, module.head_dim
    q, k, v = project(module, tokens, context)
    k_img = module.add_k_proj(added)
    k_img = (module.norm_added_k(k_img).reshape(len(added), heads, d) if module.qk_norm == "rms_across_heads"
             else module.norm_added_k(k_img.reshape(len(added), heads, d)))
    v_img = module.add_v_proj(added).reshape(len(added), heads, d)
    outs = []
    for h in range(heads):
        total = 0
        for kk, vv in ((k, v), (k_img, v_img)):
            weights = torch.softmax(q[:, h] @ kk[:, h].T / d**0.5, dim=-1)
            total = total + weights @ vv[:, h]
        outs.append(total)
    return module.to_out(torch.cat(outs, dim=-1))


def cross(module, x, context):
    """Every frame's tokens attend to the context (shared ``(B, M, c)`` or per-frame ``(B, T, M, c)``)."""
    out = torch.empty_like(x)
    for b in range(x.shape[0]):
        for t in range(x.shape[2]):
            keys = context[b] if context.ndim == 3 else context[b, t]
            _write_frame(out, b, t, softmax_attention(module, frame_tokens(x, b, t), keys))
    return out
