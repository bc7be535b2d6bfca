"""Pair-by-pair references of the sparse video attentions: each rule written on token coordinates in plain Python,
dense softmax under the resulting per-head mask (extends attention_reference.py, whose projection and RoPE it uses)."""

from __future__ import annotations

import math

import attention_reference as ref
import torch


def cells(grid):
    t, h, w = grid
    return [(a, b, c) for a in range(t) for b in range(h) for c in range(w)]


def heads(module, x, b):
    """q, k, v ``(N, heads, D)`` of clip b (tokens in (t h w) order), qk-normed and rotated as the module does."""
    tokens = x[b].reshape(x.shape[1], -1).T
    q, k, v = ref.project(module, tokens, tokens)
    if module.rope is not None:
        pos = cells(x.shape[2:])
        q, k = (ref.rotate(z, pos, module.rope.axes_dim, module.rope.theta) for z in (q, k))
    return q, k, v


def masked(q, k, v, allowed):
    """Per head ``allowed[h]`` ``(N, N)``: softmax written out -> ``(N, heads·D)``."""
    outs = []
    for h in range(q.shape[1]):
        logits = (q[:, h] @ k[:, h].T / q.shape[-1] ** 0.5).masked_fill(~allowed[h], float("-inf"))
        weights = torch.exp(logits - logits.max(dim=-1, keepdim=True).values)
        outs.append(weights / weights.sum(dim=-1, keepdim=True) @ v[:, h])
    return torch.cat(outs, dim=-1)


def run(module, x, rule, extra=None):
    """``module``'s output recomputed: ``rule(b, h, q_cell, k_cell) -> bool`` per pair; ``extra(b, q, k, v, tokens)``
    adds to the merged heads before ``to_out`` (VSA's gated coarse branch)."""
    out = torch.empty_like(x)
    grid = cells(x.shape[2:])
    for b in range(x.shape[0]):
        q, k, v = heads(module, x, b)
        allowed = torch.tensor([[[rule(b, h, i, j) for j in grid] for i in grid] for h in range(module.num_heads)])
        merged = masked(q, k, v, allowed)
        if extra is not None:
            merged = merged + extra(b, q, k, v, x[b].reshape(x.shape[1], -1).T)
        out[b] = module.to_out(merged).T.reshape(x.shape[1:])
    return out


def window_start(i, w, n):
    return min(max(i - w // 2, 0), n - w)


def sliding_tile(module, x):
    t, h, w = x.shape[2:]
    tile, n = module.tile, (t // module.tile[0], h // module.tile[1], w // module.tile[2])
    win = [min(a, b) for a, b in zip(module.window, n)]

    def rule(b, head, qc, kc):
        qt, kt = [c // s for c, s in zip(qc, tile)], [c // s for c, s in zip(kc, tile)]
        return all(window_start(a, wa, na) <= ka < window_start(a, wa, na) + wa
                   for a, ka, wa, na in zip(qt, kt, win, n))

    return run(module, x, rule)


def radial(module, x, block):
    _, h, w = x.shape[2:]
    s = h * w

    def rule(b, head, qc, kc):
        d = abs(qc[0] - kc[0])
        if kc[0] < module.sink_frames or d == 0:
            return True
        width = module.decay_factor * 2 ** s.bit_length() / 2 ** d.bit_length()
        if width < block and d % max(1, int(block / width)):
            return False
        reach = max(1, int(width // block))
        return abs((qc[1] * w + qc[2]) // block - (kc[1] * w + kc[2]) // block) <= reach

    return run(module, x, rule)


def sparse_videogen(module, x, choice):
    """``choice`` ``(B, heads)`` True = spatial (the module's ``last_choice``, checked separately)."""
    w = x.shape[4]

    def rule(b, head, qc, kc):
        if choice[b, head]:
            return abs(qc[0] - kc[0]) <= module.frame_window
        return abs((qc[1] * w + qc[2]) - (kc[1] * w + kc[2])) <= module.position_window

    return run(module, x, rule)


def sparse_videogen_choice(module, x):
    """The per-head choice recomputed: MSE of the sampled rows' spatial / temporal outputs against dense."""
    t, h, w = x.shape[2:]
    n = t * h * w
    rows = sorted({round(i * (n - 1) / max(min(module.num_samples, n) - 1, 1)) for i in range(min(module.num_samples, n))})
    grid = cells((t, h, w))
    out = torch.zeros(x.shape[0], module.num_heads, dtype=torch.bool)
    for b in range(x.shape[0]):
        q, k, v = heads(module, x, b)
        qs = q[rows]
        errs = []
        for rule in (lambda i, j: abs(i[0] - j[0]) <= module.frame_window,
                     lambda i, j: abs((i[1] * w + i[2]) - (j[1] * w + j[2])) <= module.position_window,
                     lambda i, j: True):
            allowed = torch.tensor([[rule(grid[r], j) for j in grid] for r in rows])
            errs.append(masked(qs, k, v, allowed.expand(module.num_heads, -1, -1)).view(len(rows), module.num_heads, -1))
        mse = [((e - errs[2]) ** 2).mean(dim=(0, 2)) for e in errs[:2]]
        out[b] = mse[0] <= mse[1]
    return out


def video_sparse(module, x):
    t, h, w = x.shape[2:]
    tile = module.tile
    grid = cells((t, h, w))
    cube = [tuple(c // s for c, s in zip(cell, tile)) for cell in grid]
    cubes = sorted(set(cube))
    members = {c: [i for i, cc in enumerate(cube) if cc == c] for c in cubes}
    top = max(1, math.ceil((1 - module.sparsity) * len(cubes)))
    chosen = {}

    def pooled(z, b):
        return torch.stack([z[members[c]].mean(0) for c in cubes])  # (n_cubes, heads, D)

    def extra(b, q, k, v, tokens):
        qc, kc, vc = pooled(q, b), pooled(k, b), pooled(v, b)
        gate = module.to_gate_compress(tokens)
        coarse = []
        for head in range(module.num_heads):
            scores = qc[:, head] @ kc[:, head].T
            for i, c in enumerate(cubes):
                chosen[(b, head, c)] = {cubes[j] for j in scores[i].topk(top).indices.tolist()}
            coarse.append(torch.softmax(scores / q.shape[-1] ** 0.5, dim=-1) @ vc[:, head])
        per_cube = torch.cat(coarse, dim=-1)  # (n_cubes, heads·D)
        return gate * per_cube[[cubes.index(c) for c in cube]]

    # the selection needs the pooled scores first: compute them by a dry call of ``extra``
    for b in range(x.shape[0]):
        q, k, v = heads(module, x, b)
        extra(b, q, k, v, x[b].reshape(x.shape[1], -1).T)
    def cube_of(cell):
        return tuple(c // s for c, s in zip(cell, tile))

    return run(module, x, lambda b, head, i, j: cube_of(j) in chosen[(b, head, cube_of(i))], extra)
