"""HunyuanVideo (Kong et al. 2024, "HunyuanVideo: A Systematic Framework For Large Video Generative Models",
arXiv 2412.03603).

Declarations only. A HunyuanVideo model is ``net/hunyuan_video_transformer`` (a flow-matching MM-DiT: 20 dual-stream
blocks with per-stream weights, then 40 single-stream blocks, one softmax over [video ; text], 3-D RoPE (16, 56, 56)
θ 256 on the video tokens, RMS qk-norm, a token refiner on the text stream, the pooled CLIP-L text vector and a
distilled guidance scale embedded into the modulation) over the causal 3-D VAE ``net/hunyuan_video_vae`` (4×8×8, 16
channels), latents scaled by 0.476986.

* ``hunyuan_video``: text to video, 129 frames of 720×1280 (33 × 90×160 latents; 118,800 video tokens).

Sampling: flow matching, Euler on the pipeline's grid (the times 1, 1 − 1/n, ..., 1/n shifted by 7.0: ``spacing=
"trailing"``), 50 steps, the guidance scale 6.0 *embedded* in the
network (``guidance``; the model is guidance-distilled, no classifier-free guidance: ``true_cfg_scale`` 1).

Provenance: [V-code] diffusers scripts/convert_hunyuan_video_to_diffusers.py (``HunyuanVideoTransformer3DModel()`` and
``AutoencoderKLHunyuanVideo()`` with their defaults; ``FlowMatchEulerDiscreteScheduler(shift=7.0)``), diffusers
pipeline_hunyuan_video.py (720×1280, 129 frames, 50 steps, guidance_scale 6.0 passed as ``guidance`` = 1000·6, 256
text tokens after the template's 95); [C] parameter counts of diffusers 0.42.1 from those configs on the meta device
(docs/papers.md §21).

Text: ``conditioning/llama_text`` (the LLaVA-LLaMA-3-8B text encoder's hidden state −3 under HunyuanVideo's prompt
template, its first 95 tokens cropped, 256 tokens kept, with their mask as ``context_mask``) and
``conditioning/clip_pooled`` (CLIP-L's pooled vector as ``added_cond``) [V-code: diffusers pipeline_hunyuan_video.py
``_get_llama_prompt_embeds``, ``_get_clip_prompt_embeds``]. Real weights: ``python -m zoo sample hunyuan_video
--weights DIR`` for a diffusers ``HunyuanVideoPipeline`` folder (zoo/convert/folder.py; the tiny preset's folder is
zoo/testing/tiny_hunyuan_video.py's pipeline).
"""

from __future__ import annotations

from components.nets.hunyuan_video import HUNYUAN_VIDEO_SIZES

from ..recipe import Autoencoder, Preset, Published, Recipe, Sampling, register_recipe


# diffusers AutoencoderKLHunyuanVideo defaults = the released VAE (246,478,803 parameters [C])
HUNYUAN_VIDEO_VAE = dict(in_channels=3, latent_channels=16, block_channels=(128, 256, 512, 512), layers_per_block=2,
                         groups=32, temporal_factor=4)
# the tiny presets are zoo/testing/tiny_hunyuan_video.py's diffusers models: 2 heads × 10, 1 + 1 blocks, 1 refiner
# block, text width 16, pooled 8; a 4-level VAE of width 8 with HunyuanVideo's real compression (4×8×8)
TINY_NET = dict(in_channels=4, hidden_dim=20, num_heads=2, depth_dual=1, depth_single=1, refiner_depth=1,
                context_dim=16, added_cond_dim=8, rope_axes_dim=(2, 4, 4))
TINY_VAE = dict(latent_channels=4, block_channels=(8, 8, 8, 8), layers_per_block=1, groups=2, temporal_factor=4)
SCALING_FACTOR = 0.476986
GUIDANCE = 6.0  # the embedded guidance scale (diffusers' guidance_scale; the net sees 1000·6 as diffusers')
SHIFT = 7.0
# flow time t ∈ [0, 1] as HunyuanVideo's timestep 1000·t, and the embedded guidance w as 1000·w
_NET = dict(time_scale=1000.0, guidance_default=GUIDANCE)

# 256 text tokens after the template's 95 (diffusers' max_sequence_length), also for the tiny preset's folder
_LLAMA = ("conditioning/llama_text", {"max_length": 256})

SAMPLING = Sampling(
    schedule="schedule/rectified_flow", schedule_kwargs={"shift": SHIFT}, parameterization="parameterization/flow",
    sampler="sampler/euler", steps=50, spacing="trailing", train_timesteps="timesteps/uniform",
    train_timesteps_kwargs={"shift": SHIFT})

register_recipe(Recipe(
    name="hunyuan_video",
    paper="Kong et al. 2024 (HunyuanVideo, arXiv 2412.03603); tencent/HunyuanVideo",
    net="net/hunyuan_video_transformer",
    presets={
        "paper": Preset(dict(HUNYUAN_VIDEO_SIZES["hunyuan_video"], **_NET), 16, 33, 90, 160,
                        Published(12_821_012_544, "[C]", "diffusers 0.42.1 HunyuanVideoTransformer3DModel() on meta, "
                                                         "the official config (docs/papers.md §21)"),
                        "129 frames of 720×1280 (33 × 90×160 latents); 118,800 video + 256 text tokens"),
        "tiny": Preset(dict(TINY_NET, **_NET), 4, 3, 4, 4,
                       Published(None, "[ours]", "CPU test size (= zoo/testing/tiny_hunyuan_video.py's diffusers "
                                                 "models)"),
                       "CPU test size", sampling=dict(steps=2)),
    },
    sampling=SAMPLING,
    summary="text-to-video flow MM-DiT, 13B: dual- then single-stream blocks over [video ; text], 3-D RoPE, token "
            "refiner, embedded (distilled) guidance, over HunyuanVideo's causal 3-D VAE",
    conditioning=("context", "added_cond", "context_mask", "guidance"),
    encoders={"context": _LLAMA, "context_mask": _LLAMA, "added_cond": "conditioning/clip_pooled"},
    autoencoder=Autoencoder(net="net/hunyuan_video_vae", config=HUNYUAN_VIDEO_VAE, scaling_factor=SCALING_FACTOR,
                            tiny=Autoencoder(net="net/hunyuan_video_vae", config=TINY_VAE,
                                             scaling_factor=SCALING_FACTOR)),
))
