"""VDM — Video Diffusion Models (Ho, Salimans, Gritsenko, Chan, Norouzi, Fleet; arXiv 2204.03458, NeurIPS 2022).

Declarations only: the factorized space-time U-Net is ``net/space_time_unet`` with ``temporal="attention"`` (space-only
1×3×3 convs, a temporal attention with relative positions after every spatial attention, H×W-only resampling,
concatenation skips, conditioning added to every res-block). Paper sizes are Appendix A's tables (docs/papers.md §3.2,
[V-paper]); "attn res 8,16,32" on a 64×64 input is levels 1, 2, 3. VDM publishes no parameter counts.
"""

from __future__ import annotations

from ..recipe import Preset, Published, Recipe, Sampling, register_recipe


NOT_PUBLISHED = Published(None, "[V-paper]", "Ho et al. 2022 publish no parameter counts (docs/papers.md §3.2)")

_VDM = dict(in_channels=3, temporal="attention", temporal_position="relative", num_groups=32, time_scale=1000.0)


def _paper(base: int, mults: tuple[int, ...], blocks: int, mlp_layers: int, dropout: float, *,
           attention_levels=(1, 2, 3), head_dim: int = 64, **extra) -> dict:
    return dict(_VDM, base_channels=base, channel_mults=mults, num_res_blocks=blocks, attention_levels=attention_levels,
                head_dim=head_dim, emb_dim=1024, emb_mlp_layers=mlp_layers, dropout=dropout, **extra)


_ANCESTRAL = dict(sampler="sampler/ddpm", steps=256)
_PC = dict(sampler="sampler/ancestral_pc", sampler_kwargs={"gamma": 0.0, "delta": 0.1})
_TEXT = dict(added_cond_dim=1024)  # BERT-large embeddings, attention-pooled to one vector (pooling: the encoder's)

PRESETS = {
    "ucf101": Preset(
        _paper(256, (1, 2, 4, 8), 2, 4, 0.1), 3, 16, 64, 64, NOT_PUBLISHED,
        "UCF101 unconditional 16×64×64, ε-prediction, 256 ancestral steps with γ = 0.1",
        sampling=dict(parameterization="parameterization/eps", **_ANCESTRAL, sampler_kwargs={"gamma": 0.1})),
    "bair": Preset(
        _paper(128, (1, 2, 3, 4), 3, 2, 0.1), 3, 16, 64, 64, NOT_PUBLISHED,
        "BAIR video prediction: v-prediction; 256 steps + 256 Langevin corrections (γ = 0); reconstruction "
        "guidance w_r = 50 on the given frames (a sampling-time technique, not part of the net); LR flips",
        sampling=dict(parameterization="parameterization/v", steps=256, **_PC)),
    "kinetics600": Preset(
        _paper(256, (1, 2, 4, 8), 2, 2, 0.1), 3, 16, 64, 64, NOT_PUBLISHED,
        "Kinetics-600 prediction (5 → 11 frames): v-prediction; 128 steps + 128 Langevin corrections; "
        "reconstruction guidance w_r = 9",
        sampling=dict(parameterization="parameterization/v", steps=128, **_PC)),
    "t2v_small": Preset(
        _paper(128, (1, 2, 4, 8), 2, 4, 0.0, **_TEXT), 3, 16, 64, 64, NOT_PUBLISHED,
        "text-to-video small 16×64×64: BERT-large pooled text as added_cond (1024), ε-prediction, 256 steps γ = 0.3, "
        "classifier-free guidance",
        sampling=dict(parameterization="parameterization/eps", **_ANCESTRAL, sampler_kwargs={"gamma": 0.3},
                      guidance="guidance/cfg", guidance_kwargs={"scale": 2.0, "form": "one_plus_w"})),
    "t2v_large": Preset(
        _paper(256, (1, 2, 4, 8), 2, 4, 0.0, **_TEXT), 3, 16, 64, 64, NOT_PUBLISHED,
        "text-to-video large 16×64×64 (frameskip 1 and 4)",
        sampling=dict(parameterization="parameterization/eps", **_ANCESTRAL, sampler_kwargs={"gamma": 0.3},
                      guidance="guidance/cfg", guidance_kwargs={"scale": 2.0, "form": "one_plus_w"})),
    "t2v_128": Preset(
        _paper(128, (1, 2, 4, 8, 16), 2, 4, 0.0, attention_levels=(2, 3, 4), head_dim=128, **_TEXT),
        3, 9, 128, 128, NOT_PUBLISHED,
        "text-to-video 9×128×128 (head dim 128; attention at 32, 16, 8 = levels 2, 3, 4), the cascade's SR / "
        "temporal-extension stage",
        sampling=dict(parameterization="parameterization/eps", **_ANCESTRAL, sampler_kwargs={"gamma": 0.3},
                      guidance="guidance/cfg", guidance_kwargs={"scale": 2.0, "form": "one_plus_w"})),
    "demo": Preset(
        dict(_VDM, base_channels=16, channel_mults=(1, 2, 2), num_res_blocks=1, attention_levels=(1, 2),
             head_dim=16, num_groups=8, transformer_ff_mult=2.0),
        3, 8, 16, 16, Published(None, "[ours]", "a CPU demo size, not from the paper"),
        "VDM-style factorized U-Net for CPU training on 8-frame 16×16 RGB clips (also runs at 32×32): "
        "v-prediction, cosine schedule, 50 DDIM steps",
        sampling=dict(parameterization="parameterization/v", sampler="sampler/ddim", sampler_kwargs={"eta": 0.0},
                      steps=50)),
    "demo_flow": Preset(
        dict(_VDM, base_channels=16, channel_mults=(1, 2, 2), num_res_blocks=1, attention_levels=(1, 2),
             head_dim=16, num_groups=8, transformer_ff_mult=2.0),
        3, 8, 16, 16, Published(None, "[ours]", "a CPU demo size, not from the paper"),
        "the demo net trained by flow matching instead: rectified-flow path, velocity prediction, logit-normal "
        "training times (SD3), 50 Euler steps (= flow Euler)",
        sampling=dict(schedule="schedule/rectified_flow", schedule_kwargs={}, parameterization="parameterization/flow",
                      sampler="sampler/euler", sampler_kwargs={}, steps=50, train_timesteps="timesteps/logit_normal",
                      train_timesteps_kwargs={"mean": 0.0, "std": 1.0})),
    "demo_real": Preset(
        dict(_VDM, base_channels=16, channel_mults=(1, 2, 2), num_res_blocks=1, attention_levels=(1, 2),
             head_dim=16, num_groups=8, transformer_ff_mult=2.0),
        3, 8, 32, 32, Published(None, "[ours]", "a CPU demo size, not from the paper"),
        "the demo net on 8-frame 32×32 RGB clips of real video (`python -m zoo demo --data bigbuckbunny`): "
        "v-prediction, cosine schedule, 50 DDIM steps",
        sampling=dict(parameterization="parameterization/v", sampler="sampler/ddim", sampler_kwargs={"eta": 0.0},
                      steps=50)),
    "tiny": Preset(
        dict(_VDM, base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_levels=(1,), head_dim=8,
             num_groups=4, transformer_ff_mult=1.0),
        3, 4, 8, 8, Published(None, "[ours]", "CPU test size"), "CPU test size",
        sampling=dict(parameterization="parameterization/v", sampler="sampler/ddim", sampler_kwargs={}, steps=2)),
}

RECIPE = register_recipe(Recipe(
    name="vdm",
    paper="Ho et al. 2022, Video Diffusion Models (arXiv 2204.03458), Appendix A",
    net="net/space_time_unet",
    presets=PRESETS,
    sampling=Sampling(
        schedule="schedule/cosine", schedule_kwargs={"logsnr_min": -20.0, "logsnr_max": 20.0},
        parameterization="parameterization/eps", sampler="sampler/ddpm", sampler_kwargs={"gamma": 0.1}, steps=256,
        time_input="continuous"),
    summary="factorized space-time U-Net: space-only convs, spatial attention then relative-position temporal "
            "attention at the attention resolutions, pixel space, continuous-time cosine schedule",
    conditioning=("added_cond",),
))
