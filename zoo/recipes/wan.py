"""Wan 2.1 / 2.2 (Wan Team 2025, "Wan: Open and Advanced Large-Scale Video Generative Models", arXiv 2503.20314).

Declarations only. A Wan model is ``net/wan_transformer`` (a flow-matching DiT: 3-D RoPE, RMS QK-norm across heads,
UMT5 text cross-attention, adaLN-single modulation) over the causal 3-D VAE ``net/wan_vae``; diffusion runs on the
VAE's raw latents normalised per channel, ``(z − μ_c) / σ_c`` (``Autoencoder.latents_mean / latents_std``).

* ``wan2_1_t2v_1_3b`` / ``wan2_1_t2v_14b``: text to video, Wan 2.1 VAE (4×8×8, 16 channels).
* ``wan2_1_i2v_14b``: image to video; x carries 16 noisy latents + a 4-channel first-frame mask + the 16 latents of
  [image, zeros...] (``x_cond_channels=20``), and the image's CLIP ViT-H/14 penultimate tokens (257 × 1280) enter the
  cross-attention through their own keys/values (``image_context``).
* ``wan2_2_ti2v_5b``: the Wan 2.2 VAE (4×16×16, 48 channels, patchified), text to video (its image mode, the
  first-frame latent kept clean with per-token timesteps, is not a sampling mode here yet).
* ``wan2_2_t2v_a14b``: two 14B experts (``net/noise_experts``): the high-noise one for flow times t ≥ 0.875, the
  low-noise one below, each with its own guidance scale (4.0 / 3.0) — the switch is the recipe's.

Provenance: [V-code] Wan-Video/Wan2.1 wan/configs/*.py and generate.py (sizes; UniPC solver, 50 steps for T2V and 40 for
I2V, shift 5.0 (3.0 for I2V at 480p), guidance 5.0, 81 frames at 16 fps, 512 text tokens), Wan-Video/Wan2.2
wan/configs/wan_t2v_A14B.py, wan_ti2v_5B.py (A14B: 40 steps, shift 12, boundary 0.875, guidance (3.0, 4.0);
TI2V-5B: 50 steps, shift 5, guidance 5, 121 frames at 24 fps, 704×1280); [C] parameter counts of diffusers 0.42.1
``WanTransformer3DModel`` / ``AutoencoderKLWan`` built from those configs on the meta device (docs/papers.md §19).
"""

from __future__ import annotations

from components.nets.wan import WAN_SIZES

from ..recipe import Autoencoder, Preset, Published, Recipe, Sampling, register_recipe
from .autoencoders import (
    WAN21_LATENTS_MEAN,
    WAN21_LATENTS_STD,
    WAN21_VAE,
    WAN22_LATENTS_MEAN,
    WAN22_LATENTS_STD,
    WAN22_VAE,
)


# The tiny presets are the tiny diffusers pipelines of zoo/testing/tiny_wan.py (diffusers' own Wan test sizes), so a
# tiny weights folder loads into them: 2 heads × 12, 2 blocks, text width 32, VAE base width 8 with Wan's real
# compression (4×8×8; 2.2: 4×16×16).
TINY_NET = dict(in_channels=16, out_channels=16, hidden_dim=24, num_heads=2, depth=2, ffn_dim=32, context_dim=32,
                frequency_dim=256, time_scale=1000.0)
_TINY_VAE = dict(base_channels=8, channel_mults=(1, 1, 1, 1), num_res_blocks=1, temporal_downsample=(False, True, True))
WAN21 = Autoencoder(
    net="net/wan_vae", config=WAN21_VAE, latents_mean=WAN21_LATENTS_MEAN, latents_std=WAN21_LATENTS_STD,
    tiny=Autoencoder(net="net/wan_vae", config=dict(_TINY_VAE, latent_channels=16),
                     latents_mean=WAN21_LATENTS_MEAN, latents_std=WAN21_LATENTS_STD))
# the tiny 2.2 VAE's statistics are stand-ins (every channel normalised differently), as zoo/testing/tiny_wan.py
WAN22 = Autoencoder(
    net="net/wan_vae", config=WAN22_VAE, latents_mean=WAN22_LATENTS_MEAN, latents_std=WAN22_LATENTS_STD,
    tiny=Autoencoder(net="net/wan_vae", config=dict(_TINY_VAE, latent_channels=48, residual=True, patch_size=2),
                     latents_mean=tuple(0.1 * c / 48 for c in range(48)),
                     latents_std=tuple(1 + c / 48 for c in range(48))))

_TEXT = {"context": ("conditioning/text", {"kind": "umt5", "max_length": 512})}
_TINY_TEXT = dict(sampling=dict(steps=2))


def _net(size: str) -> dict:
    return dict(WAN_SIZES[size], time_scale=1000.0)  # the flow time t ∈ [0, 1] as Wan's timestep 1000·t


def _count(params: int, what: str) -> Published:
    return Published(params, "[C]", f"diffusers 0.42.1 WanTransformer3DModel({what}) on meta, the official config "
                                    "(docs/papers.md §19)")


def _tiny(**config) -> dict:
    return {**TINY_NET, **config}


def _sampling(steps: int, shift: float, scale: float) -> Sampling:
    """Wan's sampler: UniPC (bh2, order 2, as diffusers' UniPCMultistepScheduler with flow sigmas) on the shifted
    flow grid, classifier-free guidance; training: uniform flow times with the same shift [ours: no training code is
    published]."""
    return Sampling(
        schedule="schedule/rectified_flow", schedule_kwargs={"shift": shift},
        parameterization="parameterization/flow", sampler="sampler/unipc", sampler_kwargs={"order": 2},
        steps=steps, guidance="guidance/cfg", guidance_kwargs={"scale": scale, "form": "scale"},
        train_timesteps="timesteps/uniform", train_timesteps_kwargs={"shift": shift})


_480P = "81 frames of 832×480 (21 × 60×104 latents)"
_720P = "81 frames of 1280×720 (21 × 90×160 latents)"
_TINY_NOTE = "CPU test size (= zoo/testing/tiny_wan.py's diffusers pipelines)"
_TINY_PUBLISHED = Published(None, "[ours]", "CPU test size")

def _wan21_t2v(name: str, config_file: str, paper: Preset, summary: str) -> None:
    """A Wan 2.1 text-to-video recipe: the same design at each size."""
    register_recipe(Recipe(
        name=name, paper=f"Wan Team 2025 (arXiv 2503.20314); Wan-Video/Wan2.1 wan/configs/{config_file}",
        net="net/wan_transformer",
        presets={"paper": paper, "tiny": Preset(_tiny(), 16, 3, 4, 4, _TINY_PUBLISHED, _TINY_NOTE, **_TINY_TEXT)},
        sampling=_sampling(50, 5.0, 5.0), summary=summary, conditioning=("context",), encoders=_TEXT,
        autoencoder=WAN21,
    ))


_wan21_t2v("wan2_1_t2v_1_3b", "wan_t2v_1_3B.py",
           Preset(_net("wan2.1_t2v_1.3b"), 16, 21, 60, 104, _count(1_418_996_800, "12 heads × 128, 30 layers"),
                  f"{_480P}; 32,760 tokens"),
           "text-to-video flow DiT, 1.3B: 3-D RoPE, RMS QK-norm, UMT5 cross-attention, over Wan's causal 3-D VAE")
_wan21_t2v("wan2_1_t2v_14b", "wan_t2v_14B.py",
           Preset(_net("wan2.1_t2v_14b"), 16, 21, 90, 160, _count(14_288_491_584, "40 heads × 128, 40 layers"),
                  f"{_720P}; 75,600 tokens"),
           "text-to-video flow DiT, 14B (Wan 2.1), same design as the 1.3B")

register_recipe(Recipe(
    name="wan2_1_i2v_14b",
    paper="Wan Team 2025 (arXiv 2503.20314); Wan-Video/Wan2.1 wan/configs/wan_i2v_14B.py, wan/image2video.py",
    net="net/wan_transformer",
    presets={
        "paper": Preset(_net("wan2.1_i2v_14b"), 16, 21, 90, 160,
                        _count(16_394_878_784, "in 36, image_dim 1280, added_kv_proj_dim 5120"),
                        f"{_720P}; x: 16 noisy + 4 mask + 16 first-frame latents; 257 CLIP tokens",
                        x_cond_channels=20),
        "480p": Preset(_net("wan2.1_i2v_14b"), 16, 21, 60, 104,
                       _count(16_394_878_784, "in 36, image_dim 1280, added_kv_proj_dim 5120"),
                       f"{_480P}; shift 3.0 at 480p [V-code: Wan2.1 generate.py]", x_cond_channels=20,
                       sampling=dict(schedule_kwargs={"shift": 3.0})),
        "tiny": Preset(_tiny(in_channels=36, image_context_dim=16), 16, 3, 4, 4, _TINY_PUBLISHED, _TINY_NOTE,
                       x_cond_channels=20, **_TINY_TEXT),
    },
    sampling=_sampling(40, 5.0, 5.0),
    summary="image-to-video flow DiT, 14B: first-frame latents and mask in x, CLIP image tokens through decoupled "
            "cross-attention keys/values",
    conditioning=("context", "image_context", "concat"),
    encoders={**_TEXT, "image_context": "conditioning/wan_image", "concat": "conditioning/wan_image"},
    autoencoder=WAN21,
))

register_recipe(Recipe(
    name="wan2_2_ti2v_5b",
    paper="Wan Team 2025 (Wan 2.2); Wan-Video/Wan2.2 wan/configs/wan_ti2v_5B.py",
    net="net/wan_transformer",
    presets={
        "paper": Preset(_net("wan2.2_ti2v_5b"), 48, 31, 44, 80, _count(4_999_787_712, "24 heads × 128, 30 layers, "
                                                                                    "in/out 48"),
                        "121 frames of 1280×704 (31 × 44×80 latents of the 2.2 VAE); 27,280 tokens"),
        "tiny": Preset(_tiny(in_channels=48, out_channels=48), 48, 3, 2, 2, _TINY_PUBLISHED, _TINY_NOTE,
                       **_TINY_TEXT),
    },
    sampling=_sampling(50, 5.0, 5.0),
    summary="text(-image)-to-video flow DiT, 5B, over the Wan 2.2 VAE (4×16×16, 48 channels); text to video here",
    conditioning=("context",), encoders=_TEXT, autoencoder=WAN22,
))

# Wan 2.2 A14B: the experts switch at flow time 0.875; the guidance scale with them (σ_VE = t / (1 − t) = 7 there)
A14B_BOUNDARY = 0.875


def _experts(config: dict) -> dict:
    return dict(net="net/wan_transformer", config=config, boundary=A14B_BOUNDARY)


register_recipe(Recipe(
    name="wan2_2_t2v_a14b",
    paper="Wan Team 2025 (Wan 2.2 mixture of experts); Wan-Video/Wan2.2 wan/configs/wan_t2v_A14B.py, "
          "wan/text2video.py",
    net="net/noise_experts",
    presets={
        "paper": Preset(_experts(_net("wan2.2_t2v_a14b")), 16, 21, 90, 160,
                        _count(2 * 14_288_491_584, "the 14B T2V config, twice: high- and low-noise experts"),
                        f"{_720P}; 14B active per step"),
        "tiny": Preset(_experts(_tiny()), 16, 3, 4, 4, _TINY_PUBLISHED, _TINY_NOTE, **_TINY_TEXT),
    },
    sampling=_sampling(40, 12.0, 4.0).replace(
        guidance="guidance/cfg_by_noise_level",
        guidance_kwargs={"high_noise_scale": 4.0, "low_noise_scale": 3.0,
                         "boundary_sigma": A14B_BOUNDARY / (1 - A14B_BOUNDARY)}),
    summary="text-to-video mixture of two 14B flow DiTs by noise level (high-noise expert for t ≥ 0.875), each with "
            "its own guidance scale",
    conditioning=("context",), encoders=_TEXT, autoencoder=WAN21,
))
