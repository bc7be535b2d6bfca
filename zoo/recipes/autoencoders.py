"""The autoencoders latent recipes declare (``Recipe.autoencoder``): constructor keywords of ``net/video_autoencoder``.

``IMAGE_VAE``: Stable Diffusion's KL-f8 ``AutoencoderKL`` applied per frame (no temporal layers; SD's 1×1
``post_quant_conv``), used by every SD-derived and DiT recipe. ``TEMPORAL_VAE``: the video-fine-tuned decoder with
temporal layers (Video LDM §3.1; SVD's ``AutoencoderKLTemporalDecoder``, which has no ``post_quant_conv``).
Both scale latents by 0.18215 (docs/papers.md: "SD VAE latents ×0.18215").
"""

from __future__ import annotations

from types import MappingProxyType


SCALING_FACTOR = 0.18215
IMAGE_VAE = MappingProxyType(dict(temporal_decoder=False, post_quant_conv=True, scaling_factor=SCALING_FACTOR))
TEMPORAL_VAE = MappingProxyType(dict(temporal_decoder=True, post_quant_conv=False, scaling_factor=SCALING_FACTOR))
