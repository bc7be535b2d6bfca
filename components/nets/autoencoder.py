"""``net/video_autoencoder``: the latent-diffusion autoencoder on video, with an optional temporal decoder.

The encoder is the image autoencoder's, applied per frame (Video LDM §3.1 keeps it frozen so the image LDM's latent
space is unchanged); the decoder either is the image decoder per frame (``temporal_decoder=False``: Stable Diffusion's
``AutoencoderKL`` layout) or has temporal layers (``temporal_decoder=True``: Video LDM's video-fine-tuned decoder, as
released with SVD, diffusers ``AutoencoderKLTemporalDecoder``): every decoder res-block is
``block/spatiotemporal_resnet`` and a ``(3, 1, 1)`` temporal conv follows the output conv.

Shapes: ``encode(x)``: ``(B, C, T, H, W) -> (B, latent, T, H/f, W/f)``, f = 2^(levels − 1) (8 for SD/SVD);
``decode(z)``: the reverse; ``forward(x) = decode(encode(x))`` (posterior mean). Latents are unscaled: multiply by
``scaling_factor`` (0.18215) before diffusion and divide before decoding, as the LDM pipelines do.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .. import registry
from ..attention.configure import configure_attention
from ..checks import check_video
from ..examples import video_inputs
from ..registry import BadInput, register
from .autoencoder_parts import ImageEncoder, PosteriorEncoder, VideoDecoder, check_autoencoder_input


TINY = dict(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, num_groups=4)


@register(
    "net", "video_autoencoder",
    paper="Rombach et al. 2022 (LDM autoencoder); Blattmann et al. 2023 (Video LDM §3.1 temporal decoder; SVD)",
    tiny=TINY, inputs=video_inputs(3), tolerance={"bfloat16": 4e-2, "float16": 2e-2},
    bad_inputs=[
        BadInput(match="B C T H W", inputs=lambda cfg: ((torch.zeros(2, 3, 8, 8),), {}), why="a 4-D image"),
        BadInput(match="channels", inputs=lambda cfg: ((torch.zeros(2, 4, 2, 8, 8),), {}), why="wrong channels"),
        BadInput(match="height=7 must be divisible", inputs=lambda cfg: ((torch.zeros(2, 3, 2, 7, 8),), {}),
                 why="H not divisible by the spatial factor"),
    ],
)
class VideoAutoencoder(PosteriorEncoder, nn.Module):
    """KL autoencoder ``(B, C, T, H, W) -> latents (B, latent_channels, T, H/f, W/f) -> (B, C_out, T, H, W)``.

    Args:
        in_channels, out_channels: video channels (RGB: 3); out defaults to in.
        latent_channels: latent channels (SD/SVD: 4); the encoder predicts a mean and a log-variance for each.
        base_channels, channel_mults: level widths (SD/SVD: 128 × (1, 2, 4, 4), f = 8).
        num_res_blocks: res-blocks per encoder level (decoder: one more).
        num_groups, eps: GroupNorm groups and epsilon (1e-6) of every spatial layer.
        temporal_decoder: temporal layers in the decoder (see the module docstring); temporal_eps (1e-5),
            temporal_kernel_size (3) and merge_factor (the ``learned`` alpha-merge logit; α multiplies the spatial
            path, α = sigmoid(merge_factor)) configure them.
        post_quant_conv: SD's 1×1 conv on the latents before the decoder (SVD's temporal-decoder VAE has none).
        scaling_factor: the latent scale the diffusion model uses (stored, not applied).
        attention_backend: pin this ``attention_backend/<name>`` on the mid-block attentions (None: ``"auto"``).
        frame_attention, frame_attention_kwargs: swap their ``attention/spatial`` for a frame-wise variant (what
            ``swap_spatial_attention`` on a built autoencoder records; no recipe does).
    """

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, latent_channels: int = 4, *,
                 base_channels: int = 128, channel_mults: Sequence[int] = (1, 2, 4, 4), num_res_blocks: int = 2,
                 num_groups: int = 32, eps: float = 1e-6, temporal_decoder: bool = True, temporal_eps: float = 1e-5,
                 temporal_kernel_size: int = 3, merge_factor: float = 0.0, post_quant_conv: bool = False,
                 scaling_factor: float = 0.18215, attention_backend: str | None = None,
                 frame_attention: str | None = None, frame_attention_kwargs: dict | None = None, device=None,
                 dtype=None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        out_channels = in_channels if out_channels is None else out_channels
        widths = [base_channels * m for m in channel_mults]
        self.in_channels, self.out_channels, self.latent_channels = in_channels, out_channels, latent_channels
        self.spatial_factor = 2 ** (len(widths) - 1)
        self.temporal_factor = 1  # frame-wise: one latent frame per frame
        self.scaling_factor = scaling_factor
        self.encoder = ImageEncoder(in_channels, latent_channels, widths, num_res_blocks, num_groups=num_groups,
                                    eps=eps, **factory)
        self.quant_conv = registry.build("conv/space_only_3d", in_channels=2 * latent_channels,
                                         out_channels=2 * latent_channels, kernel_size=1, **factory)
        self.post_quant_conv = (
            registry.build("conv/space_only_3d", in_channels=latent_channels, out_channels=latent_channels,
                           kernel_size=1, **factory) if post_quant_conv else None
        )
        self.decoder = VideoDecoder(out_channels, latent_channels, widths, num_res_blocks, num_groups=num_groups,
                                    eps=eps, temporal=temporal_decoder, temporal_eps=temporal_eps,
                                    temporal_kernel_size=temporal_kernel_size, merge_factor=merge_factor, **factory)
        configure_attention(self, attention_backend=attention_backend, frame_attention=frame_attention,
                            frame_attention_kwargs=frame_attention_kwargs)

    def encode_moments(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance (clamped to [−30, 20]), each ``(B, latent, T, H/f, W/f)``."""
        check_autoencoder_input(x, self.in_channels, self.spatial_factor, type(self).__name__)
        mean, logvar = self.quant_conv(self.encoder(x)).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)


    def decode(self, z: Tensor) -> Tensor:
        """``(B, latent, T, h, w) -> (B, C_out, T, h·f, w·f)``; T = 1 decodes an image."""
        check_video(z, "z", channels=self.latent_channels, where=type(self).__name__)
        return self.decoder(z if self.post_quant_conv is None else self.post_quant_conv(z))

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

