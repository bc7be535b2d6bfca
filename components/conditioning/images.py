"""User images and videos as tensors: PIL images, ``(C, H, W)`` / ``(B, C, H, W)`` / ``(B, C, T, H, W)`` tensors or a
video file (PyAV), to float ``[-1, 1]``, checked against the size the model expects (never silently resized)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor


def as_image(image, name: str = "image") -> Tensor:
    """``(B, 3, H, W)`` in [-1, 1] from a PIL image (mode RGB; others are an error naming the mode), a path to an
    image file, or a float tensor ``(3, H, W)`` / ``(B, 3, H, W)`` already in [-1, 1]."""
    if isinstance(image, str | Path):
        from PIL import Image

        image = Image.open(image)
    if not isinstance(image, Tensor) and hasattr(image, "mode"):  # PIL
        if image.mode != "RGB":
            raise ValueError(f"{name} must be an RGB image, got mode {image.mode!r} (convert with .convert('RGB'))")
        import numpy as np

        image = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 127.5 - 1
    if not isinstance(image, Tensor):
        raise ValueError(f"{name} must be a PIL image, an image path or a tensor, got {type(image).__name__}")
    image = image[None] if image.dim() == 3 else image
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f"{name} must be (3, H, W) or (B, 3, H, W) RGB, got shape {tuple(image.shape)}")
    return image.float()


def as_video(video, name: str = "video") -> Tensor:
    """``(B, 3, T, H, W)`` in [-1, 1] from a video file path (decoded with PyAV), a ``(3, T, H, W)`` /
    ``(B, 3, T, H, W)`` tensor in [-1, 1], or a list of PIL frames."""
    if isinstance(video, str | Path):
        import av
        import numpy as np

        path = Path(video)
        if not path.is_file():
            raise ValueError(f"{name}: no such video file {str(path)!r}")
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        video = torch.from_numpy(np.stack(frames)).permute(3, 0, 1, 2).float() / 127.5 - 1
    elif isinstance(video, list | tuple):
        video = torch.stack([as_image(f, name)[0] for f in video], dim=1)
    if not isinstance(video, Tensor):
        raise ValueError(f"{name} must be a video file path, a list of frames or a tensor, got {type(video).__name__}")
    video = video[None] if video.dim() == 4 else video
    if video.dim() != 5 or video.shape[1] != 3:
        raise ValueError(f"{name} must be (3, T, H, W) or (B, 3, T, H, W) RGB, got shape {tuple(video.shape)}")
    return video.float()


def fit(x: Tensor, size: tuple[int, int], name: str, *, resize: bool = False) -> Tensor:
    """``x`` (``(..., H, W)``) at ``size``: unchanged if it matches, bilinearly resized if ``resize``, else a
    ValueError naming both sizes."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if not resize:
        raise ValueError(f"{name} is {tuple(x.shape[-2:])} (H, W) but the model expects {tuple(size)}; "
                         f"pass resize=True (--resize) to resize it")
    lead = x.shape[:-2]
    out = F.interpolate(x.reshape(-1, 1, *x.shape[-2:]), size=size, mode="bilinear", align_corners=False,
                        antialias=True)
    return out.reshape(*lead, *size)


def take_frames(video: Tensor, num_frames: int, name: str = "video") -> Tensor:
    """The first ``num_frames`` frames of ``(B, C, T, H, W)``; fewer frames than that is an error."""
    if video.shape[2] < num_frames:
        raise ValueError(f"{name} has {video.shape[2]} frames, the model samples {num_frames}")
    return video[:, :, :num_frames]


def luminance(video: Tensor) -> Tensor:
    """Rec. 601 luma ``Y = 0.299 R + 0.587 G + 0.114 B`` of ``(B, 3, ...)`` → ``(B, 1, ...)``."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=video.dtype, device=video.device)
    return torch.einsum("bc...,c->b...", video, w)[:, None]
