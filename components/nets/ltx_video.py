"""LTX-Video's diffusion transformer (HaCohen et al. 2024, "LTX-Video: Realtime Video Latent Diffusion",
arXiv 2501.00103): ``SpaceTimeDiT`` with LTX's options (``net/ltx_video_transformer``).
[V-code: diffusers transformer_ltx.py ``LTXVideoTransformer3DModel``]

LTX denoises the latents of its 1:192 VAE (32×32×8 pixels -> 128 channels), so each latent voxel is one token
(patch (1, 1, 1)); otherwise it is PixArt-α's adaLN-single DiT, as Wan, on full spacetime attention::

    tokens = Linear(x voxel)                                   patch (1, 1, 1): (B, 128, T, H, W) -> (B, T·H·W, D)
    e      = MLP(sinusoid(t · time_scale)),  c = Linear(SiLU(e))   256 frequencies; c (B, 6·D) shared by the blocks
    text   = Linear-GELU(tanh)-Linear(T5 tokens)               (B, 128, 4096) -> (B, 128, D)
    x = x + gate₁ ⊙ SelfAttn(RMS(x)·(1 + scale₁) + shift₁)     RMSNorm on q, k across heads; LTX RoPE (below)
    x = x + CrossAttn(x, text)                                 no norm before it; RMSNorm on q, k
    x = x + gate₂ ⊙ FFN(RMS(x)·(1 + scale₂) + shift₂)          tanh-GELU, 4·D
    out    = Linear(LN(tokens)·(1 + scale) + shift),  (shift, scale) = table + e

The rotary positions rotate the full width D before the head split, each axis with F = ⌊D/6⌋ frequencies of
``embed/rope_3d``'s ``"ltx"`` spectrum ω_f = (π/2)·θ^(f/(F−1)) at the position scaled to [−1, 1] by the frame rate::

    p'_a = 2 · p_a · s_a / base_a − 1,   s = (vae_t / frame_rate, vae_s, vae_s),  base = (20, 2048, 2048)

so a token's time coordinate is in seconds (LTX trains on mixed frame rates) and its space coordinate in pixels;
channels are ordered (frequency, axis, pair) and the D mod 6 leftover channels are not rotated (cos 1, sin 0).
Sliced per head the tables are per-head ``(1, heads, N, head_dim)``.

Shapes: ``model(x, t, context=, context_mask=)``, ``x`` ``(B, in_channels, T, H, W)``, ``t`` ``(B,)`` (×
``time_scale``: 1 for diffusers' timesteps 1000·σ, 1000 for σ ∈ [0, 1]), ``context`` ``(B, L, context_dim)``,
``context_mask`` ``(B, L)`` True / 1 for real T5 tokens (diffusers' ``encoder_attention_mask``; default all real: the
cross-attentions hide the padding) -> ``(B, out_channels, T, H, W)``, the flow-matching velocity. diffusers adds
−10000 to the padded tokens' logits, we drop them: the same in fp32 (e^−10000 underflows to 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from einops import rearrange
from torch import Tensor, nn

from ..embed.rope import RoPE3d
from ..embed.sincos import grid_positions
from ..registry import BadInput, register
from .dit import SpaceTimeDiT
from .dit_parts import dit_inputs, dit_output_shape


__all__ = ["LTX_VIDEO_SIZES", "LTXRotaryTables", "LTXVideoTransformer"]

# LTX-Video 0.9 (2B) [V-code: diffusers LTXVideoTransformer3DModel defaults = Lightricks/LTX-Video transformer
# config.json: 32 heads × 64, 28 layers, cross_attention_dim 2048, caption_channels 4096, 128 latent channels]
LTX_VIDEO_SIZES = {"ltx_video_0.9": dict(in_channels=128, hidden_dim=2048, depth=28, num_heads=32, context_dim=4096)}
TINY = dict(in_channels=4, hidden_dim=32, depth=2, num_heads=2, context_dim=16)
# the frame-rate scaling's bases [V-code: LTXVideoRotaryPosEmbed(base_num_frames=20, base_height=2048,
# base_width=2048)] and LTX's VAE factors (temporal 8, spatial 32)
ROPE_BASE = (20.0, 2048.0, 2048.0)


class LTXRotaryTables(nn.Module):
    """LTX-Video's rotary ``(cos, sin)`` tables of a ``(T, H, W)`` token grid, each ``(1, heads, N, head_dim)`` fp32
    (see the module docstring), from ``embed/rope_3d``'s ``frequencies`` with the ``"ltx"`` spectrum; the last grid's
    tables are kept."""

    def __init__(self, dim: int, num_heads: int, *, scale: Sequence[float], base: Sequence[float] = ROPE_BASE,
                 theta: float = 10000.0) -> None:
        super().__init__()  # no parameters or buffers: fp32 tables computed per grid
        self.dim, self.num_heads, self.freqs = dim, num_heads, dim // 6
        self.scale = torch.tensor([float(s) / float(b) for s, b in zip(scale, base)], dtype=torch.float64)
        self.rope = RoPE3d(6 * self.freqs, (2 * self.freqs,) * 3, theta, max_positions=1, spectrum="ltx")
        self._last: tuple | None = None

    def tables(self, grid: Sequence[int], device=None) -> tuple[Tensor, Tensor]:
        key = (tuple(grid), torch.device(device or "cpu"))
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        positions = 2 * grid_positions(grid) * self.scale - 1  # (N, 3) in [−1, 1]
        pad = self.dim - 6 * self.freqs
        out = []
        for table, fill in zip(self.rope.frequencies(positions), (1.0, 0.0)):
            table = rearrange(table, "n (a f r) -> n (f a r)", a=3, r=2)
            table = torch.cat([table.new_full((table.shape[0], pad), fill), table], dim=-1)
            out.append(rearrange(table, "n (h d) -> 1 h n d", h=self.num_heads).contiguous().to(key[1]))
        self._last = (key, tuple(out))
        return self._last[1]


def _inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    (x, t), cond = dit_inputs({**cfg, "input_size": (1, 4, 4)}, frames, batch, generator)
    # the second sample's last text token is padding
    cond["context_mask"] = torch.tensor([[True, True, True], [True, True, False]])[:batch]
    return (x, t), cond


def _output_shape(cfg: dict, x, *args, **kwargs):
    return dit_output_shape({**cfg, "learn_sigma": False, "patch_size": (1, 1, 1)}, x)


def _bad(**cond):
    def make(cfg: dict):
        (x, t), good = _inputs(cfg, generator=torch.Generator().manual_seed(0))
        return (x, t), {**good, **cond}
    return make


@register(
    "net", "ltx_video_transformer", paper="HaCohen et al. 2024 (LTX-Video, arXiv 2501.00103)", tiny=TINY,
    inputs=_inputs, output_shape=_output_shape, tolerance={"bfloat16": 4e-2, "float16": 2e-2},
    bad_inputs=[
        BadInput(match="context must be tokens", inputs=_bad(context=torch.zeros(2, 3, 17)),
                 why="text tokens of the wrong width"),
        BadInput(match="context_mask must be", inputs=_bad(context_mask=torch.ones(2, 4, dtype=torch.bool)),
                 why="a padding mask for another text length"),
        BadInput(match="divisible by num_heads", init={"num_heads": 5}),
        BadInput(match="frame_rate must be", init={"frame_rate": 0}),
    ],
)
class LTXVideoTransformer(SpaceTimeDiT):
    """LTX-Video's DiT: ``(B, C, T, H, W), t, context, context_mask -> (B, C_out, T, H, W)`` (module docstring).

    Args:
        in_channels, out_channels: latent channels in / predicted (LTX: 128; default ``in_channels``).
        hidden_dim, depth, num_heads: width D, blocks, heads (LTX 0.9: 2048, 28, 32 × 64).
        context_dim: text-token width (T5-XXL: 4096).
        frame_rate: frames per second of the decoded video (the pipeline's ``frame_rate``, 25): the time
            coordinate's scale; vae_factors: the VAE's (temporal, spatial) compression (8, 32).
        rope_theta: θ (10000); time_scale: ``t`` is multiplied by it first.
        gradient_checkpointing, attention_backend: as ``net/space_time_dit``.
    """

    def __init__(self, in_channels: int = 128, out_channels: int | None = None, *, hidden_dim: int = 2048,
                 depth: int = 28, num_heads: int = 32, context_dim: int = 4096, frame_rate: float = 25.0,
                 vae_factors: Sequence[int] = (8, 32), rope_theta: float = 10000.0, time_scale: float = 1.0,
                 gradient_checkpointing: bool = False, attention_backend: str | None = None, device=None,
                 dtype=None) -> None:
        where = type(self).__name__
        if hidden_dim % num_heads:
            raise ValueError(f"{where}: hidden_dim={hidden_dim} must be divisible by num_heads={num_heads}")
        if not frame_rate > 0:
            raise ValueError(f"{where}: frame_rate must be > 0 (frames per second), got {frame_rate!r}")
        super().__init__(
            in_channels, out_channels or in_channels, learn_sigma=False, patch_size=(1, 1, 1),
            hidden_dim=hidden_dim, depth=depth, num_heads=num_heads, block_pattern="full", pos_embed="rope_3d",
            frequency_dim=256, time_scale=time_scale, qk_norm="rms_across_heads", context_dim=context_dim,
            modulation="adaln_single", upcast=False, gradient_checkpointing=gradient_checkpointing,
            block_kwargs=dict(norm="rms", qk_norm_eps=1e-5, context_qk_norm="rms_across_heads", context_norm=False),
            attention_backend=attention_backend, device=device, dtype=dtype,
        )
        vae_t, vae_s = vae_factors
        self.frame_rate = float(frame_rate)
        # diffusers' name for what frame_rate and vae_factors fix (LTXPipeline's micro-condition; the adapter checks it)
        self.rope_interpolation_scale = (vae_t / self.frame_rate, float(vae_s), float(vae_s))
        self.rope = LTXRotaryTables(hidden_dim, num_heads, scale=(vae_t / frame_rate, vae_s, vae_s),
                                    theta=rope_theta)
