"""Imagen Video (Ho, Chan, Saharia, Whang, Gao, Gritsenko, Kingma, Poole, Norouzi, Fleet, Salimans; arXiv 2210.02303).

Declarations only: a seven-model cascade (docs/papers.md §4.1, [S]) of ``net/space_time_unet`` in pixel space, all
text-conditioned (T5-XXL tokens, 4096 wide, cross-attention), v-parameterization, continuous-time cosine schedule.
``imagen_video`` is the base model and declares the six later stages (``zoo.cascade``): each takes the previous video
channel-concatenated (SSR: bilinear resize, TSR: frame repetition) with noise-conditioning augmentation (its level
as ``added_cond``). The base uses temporal attention; the SR models temporal convolutions (``temporal="conv"``); the
last SSR has no attention but the middle block's (which carries the text cross-attention).

The widths are NOT published: ours are chosen so each stage lands within 2% of its published parameter count
(5.6B, 1.7B, 1.4B, 1.2B, 780M, 630M, 340M [S]); they are a reconstruction, not the paper's layout.
"""

from __future__ import annotations

import math

from components.diffusion.schedules import CosineSchedule

from ..recipe import Preset, Published, Recipe, Sampling, Stage, register_recipe


T5_XXL = 4096
# published counts [S] (docs/papers.md §4.1): rounded, so tests check ours within 2%
PUBLISHED_PARAMS = {
    "imagen_video": 5_600_000_000, "imagen_video_tsr_1": 1_700_000_000, "imagen_video_ssr_1": 1_400_000_000,
    "imagen_video_ssr_2": 1_200_000_000, "imagen_video_tsr_2": 780_000_000, "imagen_video_tsr_3": 630_000_000,
    "imagen_video_ssr_3": 340_000_000,
}
_COSINE = dict(schedule="schedule/cosine", schedule_kwargs={"logsnr_min": -20.0, "logsnr_max": 20.0},
               parameterization="parameterization/v", sampler="sampler/ddim", sampler_kwargs={"eta": 0.0},
               time_input="continuous")
# the fixed augmentation level at sampling: SNR 5 ([S] "SNR 3 or 5"), as continuous time of the stages' schedule
NOISE_AUG_T = float(CosineSchedule(**_COSINE["schedule_kwargs"]).t_from_log_snr(math.log(5.0)))
_OSCILLATING = dict(guidance="guidance/oscillating",
                    guidance_kwargs={"high": 15.0, "low": 1.0, "warmup_steps": 64})
_CONSTANT = dict(guidance="guidance/cfg", guidance_kwargs={"scale": 1.0, "form": "one_plus_w"})


def _unet(base: int, mults: tuple, blocks, attention: tuple, ff: float, *, sr: bool) -> dict:
    return dict(in_channels=3, base_channels=base, channel_mults=mults, num_res_blocks=blocks,
                attention_levels=attention, head_dim=64, transformer_ff_mult=ff, context_dim=T5_XXL,
                temporal="conv" if sr else "attention", temporal_position="relative", num_groups=32,
                time_scale=1000.0, **(dict(concat_channels=3, added_cond_dim=1) if sr else {}))


def _tiny(*, sr: bool) -> dict:
    """CPU size; SR stages attend (and read the text) in the middle block only, as the last paper SSR."""
    return dict(_unet(8, (1, 2), 1, () if sr else (1,), 1.0, sr=sr), head_dim=8, num_groups=4, context_dim=8)


def _published(name: str, size: str) -> Published:
    return Published(None, "[S]", f"{size} published (docs/papers.md §4.1; rounded, ours within 2%: "
                                  f"tests/recipes/test_cascade_recipes.py)")


# (name, size, F×H×W out, unet config, guidance, note)
_STAGES = [
    ("imagen_video_tsr_1", "1.7B", (32, 24, 40), _unet(320, (1, 2, 4, 4), 3, (1, 2, 3), 3.0, sr=True), _OSCILLATING,
     Stage("imagen_video_tsr_1", "temporal_sr", 2, NOISE_AUG_T, note="TSR 3 -> 6 fps")),
    ("imagen_video_ssr_1", "1.4B", (32, 48, 80), _unet(320, (1, 2, 4, 4), (2, 2, 2, 3), (2, 3), 3.0, sr=True),
     _OSCILLATING, Stage("imagen_video_ssr_1", "spatial_sr", 2, NOISE_AUG_T, note="SSR 40×24 -> 80×48")),
    ("imagen_video_ssr_2", "1.2B", (32, 192, 320), _unet(256, (1, 2, 4, 6), (2, 2, 3, 2), (3,), 4.0, sr=True),
     _CONSTANT, Stage("imagen_video_ssr_2", "spatial_sr", 4, NOISE_AUG_T, note="SSR 80×48 -> 320×192")),
    ("imagen_video_tsr_2", "780M", (64, 192, 320), _unet(192, (1, 2, 4, 6), (2, 2, 2, 3), (3,), 3.0, sr=True),
     _CONSTANT, Stage("imagen_video_tsr_2", "temporal_sr", 2, NOISE_AUG_T, note="TSR 6 -> 12 fps")),
    ("imagen_video_tsr_3", "630M", (128, 192, 320), _unet(128, (1, 2, 4, 8), (4, 4, 4, 3), (3,), 4.0, sr=True),
     _CONSTANT, Stage("imagen_video_tsr_3", "temporal_sr", 2, NOISE_AUG_T, note="TSR 12 -> 24 fps")),
    ("imagen_video_ssr_3", "340M", (128, 768, 1280), _unet(128, (1, 2, 4, 8), (2, 2, 3, 2), (), 4.0, sr=True),
     _CONSTANT, Stage("imagen_video_ssr_3", "spatial_sr", 4, NOISE_AUG_T,
                      note="SSR 320×192 -> 1280×768; no attention but the middle block's")),
]
# tiny cascade: 1×2×2 -> ... -> 8×64×64 with the paper's factors
_TINY_SIZES = {"imagen_video_tsr_1": (2, 2, 2), "imagen_video_ssr_1": (2, 4, 4), "imagen_video_ssr_2": (2, 16, 16),
               "imagen_video_tsr_2": (4, 16, 16), "imagen_video_tsr_3": (8, 16, 16),
               "imagen_video_ssr_3": (8, 64, 64)}
_PAPER = "Ho et al. 2022, Imagen Video: High Definition Video Generation with Diffusion Models (arXiv 2210.02303)"
_TINY_NOTE = Published(None, "[ours]", "CPU test size")

for name, size, (f, h, w), config, guidance, stage in _STAGES:
    register_recipe(Recipe(
        name=name, paper=_PAPER, net="net/space_time_unet",
        presets={
            "paper": Preset(config, 3, f, h, w, _published(name, size), f"{stage.note}; output {f}×{w}×{h} (F×W×H)"),
            "tiny": Preset(_tiny(sr=True), 3, *_TINY_SIZES[name], _TINY_NOTE, "CPU test size",
                           sampling=dict(steps=2)),
        },
        sampling=Sampling(**_COSINE, steps=128, **guidance, uncond_keep=("concat", "added_cond")),
        summary=f"Imagen Video cascade stage: {stage.note} ({stage.kind} × {stage.factor}), temporal convs, "
                "low-res video concatenated, noise-conditioning augmentation level as added_cond",
        conditioning=("context", "concat", "added_cond"), reconstruction=True, stage_of="imagen_video",
    ))

RECIPE = register_recipe(Recipe(
    name="imagen_video",
    paper=_PAPER,
    net="net/space_time_unet",
    presets={
        "paper": Preset(_unet(640, (1, 2, 4, 4), 2, (1, 2, 3), 3.5, sr=False), 3, 128, 768, 1280,
                        _published("imagen_video", "5.6B"),
                        "the base model (16×40×24 at 3 fps) of the 7-stage cascade; the sample shape is the "
                        "cascade's output, 128 frames 1280×768 at 24 fps (~5.3 s) [S]"),
        "tiny": Preset(_tiny(sr=False), 3, 8, 64, 64, _TINY_NOTE,
                       "CPU test size: base 1×2×2, the whole cascade to 8×64×64", sampling=dict(steps=2)),
    },
    sampling=Sampling(**_COSINE, steps=256, **_OSCILLATING),
    summary="7-stage pixel cascade (base + 3 TSR + 3 SSR), T5-XXL text cross-attention, v-prediction; the base "
            "uses temporal attention, SR stages temporal convs; this recipe is the base and runs the cascade",
    conditioning=("context",),
    encoders={"context": ("conditioning/text", {"kind": "t5"})},
    reconstruction=True,
    stages=tuple(stage for *_, stage in _STAGES),
))
