"""The autoencoders latent recipes declare (``Recipe.autoencoder``): constructor keywords of ``net/video_autoencoder``.

``IMAGE_VAE``: Stable Diffusion's KL-f8 ``AutoencoderKL`` applied per frame (no temporal layers; SD's 1×1
``post_quant_conv``), used by every SD-derived and DiT recipe. ``TEMPORAL_VAE``: the video-fine-tuned decoder with
temporal layers (Video LDM §3.1; SVD's ``AutoencoderKLTemporalDecoder``, which has no ``post_quant_conv``).
Both scale latents by 0.18215 (docs/papers.md: "SD VAE latents ×0.18215"). ``WAN21_VAE`` / ``WAN22_VAE``: ``net/wan_vae``
keywords of Wan 2.1 / 2.2's causal VAE, with their per-channel latent mean / std (below).
"""

from __future__ import annotations

from types import MappingProxyType


SCALING_FACTOR = 0.18215
IMAGE_VAE = MappingProxyType(dict(temporal_decoder=False, post_quant_conv=True, scaling_factor=SCALING_FACTOR))
TEMPORAL_VAE = MappingProxyType(dict(temporal_decoder=True, post_quant_conv=False, scaling_factor=SCALING_FACTOR))


# --- Wan's causal VAE (``net/wan_vae``) -------------------------------------------------------------------------
# Constructor keywords of ``net/wan_vae``. Wan 2.1: diffusers ``AutoencoderKLWan()`` defaults = Wan-AI/Wan2.1-*
# vae/config.json (Wan-Video/Wan2.1 wan/modules/vae.py ``_video_vae``: dim 96, z_dim 16, dim_mult [1, 2, 4, 4],
# num_res_blocks 2, temperal_downsample [False, True, True]): 4×8×8 compression, 126,892,531 parameters (the Wan
# report's "127M"). Wan 2.2 (TI2V-5B): diffusers scripts/convert_wan_to_diffusers.py ``vae22_diffusers_config`` =
# Wan-AI/Wan2.2-TI2V-5B-Diffusers vae/config.json (Wan-Video/Wan2.2 wan/modules/vae2_2.py ``_video_vae``: dim 160,
# dec_dim 256, z_dim 48, residual stages, 2×2 patchify of RGB into 12 channels): 4×16×16, 704,688,668 parameters
# (encoder 149.6M, decoder 555.0M; counted on the meta device, tests/convert/test_vae_wan_convert.py).
WAN21_VAE = MappingProxyType(dict(in_channels=3, latent_channels=16, base_channels=96, channel_mults=(1, 2, 4, 4),
                                  num_res_blocks=2, temporal_downsample=(False, True, True)))
WAN22_VAE = MappingProxyType(dict(in_channels=3, latent_channels=48, base_channels=160, decoder_base_channels=256,
                                  channel_mults=(1, 2, 4, 4), num_res_blocks=2,
                                  temporal_downsample=(False, True, True), residual=True, patch_size=2))

# Per-channel latent statistics: diffusion runs on (z − mean) / std. Wan 2.1: diffusers ``AutoencoderKLWan``
# ``latents_mean`` / ``latents_std`` defaults (= Wan-Video/Wan2.1 wan/modules/vae.py ``WanVAE.mean`` / ``std``).
WAN21_LATENTS_MEAN = (-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                      0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921)
WAN21_LATENTS_STD = (2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                     3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160)
# Wan 2.2: diffusers scripts/convert_wan_to_diffusers.py ``vae22_diffusers_config`` (= Wan-AI/Wan2.2-TI2V-5B-Diffusers
# vae/config.json; Wan-Video/Wan2.2 wan/modules/vae2_2.py ``Wan2_2_VAE.mean`` / ``std``).
WAN22_LATENTS_MEAN = (-0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557,
                      -0.1382, 0.0542, 0.2813, 0.0891, 0.1570, -0.0098, 0.0375, -0.1825,
                      -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502,
                      -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230,
                      -0.0313, -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748,
                      0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667)
WAN22_LATENTS_STD = (0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013,
                     0.8158, 1.0344, 0.5894, 1.0901, 0.6885, 0.6165, 0.8454, 0.4978,
                     0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
                     0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093,
                     0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887,
                     0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744)
