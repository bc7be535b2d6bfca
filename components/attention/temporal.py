"""Temporal attention: each pixel attends across frames (VDM, Imagen Video, Make-A-Video, Video LDM, SVD, Lumiere)."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from ..embed.sinusoidal import sinusoidal_embedding
from ..registry import BadInput, build, register
from .base import MultiHeadAttention
from .common import BAD_INPUTS, TINY, VIDEO_INPUTS, video_shape


POSITIONS = ("none", "relative", "sinusoidal", "rope")


def joint_image_video_mask(num_frames: int, num_image_frames: int, *, device=None) -> Tensor:
    """``(T, T)`` boolean mask of VDM's joint image–video training (True = may attend).

    The first ``T − num_image_frames`` frames are the video and attend among themselves; each of the last
    ``num_image_frames`` frames is an independent image and attends only to itself (identity rows and columns).
    """
    video = num_frames - num_image_frames
    index = torch.arange(num_frames, device=device)
    is_video = index < video
    mask = is_video[:, None] & is_video[None, :]
    return mask | torch.eye(num_frames, dtype=torch.bool, device=device)


@register(
    "attention", "temporal", paper="Ho et al. 2022 (VDM); Blattmann et al. 2023 (SVD)",
    tiny=TINY, inputs=VIDEO_INPUTS, properties=("permutation_equivariant",),
    bad_inputs=BAD_INPUTS + (
        BadInput(match="position", init={"position": "alibi"}, why="unknown position scheme"),
        BadInput(match="num_image_frames", why="more image frames than frames",
                 inputs=lambda cfg: ((torch.zeros(1, cfg["dim"], 2, 4, 4),), {"num_image_frames": 3})),
    ),
)
class TemporalAttention(MultiHeadAttention):
    """Self-attention over the T frames at each spatial position, H·W folded into the batch.

    Shapes: ``x`` ``(B, C, T, H, W)`` -> ``(B, C, T, H, W)``; tokens
    ``rearrange(x, "b c t h w -> (b h w) t c")``, queries and keys/values both the T frames of one pixel. The folded
    batch is large (B·H·W sequences of length T); the attention core chunks it above the CUDA launch limit.

    Args:
        position: frame-position information (without it the module is permutation-equivariant over frames):
            ``"none"`` (Tune-A-Video, Make-A-Video);
            ``"relative"``: a learned per-head T5-bucketed bias of the frame offset j − i added to the logits
            (VDM: only offsets matter), ``relative_bias`` (``embed/relative_temporal_bias``), ``num_buckets`` /
            ``max_distance`` as T5;
            ``"sinusoidal"``: ``x_t + MLP(sinusoid(t))`` added to the tokens before q/k/v, sinusoid ``[cos | sin]``
            (``sinusoidal_embedding(flip_sin_to_cos=True)``, SVD's ``timestep_embedding`` of the frame index), MLP
            ``dim -> 4·dim -> dim`` with SiLU (SVD's ``time_pos_embed``), ``frame_pos_embed``; appended image
            frames get position 0;
            ``"rope"``: 3-D rotary positions on q and k (``MultiHeadAttention``), of which only the frame axis
            varies within a sequence.
        causal: frame i attends only to frames j <= i.
        (other arguments: ``MultiHeadAttention``; ``zero_init=True`` makes a residual temporal branch start as
        identity, as every inflated model does.)

    Forward: ``forward(x, num_image_frames=0)``: the last ``num_image_frames`` frames are independent images
    appended for VDM's joint image–video training; each attends only to itself, video frames only among video
    frames (``joint_image_video_mask``).
    """

    POSITIONS = POSITIONS

    def __init__(self, dim: int, num_heads: int = 8, head_dim: int | None = None, *, position: str = "none",
                 causal: bool = False, num_buckets: int = 32, max_distance: int = 32, **kwargs) -> None:
        super().__init__(dim, num_heads, head_dim, position=position, **kwargs)
        self.causal = causal
        factory = {"device": kwargs.get("device"), "dtype": kwargs.get("dtype")}
        if position == "relative":
            self.relative_bias = build("embed/relative_temporal_bias", num_heads=self.num_heads,
                                       num_buckets=num_buckets, max_distance=max_distance, **factory)
        elif position == "sinusoidal":
            if dim % 2:
                raise ValueError(f"TemporalAttention: position='sinusoidal' needs an even dim, got dim={dim}")
            self.frame_pos_embed = nn.Sequential(
                nn.Linear(dim, 4 * dim, **factory), nn.SiLU(), nn.Linear(4 * dim, dim, **factory)
            )

    def frame_mask(self, num_frames: int, num_image_frames: int = 0, *, dtype=None, device=None) -> Tensor | None:
        """The ``attend`` mask over frames: the relative bias (additive, ``(1, heads, T, T)``), the image-frame mask
        (boolean ``(T, T)``), both (the bias with ``-inf`` where attention is forbidden) or None."""
        bias = self.relative_bias(num_frames)[None].to(dtype) if self.position == "relative" else None
        if not num_image_frames:
            return bias
        allowed = joint_image_video_mask(num_frames, num_image_frames, device=device)
        return allowed if bias is None else bias.masked_fill(~allowed, float("-inf"))

    def forward(self, x: Tensor, num_image_frames: int = 0) -> Tensor:
        self.check_input(x)
        b, _, t, h, w = x.shape
        if not 0 <= num_image_frames <= t:
            raise ValueError(
                f"TemporalAttention: num_image_frames must be in [0, T={t}] (the last frames of the clip), "
                f"got {num_image_frames}"
            )
        tokens = rearrange(x, "b c t h w -> (b h w) t c")
        if self.position == "sinusoidal":
            # an appended image is a one-frame clip: position 0, so it sees exactly what it would see alone
            frames = torch.arange(t, device=x.device)
            positions = frames.masked_fill(frames >= t - num_image_frames, 0)
            sinusoid = sinusoidal_embedding(positions, self.dim, flip_sin_to_cos=True).to(x.dtype)
            tokens = tokens + self.frame_pos_embed(sinusoid)
        mask = self.frame_mask(t, num_image_frames, dtype=x.dtype, device=x.device)
        out = self.attend_tokens(tokens, mask=mask, causal=self.causal,
                                 rope=self.rope_tables(x, "b c t h w -> (b h w) t c"))
        return rearrange(out, "(b h w) t c -> b c t h w", b=b, h=h, w=w)

    def flops(self, x_shape: tuple[int, ...], *, include_projections: bool = False) -> float:
        """Forward FLOPs: B·H·W sequences of T frames (masks cost a dense kernel; causal halves)."""
        b, t, h, w = video_shape(x_shape)
        total = self.attention_flops(b * h * w, t, t, causal=self.causal)
        return total + (self.projection_flops(b * t * h * w, b * t * h * w) if include_projections else 0.0)
