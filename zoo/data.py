"""Training videos: the embedded synthetic data set (moving shapes) and a folder of the user's own clips.

Every source yields ``C T H W`` clips with values in ``[-1, 1]`` and has one method the trainer calls,
``batch(step, batch_size) -> (batch_size, C, T, H, W)``, which is a pure function of ``(seed, step)``: a resumed run
sees exactly the batches it would have seen without the interruption, and every rank of a distributed run can draw
the same global batch and keep its own slice (so N ranks match one process with the same global batch).

    source = data_source("synthetic", channels=3, frames=8, size=16, seed=0)
    x = source.batch(step=0, batch_size=16)               # (16, 3, 8, 16, 16) in [-1, 1]
    ds = MovingShapes(num_clips=1000, frames=8, size=16)  # a torch Dataset of the same clips
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor
from torch.utils.data import Dataset


__all__ = ["MovingShapes", "SyntheticVideos", "VideoFolder", "data_source", "moving_shapes", "read_video"]

VIDEO_SUFFIXES = (".gif", ".mp4", ".webm", ".mov", ".avi", ".mkv")
_VIDEO_EXTRA = "pip install 'video-diffusion-zoo[video]'"


def seeded(seed: int, *salt: int) -> torch.Generator:
    """A CPU generator whose seed mixes ``seed`` with ``salt`` (e.g. a step or clip index) deterministically."""
    value = int(seed) & 0xFFFFFFFF
    for s in salt:  # splitmix-style mixing keeps nearby (seed, step) pairs far apart
        value = (value * 0x9E3779B97F4A7C15 + int(s) + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF
        value ^= value >> 31
    return torch.Generator().manual_seed(value & 0x7FFFFFFFFFFFFFFF)


def _bounce(p: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    """Fold positions ``p`` into ``[lo, hi]`` as a ball bouncing elastically off both walls (a triangle wave)."""
    span = (hi - lo).clamp_min(1e-6)
    u = torch.remainder(p - lo, 2 * span)
    return lo + span - (u - span).abs()


def moving_shapes(
    batch_size: int,
    *,
    frames: int = 8,
    size: int = 16,
    channels: int = 3,
    num_shapes: tuple[int, int] = (1, 2),
    radius: tuple[float, float] = (0.14, 0.24),
    speed: tuple[float, float] = (0.04, 0.10),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Clips of balls and squares bouncing off the walls: ``(batch_size, channels, frames, size, size)`` in [-1, 1].

    Per clip: ``num_shapes`` (inclusive range) shapes, each a ball or a square with a random radius (fraction of
    the side), start position, direction, speed (fraction of the side per frame) and colour (each channel in
    [-0.4, 1], so shapes stand out from the black (-1) background). Later shapes are painted over earlier ones;
    edges are anti-aliased over about one pixel, so motion is smooth at any ``size``. Rendered in one batched pass.
    """
    for name, value in (("batch_size", batch_size), ("frames", frames), ("size", size), ("channels", channels)):
        if not (isinstance(value, int) and value > 0):
            raise ValueError(f"moving_shapes: {name} must be a positive int, got {value!r}")
    lo_k, hi_k = num_shapes
    if not 1 <= lo_k <= hi_k:
        raise ValueError(f"moving_shapes: num_shapes must be (min, max) with 1 <= min <= max, got {num_shapes}")
    g, b, k = generator, batch_size, hi_k

    def uniform(lo: float, hi: float, *shape: int) -> Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=g)

    r = uniform(*radius, b, k)                                          # (B, K)
    start = r[..., None] + (1 - 2 * r[..., None]) * torch.rand(b, k, 2, generator=g)
    angle = uniform(0.0, 2 * math.pi, b, k)
    velocity = uniform(*speed, b, k)[..., None] * torch.stack([angle.cos(), angle.sin()], -1)
    colour = uniform(-0.4, 1.0, b, k, channels)
    is_square = torch.rand(b, k, generator=g) < 0.5
    count = torch.randint(lo_k, hi_k + 1, (b, 1), generator=g)
    present = torch.arange(k)[None] < count                             # (B, K)

    t = torch.arange(frames, dtype=torch.float32)
    rr = r[:, :, None, None]
    centre = _bounce(start[:, :, None] + velocity[:, :, None] * t[None, None, :, None], rr, 1 - rr)  # (B, K, T, 2)
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    dy = coords[None, None, None, :, None] - centre[..., 1, None, None]  # (B, K, T, H, 1)
    dx = coords[None, None, None, None, :] - centre[..., 0, None, None]  # (B, K, T, 1, W)
    round_dist = (dx.square() + dy.square()).sqrt()
    square_dist = torch.maximum(dx.abs(), dy.abs())
    dist = torch.where(is_square[:, :, None, None, None], square_dist, round_dist)
    cover = ((r[:, :, None, None, None] - dist) * size + 0.5).clamp(0, 1) * present[:, :, None, None, None]

    video = torch.full((b, channels, frames, size, size), -1.0)
    for i in range(k):  # painter's order: a later shape covers an earlier one
        a = cover[:, i, None]                                           # (B, 1, T, H, W)
        video = video * (1 - a) + colour[:, i, :, None, None, None] * a
    return video


class SyntheticVideos:
    """The embedded moving-shapes data as an endless, step-indexed source (what the trainer draws from)."""

    def __init__(self, *, channels: int = 3, frames: int = 8, size: int = 16, seed: int = 0, **shape_kwargs):
        self.channels, self.frames, self.size, self.seed = channels, frames, size, seed
        self.shape_kwargs = shape_kwargs
        moving_shapes(1, frames=frames, size=size, channels=channels, **shape_kwargs)  # validate arguments now

    def batch(self, step: int, batch_size: int) -> Tensor:
        """The global batch of ``step``: ``(batch_size, C, T, H, W)``, a pure function of ``(seed, step)``."""
        return moving_shapes(batch_size, frames=self.frames, size=self.size, channels=self.channels,
                             generator=seeded(self.seed, step), **self.shape_kwargs)

    def __repr__(self) -> str:
        return f"SyntheticVideos(channels={self.channels}, frames={self.frames}, size={self.size}, seed={self.seed})"


class MovingShapes(Dataset):
    """A fixed-size ``torch.utils.data.Dataset`` of moving-shapes clips; clip ``i`` depends only on ``(seed, i)``."""

    def __init__(self, num_clips: int = 1024, *, channels: int = 3, frames: int = 8, size: int = 16, seed: int = 0,
                 **shape_kwargs):
        if num_clips <= 0:
            raise ValueError(f"MovingShapes: num_clips must be positive, got {num_clips}")
        self.num_clips, self.seed = num_clips, seed
        self.kwargs = dict(channels=channels, frames=frames, size=size, **shape_kwargs)
        moving_shapes(1, **self.kwargs)

    def __len__(self) -> int:
        return self.num_clips

    def __getitem__(self, index: int) -> Tensor:
        if not -self.num_clips <= index < self.num_clips:
            raise IndexError(f"MovingShapes: index {index} out of range for {self.num_clips} clips")
        return moving_shapes(1, generator=seeded(self.seed, index % self.num_clips, 1), **self.kwargs)[0]


def read_video(path: str | Path) -> Tensor:
    """Decode a video file to ``uint8 (T, H, W, 3)``. GIF needs only Pillow; mp4/webm/mov/... need the ``video`` extra.

    Raises ``ValueError`` naming the file when it cannot be decoded.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".gif":
            from PIL import Image, ImageSequence

            with Image.open(path) as im:
                frames = [torch.frombuffer(bytearray(f.convert("RGB").tobytes()), dtype=torch.uint8)
                          .view(f.size[1], f.size[0], 3) for f in ImageSequence.Iterator(im)]
            video = torch.stack(frames)
        else:
            try:
                import imageio.v3 as iio
            except ImportError as err:
                raise ImportError(f"reading {suffix} videos needs the `video` extra (imageio + av): {_VIDEO_EXTRA}; "
                                  f"GIF files work without it ({path})") from err
            video = torch.from_numpy(iio.imread(path, plugin="pyav", index=None).copy())
            if video.ndim == 3:
                video = video[..., None].expand(-1, -1, -1, 3)
            video = video[..., :3]
    except ImportError:
        raise
    except Exception as err:  # every decoder error becomes one message that names the file
        raise ValueError(f"cannot read video file {path}: {type(err).__name__}: {err}") from err
    if video.ndim != 4 or video.shape[0] == 0:
        raise ValueError(f"cannot read video file {path}: decoded no frames")
    return video


def _to_clip_tensor(video: Tensor, size: int, channels: int) -> Tensor:
    """``uint8 (T, H, W, 3)`` -> ``uint8 (C, T, size, size)``: centre square crop, area resize, channel conversion."""
    t, h, w, _ = video.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    x = rearrange(video[:, top:top + side, left:left + side].float(), "t h w c -> t c h w")
    if side != size:
        x = F.interpolate(x, size=(size, size), mode="area" if side > size else "bilinear", align_corners=None)
    if channels == 1:
        x = (x * torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]).sum(1, keepdim=True)
    elif channels != 3:
        raise ValueError(f"VideoFolder: channels must be 1 or 3 for RGB videos, got {channels}")
    return rearrange(x.round().clamp(0, 255).to(torch.uint8), "t c h w -> c t h w")


class VideoFolder(Dataset):
    """Clips of ``frames`` consecutive frames from every video under ``root`` (recursively), for small data sets.

    All files are decoded once at construction (centre-cropped to a square and resized to ``size``) and kept in
    memory as uint8; clip ``i`` is the ``i``-th window of ``frames`` frames (windows start every ``stride`` frames).
    A file that cannot be decoded or is shorter than ``frames`` raises ``ValueError`` naming it.
    """

    def __init__(self, root: str | Path, *, frames: int = 8, size: int = 16, channels: int = 3, stride: int = 1,
                 seed: int = 0):
        root = Path(root)
        if not root.exists():
            raise ValueError(f"VideoFolder: {root} does not exist (give a folder of {'/'.join(VIDEO_SUFFIXES)} files)")
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
        if not files:
            raise ValueError(f"VideoFolder: no video files ({', '.join(VIDEO_SUFFIXES)}) found under {root}")
        self.frames, self.size, self.channels, self.seed = frames, size, channels, seed
        self.files, self.videos, self.index = files, [], []
        for f in files:
            video = read_video(f)
            if video.shape[0] < frames:
                raise ValueError(f"VideoFolder: {f} has {video.shape[0]} frames, fewer than frames={frames}")
            self.videos.append(_to_clip_tensor(video, size, channels))
            self.index += [(len(self.videos) - 1, s) for s in range(0, video.shape[0] - frames + 1, stride)]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> Tensor:
        v, s = self.index[i]
        return self.videos[v][:, s:s + self.frames].float() / 127.5 - 1

    def batch(self, step: int, batch_size: int) -> Tensor:
        """``batch_size`` clips drawn with replacement; a pure function of ``(seed, step)``."""
        picks = torch.randint(len(self), (batch_size,), generator=seeded(self.seed, step))
        return torch.stack([self[int(i)] for i in picks])


def data_source(spec: str, *, channels: int, frames: int, size: int, seed: int = 0):
    """``"synthetic"`` -> :class:`SyntheticVideos`; anything else is a path for :class:`VideoFolder`."""
    if spec == "synthetic":
        return SyntheticVideos(channels=channels, frames=frames, size=size, seed=seed)
    return VideoFolder(spec, channels=channels, frames=frames, size=size, seed=seed)
