"""CogVideoX 1.0 (Yang et al. 2024, "CogVideoX: Text-to-Video Diffusion Models with An Expert Transformer",
arXiv 2408.06072).

Declarations only. A CogVideoX model is ``net/cogvideox_transformer`` (expert transformer blocks: one joint sequence of
T5 text tokens and video tokens, ``attention/joint`` with shared projections, the expert adaptive LayerNorm per stream)
over the 3-D causal VAE ``net/cogvideox_vae`` (4×8×8, 16 channels, frame batches), latents scaled by a factor.

* ``cogvideox_2b``: 30 heads × 64, 30 blocks, fixed 3-D sin-cos positions; VAE scaling 1.15258426;
* ``cogvideox_5b``: 48 heads × 64, 42 blocks, 3-D RoPE on the video tokens (the pipeline's resize-crop positions);
  VAE scaling 0.7.

Both: 49 frames of 480×720 (13 × 60×90 latents, 8N + 1 frames), 226 T5-XXL tokens, v-prediction on the scaled-linear
schedule rescaled to zero terminal SNR, DDIM ("trailing" spacing), 50 steps, guidance 6.

Provenance: [V-code] diffusers scripts/convert_cogvideox_to_diffusers.py (sizes: num_layers 30 / 42, heads 30 / 48,
RoPE False / True, VAE scaling 1.15258426 / 0.7; the scheduler: CogVideoXDDIMScheduler, scaled_linear 0.00085–0.012,
v_prediction, rescale_betas_zero_snr, snr_shift_scale 3.0, trailing; TOKENIZER_MAX_LENGTH 226), diffusers
pipeline_cogvideox.py (50 steps, guidance 6, 49 frames, 480×720); [C] parameter counts of diffusers 0.42.1
``CogVideoXTransformer3DModel`` / ``AutoencoderKLCogVideoX`` from those configs on the meta device (docs/papers.md §20).

The SNR shift (``snr_shift_scale`` 3: ᾱ -> ᾱ / (3 − 2ᾱ) before the zero-SNR rescale) is the schedule's option;
the time grid is diffusers' "trailing" integer timesteps (``Sampling.spacing``: 999, 979, …, 19 for 50 steps, the
last step to ᾱ = 1 as ``set_alpha_to_one``), so DDIM here is CogVideoXDDIMScheduler's sampler step for step but
for one number: diffusers keeps ᾱ_999 = 0, the schedule its finite stand-in 2^-24, which moves the first x̂0 by
2^-12·|x_T| (tests/convert/test_cogvideox_spacing.py: the grid, and the whole sample loop against diffusers'
CogVideoXPipeline: equal to 1e-4 given the stand-in, within that bound without it).
"""

from __future__ import annotations

from components.nets.cogvideox import COGVIDEOX_SIZES

from ..recipe import Autoencoder, Preset, Published, Recipe, Sampling, register_recipe


# diffusers AutoencoderKLCogVideoX defaults = the released CogVideoX 1.0 VAE (215,583,907 parameters [C])
COGVIDEOX_VAE = dict(in_channels=3, latent_channels=16, block_channels=(128, 256, 256, 512), layers_per_block=3,
                     groups=32, temporal_factor=4)
# the tiny presets are zoo/testing/tiny_cogvideox.py's diffusers pipeline: 2 heads × 16, 2 blocks, text width 32,
# a 4-level VAE of width 8 with CogVideoX's real compression (4×8×8)
TINY_NET = dict(in_channels=4, hidden_dim=32, num_heads=2, depth=2, cond_dim=16, context_dim=32,
                rope_base_grid=(4, 4))
TINY_VAE = dict(latent_channels=4, block_channels=(8, 8, 8, 8), layers_per_block=1, groups=2, temporal_factor=4)


def _vae(scaling_factor: float) -> Autoencoder:
    return Autoencoder(net="net/cogvideox_vae", config=COGVIDEOX_VAE, scaling_factor=scaling_factor,
                       tiny=Autoencoder(net="net/cogvideox_vae", config=TINY_VAE, scaling_factor=scaling_factor))


SAMPLING = Sampling(
    schedule="schedule/scaled_linear",
    schedule_kwargs={"beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 1000, "zero_terminal_snr": True,
                     "snr_shift_scale": 3.0},
    parameterization="parameterization/v", sampler="sampler/ddim", sampler_kwargs={"eta": 0.0}, steps=50,
    guidance="guidance/cfg", guidance_kwargs={"scale": 6.0, "form": "scale"}, time_input="discrete",
    spacing="trailing")
_TEXT = {"context": ("conditioning/text", {"kind": "t5", "max_length": 226})}
_PAPER_NOTE = "49 frames of 480×720 (13 × 60×90 latents); 226 text + 17,550 video tokens"
_TINY = Published(None, "[ours]", "CPU test size (= zoo/testing/tiny_cogvideox.py's diffusers pipeline)")


def _count(params: int, what: str) -> Published:
    return Published(params, "[C]", f"diffusers 0.42.1 CogVideoXTransformer3DModel({what}) on meta, the official "
                                    "config (docs/papers.md §20)")


register_recipe(Recipe(
    name="cogvideox_2b",
    paper="Yang et al. 2024 (CogVideoX, arXiv 2408.06072); THUDM/CogVideoX-2b",
    net="net/cogvideox_transformer",
    presets={
        "paper": Preset(dict(COGVIDEOX_SIZES["cogvideox_2b"]), 16, 13, 60, 90,
                        _count(1_693_783_872, "30 heads × 64, 30 layers"), f"{_PAPER_NOTE}; sin-cos positions"),
        "tiny": Preset(dict(TINY_NET, pos_embed="sincos_3d"), 4, 3, 4, 4, _TINY, "CPU test size",
                       sampling=dict(steps=2)),
    },
    sampling=SAMPLING,
    summary="text-to-video expert transformer, 2B: joint text-video attention, expert adaLN per stream, 3-D sin-cos "
            "positions, over CogVideoX's 3-D causal VAE",
    conditioning=("context",), encoders=_TEXT, autoencoder=_vae(1.15258426),
))

register_recipe(Recipe(
    name="cogvideox_5b",
    paper="Yang et al. 2024 (CogVideoX, arXiv 2408.06072); THUDM/CogVideoX-5b",
    net="net/cogvideox_transformer",
    presets={
        "paper": Preset(dict(COGVIDEOX_SIZES["cogvideox_5b"]), 16, 13, 60, 90,
                        _count(5_570_283_072, "48 heads × 64, 42 layers, rotary positions"), f"{_PAPER_NOTE}; 3-D RoPE"),
        "tiny": Preset(dict(TINY_NET, pos_embed="rope_3d"), 4, 3, 4, 4, _TINY, "CPU test size",
                       sampling=dict(steps=2)),
    },
    sampling=SAMPLING,
    summary="text-to-video expert transformer, 5B: as the 2B with 3-D RoPE on the video tokens",
    conditioning=("context",), encoders=_TEXT, autoencoder=_vae(0.7),
))
