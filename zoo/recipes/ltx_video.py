"""LTX-Video (HaCohen et al. 2024, "LTX-Video: Realtime Video Latent Diffusion", arXiv 2501.00103).

Declarations only. An LTX-Video model is ``net/ltx_video_transformer`` (a 2B flow-matching DiT: one token per latent
voxel, LTX's frame-rate-scaled RoPE, RMS QK-norm, T5-XXL cross-attention, adaLN-single) over ``net/ltx_video_vae``
(1:192: 32×32 pixels × 8 frames -> 128 channels, frames ``1 + 8k``; the decoder conditioned on a timestep, so it
finishes the denoising); diffusion runs on the VAE's raw latents normalised per channel, ``(z − μ_c) / σ_c``.

* ``ltx_video``: text to video, LTXPipeline's defaults: 161 frames of 704×512 at 25 fps (21 × 16×22 latents, 7,392
  tokens), 50 Euler steps, classifier-free guidance 3.0, T5-XXL text of 128 tokens.

The VAE is the 0.9.1 one (the timestep-conditioned decoder with noise injection and residual depth-to-space, the
paper's "decoder performs the last denoising step"); LTX-Video 0.9.0's plain decoder is ``AutoencoderKLLTXVideo()``'s
defaults and converts as well (``zoo.from_diffusers``). The decode timestep is diffusers' default, 0.0 (no noise
mixed; ``net/ltx_video_vae``'s ``decode_timestep`` / ``decode_noise_scale`` set it). The per-channel latent statistics
are stored in the checkpoint (diffusers' ``latents_mean`` / ``latents_std`` buffers, the original's
``per_channel_statistics``), not in any config: the paper preset declares the untrained values (mean 0, std 1, what a
fresh diffusers VAE holds); a converted VAE carries its own (``LTXVideoVAE.latent_statistics()``).

**Sampling grid.** LTXPipeline shifts its sigmas with the resolution-dependent μ of ``calculate_shift`` (the
scheduler's base_shift 0.95 at 1,024 tokens, max_shift 2.05 at 4,096, linear in the latent token count). Our plan is
resolved once, so the recipe declares the μ the pipeline computes for the published size: 7,392 tokens -> μ =
3.2302083 (a time shift e^μ = 25.28), fixed; a preset at another size should set its own (``shift_mu``). The
times before the shift are LTXPipeline's ``linspace(1, 1/N, N)`` (``spacing="trailing"``) and the shifted grid is
stretched so that its last level is the scheduler's ``shift_terminal`` 0.1: the grid equals the pipeline's
(tests/recipes/test_ltx_video_recipe.py). Training: uniform flow times, no shift [ours: no training code is
published].

Conditioning: ``context`` (T5-XXL tokens, 128) and their padding mask ``context_mask`` (1 = a real token):
``conditioning/text`` with ``mask="output"``, the encoder itself unmasked and the mask handed to the transformer's
cross-attentions [V-code: pipeline_ltx.py ``_get_t5_prompt_embeds``, ``encoder_attention_mask``].

Provenance: [V-code] diffusers pipeline_ltx.py ``LTXPipeline.__call__`` defaults (height 512, width 704, 161 frames,
frame_rate 25, 50 steps, guidance_scale 3, decode_timestep 0.0, max_sequence_length 128, ``calculate_shift``),
scripts/convert_ltx_to_diffusers.py (``get_vae_config("0.9.1")``; the scheduler: base_shift 0.95, max_shift 2.05,
base_image_seq_len 1024, max_image_seq_len 4096, shift_terminal 0.1); [C] parameter counts of diffusers 0.42.1
``LTXVideoTransformer3DModel()`` and ``AutoencoderKLLTXVideo(**get_vae_config("0.9.1"))`` on the meta device
(docs/papers.md, LTX-Video).
"""

from __future__ import annotations

from components.diffusion.rectified_flow import shift_mu
from components.nets.ltx_video import LTX_VIDEO_SIZES

from ..recipe import Autoencoder, Preset, Published, Recipe, Sampling, register_recipe


# the published size: 161 frames of 704×512 -> 21 × 16×22 latents, one token per latent voxel
PAPER_LATENTS = (21, 16, 22)
MU = shift_mu(PAPER_LATENTS[0] * PAPER_LATENTS[1] * PAPER_LATENTS[2], base_tokens=1024, max_tokens=4096,
              base_shift=0.95, max_shift=2.05)  # 3.2302083…
GUIDANCE = 3.0
FRAME_RATE = 25.0

# diffusers scripts/convert_ltx_to_diffusers.py get_vae_config("0.9.1") in net/ltx_video_vae's words
LTX_VIDEO_VAE_091 = dict(
    latent_channels=128, block_channels=(128, 256, 512, 512), layers_per_block=(4, 3, 3, 3, 4),
    spatio_temporal_scaling=(True, True, True, False), decoder_block_channels=(256, 512, 1024),
    decoder_layers_per_block=(5, 6, 7, 8), decoder_spatio_temporal_scaling=(True, True, True),
    decoder_inject_noise=(True, True, True, False), upsample_residual=(True, True, True), upsample_factor=(2, 2, 2),
    timestep_conditioning=True)
# the tiny VAE: LTX's real compression (patch 4, three scaled levels: 32×32×8) and the 0.9.1 decoder layout at width 8
TINY_VAE = dict(latent_channels=8, block_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
                spatio_temporal_scaling=(True, True, True, False), decoder_block_channels=(8, 16, 32),
                decoder_layers_per_block=(1, 1, 1, 1), decoder_spatio_temporal_scaling=(True, True, True),
                decoder_inject_noise=(True, True, True, False), upsample_residual=(True, True, True),
                upsample_factor=(2, 2, 2), timestep_conditioning=True, patch_size=4)
# = zoo/testing/tiny_ltx_video.py's diffusers transformer: 2 heads × 16, 2 blocks, text width 16, 8 latent channels
TINY_NET = dict(in_channels=8, hidden_dim=32, depth=2, num_heads=2, context_dim=16)
_NET = dict(time_scale=1000.0, frame_rate=FRAME_RATE)  # flow time t ∈ [0, 1] as LTX's timestep 1000·t
# T5-XXL, 128 tokens, run unmasked; its attention mask is the net's context_mask
_TEXT = ("conditioning/text", {"kind": "t5", "max_length": 128, "mask": "output"})

LTX_VIDEO_VAE = Autoencoder(
    net="net/ltx_video_vae", config=LTX_VIDEO_VAE_091, latents_mean=(0.0,) * 128, latents_std=(1.0,) * 128,
    # the tiny VAE's statistics are stand-ins (every channel normalised differently), as Wan 2.2's tiny
    tiny=Autoencoder(net="net/ltx_video_vae", config=TINY_VAE, latents_mean=tuple(0.1 * c / 8 for c in range(8)),
                     latents_std=tuple(1 + c / 8 for c in range(8))))

SAMPLING = Sampling(
    schedule="schedule/rectified_flow", schedule_kwargs={"mu": MU, "shift_terminal": 0.1},
    parameterization="parameterization/flow", sampler="sampler/euler", steps=50, spacing="trailing",
    guidance="guidance/cfg", guidance_kwargs={"scale": GUIDANCE, "form": "scale"}, train_timesteps="timesteps/uniform")

register_recipe(Recipe(
    name="ltx_video",
    paper="HaCohen et al. 2024 (LTX-Video, arXiv 2501.00103); Lightricks/LTX-Video",
    net="net/ltx_video_transformer",
    presets={
        "paper": Preset(dict(LTX_VIDEO_SIZES["ltx_video_0.9"], **_NET), 128, *PAPER_LATENTS,
                        Published(1_923_385_472, "[C]", "diffusers 0.42.1 LTXVideoTransformer3DModel() on meta, the "
                                                        "official config (docs/papers.md, LTX-Video)"),
                        "161 frames of 704×512 at 25 fps (21 × 16×22 latents); 7,392 video + 128 text tokens; VAE "
                        "0.9.1 (934,976,434 parameters [C])"),
        "tiny": Preset(dict(TINY_NET, **_NET), 8, 3, 4, 4,
                       Published(None, "[ours]", "CPU test size (= zoo/testing/tiny_ltx_video.py's diffusers "
                                                 "transformer)"),
                       "CPU test size: 17 frames of 128×128", sampling=dict(steps=2)),
    },
    sampling=SAMPLING,
    summary="text-to-video flow DiT, 2B, one token per latent voxel of a 1:192 causal video VAE whose "
            "timestep-conditioned decoder does the last denoising step",
    conditioning=("context", "context_mask"),
    encoders={"context": _TEXT, "context_mask": _TEXT},
    autoencoder=LTX_VIDEO_VAE,
))
