"""``conditioning/wan_image``: Wan 2.1 I2V's image conditioning (Wan Team 2025, §4.2 "Image-to-video"; diffusers'
``WanImageToVideoPipeline``).

From the first frame x ∈ [-1, 1], ``(B, 3, H, W)`` at the sampled pixel size, and T = 1 + (t − 1)·4 pixel frames for
t latent frames:
    image_context = CLIP ViT-H/14 tokens of x before its last block: ``CLIPVisionModel``'s ``hidden_states[-2]``,
                    (B, 257, 1280) [V-code: diffusers pipeline_wan_i2v.py ``encode_image``; Wan-Video/Wan2.1
                    wan/modules/clip.py ``use_31_block=True``]; CLIP's preprocessing in torch (``clip_pixels``) after
                    a centre square crop (``CLIPImageProcessor``: shortest side to 224, centre crop);
    concat        = [mask, E([x, 0, …, 0])] along channels, (B, 4 + z, t, h, w) [V-code: pipeline_wan_i2v.py
                    ``prepare_latents``]: E is the run's ``latent_space.encode`` (the VAE posterior mean, Wan's
                    per-channel (z − mean)/std) of x followed by T − 1 black frames; the mask has one channel per
                    pixel frame of a latent frame (4 = the temporal factor): 1 on latent frame 0 (x is given), 0 after.
The pipeline appends ``concat`` to the noisy latents (16 + 4 + 16 = 36 input channels of the I2V net).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import torch
from torch import Tensor, nn

from ..registry import BadInput, register
from .clip_image import clip_pixels
from .encoder import ConditioningEncoder
from .images import as_image


__all__ = ["WanImageEncoder", "penultimate_clip"]


def _tower(model: nn.Module) -> nn.Module:
    """The module holding ``embeddings`` / ``encoder`` / ``post_layernorm`` (transformers 4: ``vision_model``)."""
    return getattr(model, "vision_model", model)


@functools.cache
def _penultimate_class() -> type:
    """``PenultimateCLIPVision``: a ``transformers.CLIPVisionModel`` whose config counts the blocks it keeps and
    whose post-LayerNorm (only used on the pooled token) is dropped, so ``last_hidden_state`` is the full tower's
    ``hidden_states[-2]``, every parameter is used and the last block is never run. Built once (transformers is
    imported on first use, not with ``components``)."""
    import transformers

    class PenultimateCLIPVision(transformers.CLIPVisionModel):
        def __init__(self, config) -> None:
            super().__init__(config)
            _tower(self).post_layernorm = nn.Identity()

    return PenultimateCLIPVision


def penultimate_clip(model: nn.Module) -> nn.Module:
    """A full ``CLIPVisionModel`` (N blocks) as ``PenultimateCLIPVision`` (N − 1 blocks) sharing its tensors (no
    copy); one already truncated is returned as is."""
    cls = _penultimate_class()
    if isinstance(model, cls):
        return model
    config = copy.deepcopy(model.config)
    config.num_hidden_layers -= 1
    with torch.device("meta"):
        out = cls(config)
    prefix = "vision_model." if hasattr(model, "vision_model") else ""
    dropped = (f"{prefix}encoder.layers.{config.num_hidden_layers}.", f"{prefix}post_layernorm.")
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(dropped)}
    out.load_state_dict(state, strict=True, assign=True)
    for name, buffer in out.named_buffers():  # non-persistent buffers (position ids) are not in the state dict
        if buffer.is_meta:
            parent, _, attr = name.rpartition(".")
            setattr(out.get_submodule(parent), attr, model.get_buffer(name))
    return out.eval()


def _center_square(x: Tensor) -> Tensor:
    """The centred ``s × s`` crop of ``(B, C, H, W)``, s = min(H, W) (CLIPImageProcessor's centre crop, done before
    the resize: the same pixels up to the resize filter's border)."""
    h, w = x.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return x[..., top:top + s, left:left + s]


class _StridedLatents:
    """A stand-in latent space for the conformance examples: frames 0, 4, 8, ... (Wan's causal 1 + (T − 1)/4 latent
    frames) and every second pixel of two channels; any dtype."""

    spatial_factor, temporal_factor = 2, 4

    def encode(self, video: Tensor) -> Tensor:
        return video[:, :2, ::4, ::2, ::2]


def _example(cfg, batch=2, frames=2, generator=None, **_):
    image = torch.rand(batch, 3, 8, 12, generator=generator) * 2 - 1  # not square: the CLIP crop is exercised
    return (image,), dict(num_frames=frames, latent_space=_StridedLatents())


@register(
    "conditioning", "wan_image",
    paper="Wan Team 2025 (Wan 2.1 I2V, arXiv:2503.20314); Radford et al. 2021 (CLIP)",
    tiny=dict(hidden=16, layers=2, heads=2, image_size=16, patch_size=8),
    inputs=_example,
    output_shape=lambda cfg, image, **kw: (image.shape[0], (cfg["image_size"] // cfg["patch_size"]) ** 2 + 1,
                                           cfg["hidden"]),
    bad_inputs=[BadInput(match="RGB", inputs=lambda cfg: ((torch.zeros(1, 1, 16, 16),), dict(num_frames=2)),
                         why="a grey image"),
                BadInput(match="image must be", inputs=lambda cfg: ((None,), dict(num_frames=2)), why="no image"),
                BadInput(match="num_frames must be", inputs=lambda cfg: ((torch.zeros(1, 3, 16, 16),),
                                                                         dict(num_frames=0)), why="no frames")],
    dtypes=("float32", "bfloat16"),
)
class WanImageEncoder(ConditioningEncoder):
    """Image ``(B, 3, H, W)`` (or PIL / a path) → ``{"image_context": (B, N, hidden), "concat": (B, 4 + z, t, h, w)}``
    (``concat`` only with a ``latent_space``); N = (image_size / patch_size)² + 1 (257 for ViT-H/14 at 224).

    Args:
        hidden, layers, heads, image_size, patch_size: the CLIP vision tower's (ViT-H/14: 1280, 32, 16, 224, 14); the
            encoder runs its first ``layers − 1`` blocks (Wan's penultimate tokens).
        pretrained: a local ``image_encoder`` folder (a diffusers Wan I2V layout: ``CLIPVisionModel``) instead of
            random weights.
    """

    inputs, outputs, facts = ("image",), ("image_context", "concat"), ("num_frames", "latent_space")

    def __init__(self, *, hidden: int = 1280, layers: int = 32, heads: int = 16, image_size: int = 224,
                 patch_size: int = 14, pretrained: str | None = None) -> None:
        super().__init__()
        import transformers

        if pretrained is not None:
            if not (Path(pretrained) / "config.json").is_file():
                raise ValueError(f"pretrained={str(pretrained)!r}: no config.json there (an image_encoder folder "
                                 "expected)")
            full = transformers.CLIPVisionModel.from_pretrained(pretrained, local_files_only=True,
                                                                use_safetensors=True)
            self.clip = penultimate_clip(full)
        else:
            if layers < 2:
                raise ValueError(f"layers must be >= 2 (Wan uses the tokens before the last block), got {layers}")
            self.clip = _penultimate_class()(transformers.CLIPVisionConfig(
                hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers - 1,
                num_attention_heads=heads, image_size=image_size, patch_size=patch_size))

    def load_parts(self, parts) -> None:
        """A folder's ``image_encoder`` (a full ``CLIPVisionModel``; its last block is left out, not copied)."""
        if parts.get("image_encoder") is not None:
            param = next(self.clip.parameters())
            self.clip = penultimate_clip(parts["image_encoder"]).to(param.device).eval()

    def forward(self, image, *, num_frames: int, latent_space=None) -> dict[str, Tensor]:
        """``num_frames``: latent frames t of the sample; ``latent_space``: the run's (``encode(video (B, 3, T, H, W)
        in [-1, 1]) -> (B, z, 1 + (T − 1)/f_t, H/f, W/f)`` and ``temporal_factor`` f_t), for ``concat``."""
        if image is None:
            raise ValueError("image must be given: Wan I2V conditions on a first frame (pass image=...)")
        if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
            raise ValueError(f"num_frames must be an integer >= 1 (latent frames), got {num_frames!r}")
        param = next(self.clip.parameters())
        x = as_image(image).to(param.device, param.dtype)
        # CLIP's resize in fp32 (CPU has no bf16 antialiased bicubic), then the tower's dtype
        pixels = clip_pixels(_center_square(x).float(), self.clip.config.image_size).to(param.dtype)
        out = {"image_context": self.clip(pixel_values=pixels).last_hidden_state}
        if latent_space is not None:
            f_t = latent_space.temporal_factor
            b, _, h, w = x.shape
            video = torch.cat([x[:, :, None], x.new_zeros(b, 3, (num_frames - 1) * f_t, h, w)], dim=2)
            z = latent_space.encode(video)
            mask = torch.zeros(b, f_t, *z.shape[2:], dtype=z.dtype, device=z.device)
            mask[:, :, 0] = 1
            out["concat"] = torch.cat([mask, z], dim=1)
        return out
