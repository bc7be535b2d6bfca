"""Real clips as training data in the model's space: encoded once through the recipe's frozen autoencoder, cached.

A latent recipe learns on ``z_model = LatentSpace.encode(x)`` (``components/nets/latent_space.py``: the autoencoder's
posterior mean with the recipe's normalisation, ``s · z`` or ``(z − μ_c) / σ_c``), never on pixels. The autoencoder
is frozen, so every clip window of a ``VideoFolder`` ``(3, F, H, W)`` is encoded once to ``(z, T', H/f, W/f)``
(``T' = F`` frame-wise, ``1 + (F − 1)/4`` through Wan's causal VAE) and stored in one safetensors file whose
metadata holds a key (``zoo.tensor_cache``, shared with the caption cache): sha256 over the data (each file's path,
size and mtime, the clip windows, their size) and over the autoencoder (every weight's bytes and the normalisation).
A changed clip, option or autoencoder gives another key, and the file is re-encoded (one line says so).

``LatentClips`` is the trainer's data source (``batch(step, B)``, a pure function of ``(seed, step)``: the same
picks as ``VideoFolder.batch``) and also gives the conditioning inputs of the same picks (``inputs(step, B)``): the
first frame ``image`` ``(B, 3, H, W)`` (image-to-video: SVD, Wan I2V), the clip itself ``video`` ``(B, 3, F, H, W)``
and its ``prompt`` captions (``zoo.captions``), each only when asked for. ``cache=None`` encodes each batch at every
step instead (the lever ``--latent-cache off`` measures). Without a latent space (pixel recipe) the clips are the
data.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch
from torch import Tensor

from components.nets.latent_space import LatentSpace

from .data import VideoFolder, seeded
from .tensor_cache import cache_key, cached_tensors, update_with_weights


__all__ = ["LatentClips", "autoencoder_key"]


def autoencoder_key(space: LatentSpace) -> str:
    """sha256 over the autoencoder's weights (names, dtypes, shapes, bytes) and the latent normalisation."""
    h = hashlib.sha256()
    update_with_weights(h, space.autoencoder)
    h.update(json.dumps([space.scaling_factor, space.latents_mean, space.latents_std]).encode())
    return h.hexdigest()


def _data_key(clips: VideoFolder) -> str:
    stats = [(str(f), f.stat().st_size if f.is_file() else -1, f.stat().st_mtime_ns) for f in clips.files]
    return hashlib.sha256(json.dumps({"files": stats, "index": clips.index, "frames": clips.frames,
                                      "size": clips.size}).encode()).hexdigest()


class LatentClips:
    """Clip windows of ``clips`` as model-space latents ``(B, z, T', h, w)`` (see the module docstring).

    Args:
        clips: the pixel clips, ``(3, F, H, W)`` in [−1, 1] (``F`` the recipe's pixel frames).
        space: the recipe's latent space (None: a pixel recipe, the clips themselves).
        cache: the safetensors file of the encoded clips (None: encode every batch at every step).
        captions: ``{str(file): caption}`` (``zoo.captions.read_captions``), or None.
        device: where the autoencoder runs; encode_batch: windows encoded at a time.
    """

    def __init__(self, clips: VideoFolder, space: LatentSpace | None, *, cache: str | Path | None = None,
                 captions: dict[str, str] | None = None, seed: int = 0, device=None, encode_batch: int = 4) -> None:
        self.clips, self.space, self.captions, self.seed = clips, space, captions, seed
        self.device = device
        self.latents: Tensor | None = None
        if space is not None and cache is not None:
            self.latents = self._cached(Path(cache), encode_batch)

    def __len__(self) -> int:
        return len(self.clips)

    @torch.no_grad()
    def _encode(self, video: Tensor) -> Tensor:
        return self.space.encode(video.to(self.device) if self.device is not None else video).float().cpu()

    def _cached(self, path: Path, encode_batch: int) -> Tensor:
        n = len(self.clips)

        def encode() -> dict[str, Tensor]:
            return {"latents": torch.cat([
                self._encode(torch.stack([self.clips[i] for i in range(s, min(n, s + encode_batch))]))
                for s in range(0, n, encode_batch)])}

        key = cache_key(_data_key(self.clips), autoencoder_key(self.space))
        tensors, fresh = cached_tensors(path, key, encode, what="latent cache",
                                        stale="other clips, options or autoencoder weights",
                                        metadata={"windows": str(n)})
        latents = tensors["latents"]
        if fresh:
            print(f"zoo train: encoded {n} clip window(s) to {tuple(latents.shape[1:])} latents once; cached in "
                  f"{path}", file=sys.stderr)
        return latents

    def _picks(self, step: int, batch_size: int) -> list[int]:
        return [int(i) for i in torch.randint(len(self.clips), (batch_size,), generator=seeded(self.seed, step))]

    def batch(self, step: int, batch_size: int) -> Tensor:
        """The global batch of ``step`` in model space: ``(B, z, T', h, w)`` (pixels ``(B, 3, F, H, W)`` without a
        latent space); a pure function of ``(seed, step)``."""
        picks = self._picks(step, batch_size)
        if self.latents is not None:
            return self.latents[picks]
        video = torch.stack([self.clips[i] for i in picks])
        return video if self.space is None else self._encode(video)

    def inputs(self, step: int, batch_size: int, wanted: tuple[str, ...]) -> dict:
        """The conditioning inputs of ``step``'s clips (the picks of ``batch``) among ``wanted`` (``image``,
        ``video``, ``prompt``); a ``ValueError`` names ``prompt`` when the clips carry no captions."""
        picks = self._picks(step, batch_size)
        out = {}
        if "image" in wanted or "video" in wanted:
            video = torch.stack([self.clips[i] for i in picks])
            if "image" in wanted:
                out["image"] = video[:, :, 0]
            if "video" in wanted:
                out["video"] = video
        if "prompt" in wanted:
            if self.captions is None:
                raise ValueError("--data carries no captions for the prompt this recipe is conditioned on: put a "
                                 "clip.txt beside each clip (clip.mp4 -> clip.txt) or give --captions FILE")
            out["prompt"] = [self.captions[str(self.clips.files[self.clips.index[i][0]])] for i in picks]
        return out
