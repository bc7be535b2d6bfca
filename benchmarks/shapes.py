"""Shape tables per registry kind, and how a registry entry's tiny config is scaled up to them.

Three tiers: ``quick`` uses each entry's own ``tiny`` config and ``inputs(tiny, frames=T, batch=B, generator=g)``
(smoke runs, CI); ``cpu`` is sized so the CPU suites finish in minutes on 2 cores; ``gpu`` is the recipe shapes of
docs/perf.md §3.3/§6/§8: SD-1.5 spatial levels with head dims 40/80/160, temporal attention over F ∈ {8, 16, 25} frames
with B·H·W large (2·64·64 positions × 8 heads = 65,536 rows, one past the CUDA grid limit), full spacetime at
16 × 32 × 32 tokens, sparse-causal / cross-frame at 24 frames of 64 × 64, text cross-attention with 77 tokens.

Tables are keyed by the entry's *name* with a ``"*"`` default, so a newly registered variant is benchmarked at the
default shape without an edit here; add a row only to give it its recipe shape.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Shape:
    """One benchmark shape: the video ``(batch, C, frames, height, width)`` and the config overrides."""

    batch: int
    frames: int
    height: int
    width: int
    channels: int | None = None
    head_dim: int | None = None
    context_len: int | None = None
    extra: dict = field(default_factory=dict, hash=False)

    @property
    def label(self) -> str:
        parts = [f"B{self.batch}", f"T{self.frames}", f"{self.height}x{self.width}"]
        if self.channels:
            parts.append(f"C{self.channels}")
        if self.head_dim:
            parts.append(f"d{self.head_dim}")
        if self.context_len:
            parts.append(f"ctx{self.context_len}")
        parts += [f"{key}={value}" for key, value in self.extra.items() if key in LABELLED_OPTIONS]
        return " ".join(parts)


# options that change the computation, not only its size: a shape row with them is labelled so
LABELLED_OPTIONS = ("position", "qk_norm")
# Wan's self-attention (3-D RoPE, RMS qk-norm across heads) [V-code: diffusers transformer_wan.py]
WAN_ATTENTION = {"position": "rope", "qk_norm": "rms_across_heads", "qkv_bias": True}


def _attn(batch, frames, hw, channels, head_dim, **kw) -> Shape:
    return Shape(batch, frames, hw, hw, channels, head_dim, **kw)


ATTENTION = {
    "gpu": {
        "spatial": [_attn(2, 16, 64, 320, 40), _attn(2, 16, 32, 640, 80), _attn(2, 16, 16, 1280, 160)],
        "temporal": [_attn(2, f, 64, 320, 40) for f in (8, 16, 25)],
        "spacetime": [_attn(1, 16, 32, 512, 64), _attn(1, 16, 32, 1024, 128),
                      # Wan 2.1 1.3B at 480p (832×480, 81 frames: 21×30×52 = 32,760 tokens, 12 heads of 128) and
                      # 14B at 720p (1280×720: 21×45×80 = 75,600 tokens, 40 heads of 128) [V-code: Wan2.1 configs]
                      Shape(1, 21, 30, 52, 1536, 128, extra=WAN_ATTENTION),
                      Shape(1, 21, 45, 80, 5120, 128, extra=WAN_ATTENTION)],
        "sparse_causal": [_attn(1, 24, 64, 320, 40)],
        # sparse video attention at Wan 2.1 1.3B 480p (21×30×52 tokens) and HunyuanVideo 720p (129 frames, 1280×720:
        # 33×45×80 = 118,800 tokens, 24 heads of 128) [V-code: Tencent/HunyuanVideo]; tiles dividing those grids
        "sliding_tile": [Shape(1, 21, 30, 52, 1536, 128, extra={**WAN_ATTENTION, "tile": [3, 6, 4], "window": [3, 3, 3]}),
                         Shape(1, 33, 45, 80, 3072, 128, extra={**WAN_ATTENTION, "tile": [3, 5, 8],
                                                                 "window": [3, 3, 3]})],
        "radial": [Shape(1, 21, 30, 52, 1536, 128, extra=WAN_ATTENTION),
                   Shape(1, 33, 45, 80, 3072, 128, extra=WAN_ATTENTION)],
        "sparse_videogen": [Shape(1, 21, 30, 52, 1536, 128, extra=WAN_ATTENTION),
                            Shape(1, 33, 45, 80, 3072, 128, extra=WAN_ATTENTION)],
        "video_sparse": [Shape(1, 21, 30, 52, 1536, 128, extra={**WAN_ATTENTION, "tile": [3, 6, 4]}),
                         Shape(1, 33, 45, 80, 3072, 128, extra={**WAN_ATTENTION, "tile": [3, 5, 8]})],
        "cross_frame": [_attn(1, 24, 64, 320, 40)],
        "fully_cross_frame": [_attn(1, 24, 64, 320, 40)],
        "cross": [_attn(2, 16, 64, 320, 40, context_len=77, extra={"context_dim": 768})],
        # joint text-video attention at the published video token counts (its inputs are tokens, 6 per frame row:
        # frames = N / 6), the entry's own 5 text tokens (the published 256 / 226 add 0.4% / 2.6% to the FLOPs):
        # HunyuanVideo 720p 118,800 tokens, 24 heads of 128, per-stream projections, RMS qk-norm [V-code: diffusers
        # transformer_hunyuan_video.py]; CogVideoX 5B 13×30×45 = 17,550 tokens, 48 heads of 64, shared projections,
        # LayerNorm qk-norm, [text ; video] [V-code: diffusers transformer_cogvideox.py]. Attention-core FLOPs per
        # forward call, counted on meta (counting.probe) = 4·H·N²·D: 173.4 T / 3.79 T here, 174.2 T / 3.88 T at the
        # published 256 / 226 text tokens. `python -m benchmarks attention --device cuda` times them
        "joint": [Shape(1, 118_800 // 6, 1, 1, 3072, 128, extra={"separate_context": True, "qk_norm": "rms"}),
                  Shape(1, 17_550 // 6, 1, 1, 3072, 64, extra={"separate_context": False, "qk_norm": "layer",
                                                                   "context_first": True})],
        "*": [_attn(1, 16, 32, 320, 40)],
    },
    "cpu": {
        "spatial": [_attn(1, 4, 16, 320, 40), _attn(1, 4, 16, 640, 80), _attn(1, 4, 8, 1280, 160)],
        "temporal": [_attn(1, f, 8, 320, 40) for f in (8, 16, 25)],
        "spacetime": [_attn(1, 8, 8, 512, 64), _attn(1, 8, 8, 512, 64, extra=WAN_ATTENTION)],
        "cross": [_attn(1, 8, 8, 320, 40, context_len=77, extra={"context_dim": 768})],
        # the spacetime rows' clip (8×8×8 tokens) under each sparse pattern, plain and Wan-style (RoPE, RMS qk-norm)
        "sliding_tile": [_attn(1, 8, 8, 512, 64, extra={"tile": [2, 4, 4], "window": [3, 1, 1]}),
                         _attn(1, 8, 8, 512, 64, extra={**WAN_ATTENTION, "tile": [2, 4, 4], "window": [3, 1, 1]})],
        "radial": [_attn(1, 8, 8, 512, 64, extra={"block_size": 16}),
                   _attn(1, 8, 8, 512, 64, extra={**WAN_ATTENTION, "block_size": 16})],
        "sparse_videogen": [_attn(1, 8, 8, 512, 64), _attn(1, 8, 8, 512, 64, extra=WAN_ATTENTION)],
        "video_sparse": [_attn(1, 8, 8, 512, 64, extra={"tile": [2, 4, 4], "sparsity": 0.75}),
                         _attn(1, 8, 8, 512, 64, extra={**WAN_ATTENTION, "tile": [2, 4, 4], "sparsity": 0.75})],
        "*": [_attn(1, 8, 8, 320, 40)],
    },
}

# Convolutions and blocks: SD-1.5 UNet levels on GPU, a small level on CPU. Head dim applies to blocks with attention.
CONV = {
    "gpu": {"*": [Shape(1, 16, 64, 64, 320, 40), Shape(1, 16, 32, 32, 640, 80)]},
    "cpu": {"*": [Shape(1, 8, 16, 16, 64, 32)]},
}
BLOCK = {
    "gpu": {"*": [Shape(1, 16, 64, 64, 320, 40), Shape(1, 16, 32, 32, 640, 80)],
            # one-shot causal temporal down-sampling takes 1 + 2k frames (frame 0 alone, then pairs)
            "wan_causal_down": [Shape(1, 17, 64, 64, 320, 40), Shape(1, 17, 32, 32, 640, 80)]},
    "cpu": {"*": [Shape(1, 8, 16, 16, 64, 32)], "wan_causal_down": [Shape(1, 9, 16, 16, 64, 32)]},
}

# Constructor keywords that are channel widths: scaled together so ratios in the tiny config are kept.
CHANNEL_KEYS = ("dim", "channels", "in_channels", "out_channels", "hidden_dim", "inner_dim", "mid_channels",
                "out_dim", "emb_dim", "emb_channels", "temb_channels", "temb_dim", "time_embed_dim", "cond_dim",
                "context_dim")


def shapes_for(table: dict, name: str, tier: str) -> list[Shape | None]:
    """Shapes of entry ``name`` at ``tier``; ``[None]`` in the quick tier (tiny config and the entry's own inputs)."""
    if tier == "quick":
        return [None]
    rows = table[tier]
    return list(rows.get(name, rows["*"]))


def _accepts(obj, key: str) -> bool:
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return False
    return key in params


def scaled_config(obj, tiny: dict, shape: Shape | None) -> dict:
    """The tiny config scaled to ``shape``: channel keys by one factor, heads from ``head_dim``, extras if accepted."""
    cfg = dict(tiny)
    if shape is None:
        return cfg
    base_key = next((k for k in CHANNEL_KEYS if isinstance(cfg.get(k), int)), None)
    if shape.channels and base_key:
        factor = shape.channels / cfg[base_key]
        for key in CHANNEL_KEYS:
            if isinstance(cfg.get(key), int):
                cfg[key] = max(1, round(cfg[key] * factor))
    if shape.head_dim and shape.channels:
        if "num_heads" in cfg:
            cfg["num_heads"] = max(1, shape.channels // shape.head_dim)
        if "head_dim" in cfg:
            cfg["head_dim"] = shape.head_dim
    for key, value in shape.extra.items():
        if key in cfg or _accepts(obj, key):
            cfg[key] = value
    return cfg
