"""Make-A-Video (Singer et al. 2022, Meta; arXiv 2209.14792) — a RECONSTRUCTION (sizes unpublished, docs/papers.md §6).

Declarations only: a pixel-space cascade of ``net/space_time_unet`` (docs/papers.md §6.1):
D^t (16×64×64, the unCLIP-style decoder inflated with pseudo-3-D attention, conditioned on the CLIP image embedding
and fps) -> ↑F (frame interpolation fine-tuned from D^t; 4 extra input channels = masked RGB video + a binary mask;
frame skip 5: 16 -> 76 frames) -> SR^t_l (spatiotemporal SR to 256²) -> SR_h (per-frame SR to 768², the same noise
for every frame). Pseudo-3-D attention is ``block/spatiotemporal_transformer`` in the spatial slot (spatial
attention, then an identity-initialised temporal attention). Pseudo-3-D convolutions (§3.2) are the res-blocks' two
3×3 convs as ``conv/pseudo3d`` (``res_block_kwargs={"conv": "conv/pseudo3d"}``: a 2-D conv then a dirac-initialised
1-D conv over frames), so every video stage equals its image model at init. The U-Net's first and last convs and the
res-blocks' 1×1 skips stay per-frame. ``added_cond`` = [CLIP image embedding (768) ‖ fps].
"""

from __future__ import annotations

from ..recipe import Preset, Published, Recipe, Sampling, Stage, register_recipe


CLIP_IMAGE = 768  # [M] width of the prior's CLIP image embedding (not given in the sources consulted)
_PAPER = "Singer et al. 2022, Make-A-Video: Text-to-Video Generation without Text-Video Data (arXiv 2209.14792)"
NOT_PUBLISHED = Published(None, "[S]", "parameter counts not found in any source consulted (docs/papers.md §6.2)")
_TINY_NOTE = Published(None, "[ours]", "CPU test size")


def _unet(base: int, mults: tuple, blocks: int, attention: tuple, *, video: bool = True, concat: int = 0,
          cond: int | None = CLIP_IMAGE + 1, head_dim: int = 64, groups: int = 32, aug: bool = False) -> dict:
    return dict(
        in_channels=3, base_channels=base, channel_mults=mults, num_res_blocks=blocks, attention_levels=attention,
        head_dim=head_dim, num_groups=groups, time_scale=1000.0, temporal="none",
        res_block_kwargs={"conv": "conv/pseudo3d"} if video else None,
        spatial_block="block/spatiotemporal_transformer" if video else "block/spatial_transformer",
        concat_channels=concat, added_cond_dim=1 if aug else cond, mid_attention=bool(attention))


def _tiny(**kw) -> dict:
    return {**_unet(8, (1, 2), 1, (1,), head_dim=8, groups=4, cond=4, **kw), "transformer_ff_mult": 1.0}


_SAMPLING = Sampling(schedule="schedule/cosine", schedule_kwargs={"logsnr_min": -20.0, "logsnr_max": 20.0},
                     parameterization="parameterization/eps", sampler="sampler/ddim", sampler_kwargs={"eta": 0.0},
                     steps=100, time_input="continuous")
_SR_SAMPLING = _SAMPLING.replace(steps=50, uncond_keep=("concat", "added_cond"))

STAGES = (
    Stage("make_a_video_interpolation", "interpolation", 5, note="↑F: 16 -> 76 frames (frame skip 5), masked frames"),
    Stage("make_a_video_sr_l", "spatial_sr", 4, 0.1, note="SR^t_l: 64² -> 256², spatiotemporal"),
    Stage("make_a_video_sr_h", "spatial_sr", 3, 0.1, same_noise_per_frame=True,
          note="SR_h: 256² -> 768², per frame, one noise for every frame"),
)
_STAGE_PRESETS = {
    "make_a_video_interpolation": (
        _unet(320, (1, 2, 3, 4), 3, (1, 2, 3), concat=4), (76, 64, 64),
        _tiny(concat=4), (6, 2, 2), "D^t fine-tuned with 4 extra input channels (3 masked RGB + 1 mask)"),
    "make_a_video_sr_l": (
        _unet(192, (1, 1, 2, 2, 4, 4), 2, (5,), concat=3, aug=True), (76, 256, 256),
        _tiny(concat=3, aug=True), (6, 8, 8), "spatiotemporal (pseudo-3-D) SR, low-res video concatenated"),
    "make_a_video_sr_h": (
        _unet(128, (1, 1, 2, 2, 4, 4), 2, (), video=False, concat=3, aug=True), (76, 768, 768),
        _tiny(video=False, concat=3, aug=True), (6, 24, 24), "the image SR_h applied per frame (no temporal layers)"),
}
for name, (paper, (f, h, w), tiny, (tf, th, tw), note) in _STAGE_PRESETS.items():
    register_recipe(Recipe(
        name=name, paper=_PAPER, net="net/space_time_unet",
        presets={"paper": Preset(paper, 3, f, h, w, NOT_PUBLISHED, f"{note}; our sizes"),
                 "tiny": Preset(tiny, 3, tf, th, tw, _TINY_NOTE, "CPU test size", sampling=dict(steps=2))},
        sampling=_SR_SAMPLING, summary=f"Make-A-Video cascade stage: {note}",
        conditioning=("concat", "added_cond"), reconstruction=True, stage_of="make_a_video"))

RECIPE = register_recipe(Recipe(
    name="make_a_video",
    paper=_PAPER,
    net="net/space_time_unet",
    presets={
        "paper": Preset(_unet(320, (1, 2, 3, 4), 3, (1, 2, 3)), 3, 76, 768, 768, NOT_PUBLISHED,
                        "D^t (16×64×64) of the cascade; the sample shape is the cascade's output, 76 frames of "
                        "768² (docs/papers.md §6.2); our widths (an ADM-style 64² decoder), not the paper's"),
        "tiny": Preset(_tiny(), 3, 6, 24, 24, _TINY_NOTE, "CPU test size: D^t at 2×2×2, cascade to 6×24×24",
                       sampling=dict(steps=2)),
    },
    sampling=_SAMPLING,
    summary="pixel cascade D^t -> ↑F -> SR^t_l -> SR_h; pseudo-3-D attention (spatial then identity-initialised "
            "temporal), pseudo-3-D convs (2-D conv + dirac 1-D conv over frames) in the res-blocks, CLIP image "
            "embedding + fps as added_cond",
    conditioning=("added_cond",),
    encoders={"added_cond": "conditioning/image_embedding"},
    reconstruction=True,
    stages=STAGES,
))
