"""Writing videos: GIF (Pillow), MP4 (the ``video`` extra: imageio + av) and PNG strips (Pillow).

Input is a tensor or array ``C T H W`` (one clip) or ``B C T H W`` (clips tiled side by side) with values in
``value_range`` (``(-1, 1)`` by default, the zoo's data range), 1 or 3 channels. Values outside the range are
clipped; NaN or Inf anywhere is refused with ``ValueError`` (a half-precision overflow otherwise turns into black
frames without a word).

    save_video(video, "clip.gif", fps=8)        # or .mp4, or .png for a strip (rows = clips, columns = frames)
    check_video_path("clip.mp4", fps=8, frame_size=(64, 129))  # what save_video would refuse, before any work
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from torch import Tensor


__all__ = ["SUFFIXES", "check_video_path", "save_gif", "save_mp4", "save_png_strip", "save_video", "tile_clips",
           "to_uint8"]

_VIDEO_EXTRA = "pip install 'video-diffusion-zoo[video]'"
#: The file types ``save_video`` writes.
SUFFIXES = (".gif", ".mp4", ".png")


def _check_fps(fps: float) -> None:
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")


def check_video_path(path: str | Path, *, fps: float | None = None, frame_size: tuple[int, int] | None = None,
                     name: str = "--out") -> Path:
    """Refuse, before any work, what ``save_video`` would refuse after it: a suffix other than ``SUFFIXES``, a path
    that is a directory or whose nearest existing parent is not a writable directory (missing parents are created
    when writing), ``fps`` <= 0, an MP4 without the ``video`` extra (imageio + av, imported here), or an MP4 whose
    ``frame_size`` (H, W of the written frames, clips tiled side by side) is odd. ``ValueError`` (``UsageError``)
    naming ``name`` and the path; returns the path."""
    from zoo.cli_args import UsageError, writable_target

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(f"{name} must end in .gif, .mp4 or .png, got {str(path)!r}")
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise UsageError(f"--fps must be a positive number (frames per second of {path}), got {fps}")
    writable_target(path, name)
    try:
        import PIL.Image  # noqa: F401

        if suffix == ".mp4":
            import av  # noqa: F401
            import imageio.v3  # noqa: F401
    except ImportError as err:
        need = "the `video` extra (imageio + av): " + _VIDEO_EXTRA if suffix == ".mp4" else "Pillow"
        raise UsageError(f"{name} {path}: writing {suffix[1:].upper()} needs {need} ({err}); or write a .gif") from None
    if suffix == ".mp4" and frame_size is not None and (frame_size[0] % 2 or frame_size[1] % 2):
        raise UsageError(f"{name} {path}: H.264 needs an even height and width, the frames would be "
                         f"{frame_size[0]}x{frame_size[1]} (clips side by side, 1 pixel apart); change the size or "
                         "the number of clips, or write a .gif")
    return path


def _as_tensor(video) -> Tensor:
    if isinstance(video, np.ndarray):
        video = torch.from_numpy(video)
    if not isinstance(video, Tensor):
        raise TypeError(f"video must be a torch.Tensor or numpy array, got {type(video).__name__}")
    return video.detach().to("cpu", torch.float32)


def tile_clips(videos, pad: int = 1, pad_value: float = -1.0) -> Tensor:
    """``B C T H W`` -> ``C T H (B·W + (B−1)·pad)``: clips side by side, ``pad`` columns of ``pad_value`` between."""
    x = _as_tensor(videos)
    if x.ndim != 5:
        raise ValueError(f"tile_clips: videos must be 5-D B C T H W, got shape {tuple(x.shape)}")
    if pad:
        x = torch.cat([x, torch.full((*x.shape[:4], pad), pad_value)], dim=4)
        return rearrange(x, "b c t h w -> c t h (b w)")[..., :-pad]
    return rearrange(x, "b c t h w -> c t h (b w)")


def to_uint8(video, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """``C T H W`` or ``B C T H W`` (tiled) -> ``uint8 (T, H, W, C)``; refuses non-finite values, clips the rest."""
    x = _as_tensor(video)
    if x.ndim == 5:
        x = tile_clips(x, pad_value=value_range[0])
    if x.ndim != 4:
        raise ValueError(f"video must be C T H W (or B C T H W), got shape {tuple(x.shape)}")
    if x.shape[0] not in (1, 3):
        raise ValueError(f"video must have 1 or 3 channels (dim 0 of C T H W), got {x.shape[0]}")
    bad = ~torch.isfinite(x)
    if bad.any():
        raise ValueError(f"video contains {int(bad.sum())} non-finite values (NaN or Inf); refusing to write it "
                         "(a model run in float16 often overflows: try bfloat16 or float32)")
    lo, hi = value_range
    if not hi > lo:
        raise ValueError(f"value_range must be (low, high) with high > low, got {value_range}")
    x = ((x - lo) / (hi - lo)).clamp(0, 1)
    return rearrange((x * 255).round().to(torch.uint8), "c t h w -> t h w c").numpy()


def _images(frames: np.ndarray):
    from PIL import Image

    return [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in frames]


def save_gif(video, path: str | Path, *, fps: float = 8.0, value_range=(-1.0, 1.0), loop: int = 0) -> Path:
    """Write an animated GIF with Pillow (looping forever by default). Returns the path."""
    _check_fps(fps)
    path = Path(path)
    images = _images(to_uint8(video, value_range))
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=max(1, round(1000 / fps)), loop=loop,
                   optimize=False, disposal=1)
    return path


def save_mp4(video, path: str | Path, *, fps: float = 8.0, value_range=(-1.0, 1.0)) -> Path:
    """Write an H.264 MP4 through imageio's PyAV plugin (the ``video`` extra). H and W must be even."""
    try:
        import imageio.v3 as iio
    except ImportError as err:
        raise ImportError(f"writing MP4 needs the `video` extra (imageio + av): {_VIDEO_EXTRA}; "
                          "or write a .gif, which needs only Pillow") from err
    _check_fps(fps)
    frames = to_uint8(video, value_range)
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"save_mp4: H.264 needs even height and width, got {frames.shape[1]}x{frames.shape[2]}; "
                         "crop or pad the video, or write a .gif")
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, frames, plugin="pyav", codec="libx264", fps=fps)
    return path


def save_png_strip(videos, path: str | Path, *, value_range=(-1.0, 1.0), pad: int = 1) -> Path:
    """One PNG: a row per clip (``B C T H W``, or ``C T H W`` for one row), a column per frame."""
    from PIL import Image

    x = _as_tensor(videos)
    if x.ndim == 4:
        x = x[None]
    if x.ndim != 5:
        raise ValueError(f"save_png_strip: videos must be B C T H W or C T H W, got shape {tuple(x.shape)}")
    # Each clip becomes one image row: frames side by side; rows stacked with the same padding between them.
    rows = [to_uint8(tile_clips(rearrange(clip, "c t h w -> t c 1 h w"), pad, value_range[0]), value_range)[0]
            for clip in x]
    gap = np.zeros((pad, rows[0].shape[1], rows[0].shape[2]), dtype=np.uint8)
    grid = np.concatenate([part for r in rows for part in (r, gap)][:-1] if pad else rows, axis=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)
    return path


def save_video(video, path: str | Path, *, fps: float = 8.0, value_range=(-1.0, 1.0)) -> Path:
    """Dispatch on the suffix: ``.gif`` (Pillow), ``.mp4`` (``video`` extra), ``.png`` (frame strip)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".gif":
        return save_gif(video, path, fps=fps, value_range=value_range)
    if suffix == ".mp4":
        return save_mp4(video, path, fps=fps, value_range=value_range)
    if suffix == ".png":
        return save_png_strip(video, path, value_range=value_range)
    raise ValueError(f"unsupported video file type {suffix!r} for {path}: use .gif, .mp4 or .png")
