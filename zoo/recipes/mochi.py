"""Mochi 1 (Genmo 2024, "Mochi 1 preview", genmo/mochi-1-preview; no paper, a technical blog and the code).

Declarations only. A Mochi model is ``net/mochi_transformer`` (a 10B flow-matching "AsymmDiT": 48 MM-DiT blocks over
[video ; text] with a 3072-wide video stream and a 1536-wide text stream in one softmax, per-stream RMS qk-norms,
Mochi's learned mixed 3-D RoPE on the video tokens, tanh-gated RMS-normed residual branches, SwiGLU MLPs, the
conditioning vector from the timestep plus an attention pool over the T5-XXL tokens) over the causal VAE
``net/mochi_vae`` (6×8×8, 12 channels), latents normalised per channel (``(z − μ_c) / σ_c``).

* ``mochi``: text to video, 163 frames (5.4 s at 30 fps) of 480×848 (28 × 60×106 latents; 44,520 video tokens).

Sampling: flow matching, Euler on Mochi's linear-quadratic grid (``schedule/linear_quadratic``, threshold 0.025),
64 steps, classifier-free guidance 4.5. The released network runs its time backwards (diffusers' timestep is
1000·(1 − σ) and its output x0 − ε); the recipe's net takes flow time σ and returns ε − x0 (``flow_time=True``), the
same function (components/nets/mochi.py "Time").

Provenance: [V-code] diffusers transformer_mochi.py / autoencoder_kl_mochi.py (``MochiTransformer3DModel()`` and
``AutoencoderKLMochi()`` with their defaults, the latents' mean/std), pipeline_mochi.py (480×848 defaults, 64 steps,
guidance 4.5, ``linear_quadratic_schedule(steps, 0.025)``, 256 T5 tokens, ``FlowMatchEulerDiscreteScheduler`` with
inverted sigmas); [C] parameter counts of diffusers 0.42.1 from those configs on the meta device (docs/papers.md
§23); [S] 163 frames at 30 fps (5.4 s) from the model card as quoted by third-party summaries (diffusers' pipeline
default is 19 frames).

Text: ``conditioning/text`` with T5 (T5-XXL, 4096 wide; the tiny preset's at the net's ``context_dim``), 256 tokens,
``mask="encode"``: the encoder runs under the tokenizer's attention mask and the mask is the net's ``context_mask``
[V-code: pipeline_mochi.py ``_get_t5_prompt_embeds``]. Guidance's unconditional branch is the empty prompt's encoding
with its mask (one ``</s>`` token), as MochiPipeline's default ``force_zeros_for_empty_prompt=False``; a folder that
asks for zeroed ids *and* mask instead is refused (zoo/convert/folder.py). Real weights: ``python -m zoo sample mochi
--weights DIR`` for a diffusers ``MochiPipeline`` folder (the VAE's ``latents_mean`` / ``latents_std`` are the latent
normalisation; the tiny preset's folder is zoo/testing/tiny_mochi.py's pipeline).
"""

from __future__ import annotations

from components.nets.mochi import MOCHI_SIZES

from ..recipe import Autoencoder, Preset, Published, Recipe, Sampling, register_recipe


# diffusers AutoencoderKLMochi() defaults = the released VAE (459,748,611 parameters [C])
MOCHI_VAE = dict(in_channels=3, latent_channels=12, encoder_channels=(64, 128, 256, 384),
                 decoder_channels=(128, 256, 512, 768), layers_per_block=(3, 3, 4, 6, 3),
                 temporal_expansions=(1, 2, 3), spatial_expansions=(2, 2, 2),
                 add_attention_block=(False, True, True, True, True))
# [V-code: diffusers AutoencoderKLMochi latents_mean / latents_std defaults]
LATENTS_MEAN = (-0.06730895953510081, -0.038011381506090416, -0.07477820912866141, -0.05565264470995561,
                0.012767231469026969, -0.04703542746246419, 0.043896967884726704, -0.09346305707025976,
                -0.09918314763016893, -0.008729793427399178, -0.011931556316503654, -0.0321993391887285)
LATENTS_STD = (0.9263795028493863, 0.9248894543193766, 0.9393059390890617, 0.959253732819592, 0.8244560132752793,
               0.917259975397747, 0.9294154431013696, 1.3720942357788521, 0.881393668867029, 0.9168315692124348,
               0.9185249279345552, 0.9274757570805041)
# the tiny presets are zoo/testing/tiny_mochi.py's diffusers models: 2 heads × 8, 2 blocks, text stream 8, T5 width
# 16; a VAE of width 32 (diffusers fixes 32 GroupNorm groups and 32-wide attention heads) with Mochi's real
# compression (6×8×8) and 12 latent channels (MochiPipeline decodes with 12-channel statistics), statistics off
# identity so the per-channel normalisation is exercised
TINY_NET = dict(in_channels=12, hidden_dim=16, num_heads=2, depth=2, caption_dim=8, context_dim=16)
TINY_VAE = dict(latent_channels=12, encoder_channels=(32, 32, 32, 32), decoder_channels=(32, 32, 32, 32),
                layers_per_block=(1, 1, 1, 1, 1), temporal_expansions=(1, 2, 3), spatial_expansions=(2, 2, 2))
TINY_LATENTS_MEAN = tuple(round(-0.3 + 0.05 * c, 2) for c in range(12))
TINY_LATENTS_STD = tuple(round(0.7 + 0.05 * c, 2) for c in range(12))
GUIDANCE = 4.5
MAX_TEXT_TOKENS = 256  # MochiPipeline's max_sequence_length
THRESHOLD_NOISE = 0.025
# flow time σ ∈ [0, 1] in, velocity ε − x0 out; Mochi's own timestep is 1000·(1 − σ)
_NET = dict(flow_time=True, time_scale=1000.0)
# T5-XXL under its attention mask; context_dim follows the net (4096; the tiny preset's 16)
_TEXT = ("conditioning/text", {"kind": "t5", "max_length": MAX_TEXT_TOKENS, "mask": "encode"})

SAMPLING = Sampling(
    schedule="schedule/linear_quadratic", schedule_kwargs={"threshold_noise": THRESHOLD_NOISE},
    parameterization="parameterization/flow", sampler="sampler/euler", steps=64, guidance="guidance/cfg",
    guidance_kwargs={"scale": GUIDANCE}, train_timesteps="timesteps/uniform")

register_recipe(Recipe(
    name="mochi",
    paper="Genmo 2024 (Mochi 1 preview); genmoai/models, genmo/mochi-1-preview",
    net="net/mochi_transformer",
    presets={
        "paper": Preset(dict(MOCHI_SIZES["mochi_1"], **_NET), 12, 28, 60, 106,
                        Published(10_027_677_744, "[C]", "diffusers 0.42.1 MochiTransformer3DModel() on meta, the "
                                                         "official config (docs/papers.md §23)"),
                        "163 frames of 480×848 (28 × 60×106 latents); 44,520 video + 256 text tokens"),
        "tiny": Preset(dict(TINY_NET, **_NET), 12, 2, 4, 4,
                       Published(None, "[ours]", "CPU test size (= zoo/testing/tiny_mochi.py's diffusers models)"),
                       "CPU test size", sampling=dict(steps=2)),
    },
    sampling=SAMPLING,
    summary="text-to-video flow AsymmDiT, 10B: a wide video and a narrow text stream in one softmax, learned mixed "
            "3-D RoPE, attention-pooled T5 conditioning, over Mochi's causal 6×8×8 VAE",
    conditioning=("context", "context_mask"),
    encoders={"context": _TEXT, "context_mask": _TEXT},
    autoencoder=Autoencoder(net="net/mochi_vae", config=MOCHI_VAE, latents_mean=LATENTS_MEAN,
                            latents_std=LATENTS_STD,
                            tiny=Autoencoder(net="net/mochi_vae", config=TINY_VAE, latents_mean=TINY_LATENTS_MEAN,
                                             latents_std=TINY_LATENTS_STD)),
))
