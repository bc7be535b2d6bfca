"""Lumiere (Bar-Tal et al. 2024, Google; arXiv 2401.12945) — a RECONSTRUCTION (no code, no sizes; docs/papers.md §11).

Declarations only: the Space-Time U-Net (STUNet) is ``net/space_time_unet`` with ``temporal_down_levels`` (time is
halved with space after levels 0–2 by ``conv/temporal_down`` / ``temporal_up``), convolution-based inflation
(a zero-initialised temporal conv res-block after every spatial res-block, ``temporal="conv"``) at every level and
attention-based inflation (temporal attention) only at the coarsest level (``temporal="both"`` with
``temporal_attention_levels``). The whole 80-frame clip is generated in one pass at 128² — no temporal
super-resolution cascade; the spatial SR (1024², MultiDiffusion over temporal windows) is not declared here.
"""

from __future__ import annotations

from ..recipe import Preset, Published, Recipe, Sampling, register_recipe


_PAPER = "Bar-Tal et al. 2024, Lumiere: A Space-Time Diffusion Model for Video Generation (arXiv 2401.12945)"


def _stunet(base: int, mults: tuple, blocks: int, attention: tuple, *, head_dim: int = 64, groups: int = 32,
            context: int = 4096, ff: float = 4.0) -> dict:
    levels = len(mults)
    return dict(in_channels=3, base_channels=base, channel_mults=mults, num_res_blocks=blocks,
                attention_levels=attention, temporal="both", temporal_attention_levels=(levels - 1,),
                temporal_position="relative", temporal_down_levels=tuple(range(levels - 2)), head_dim=head_dim,
                num_groups=groups, context_dim=context, transformer_ff_mult=ff, time_scale=1000.0)


RECIPE = register_recipe(Recipe(
    name="lumiere",
    paper=_PAPER,
    net="net/space_time_unet",
    presets={
        "paper": Preset(_stunet(256, (1, 2, 4, 4, 8), 2, (2, 3, 4)), 3, 80, 128, 128,
                        Published(None, "[M]", "Lumiere publishes no architecture sizes or counts (docs/papers.md §11); "
                                               "ours are an Imagen-style pixel U-Net"),
                        "80 frames (5 s at 16 fps) of 128² [M]; time halved after levels 0, 1, 2 (80 -> 10 frames "
                        "at the coarsest level), temporal attention there only; T5-XXL-width text context [M]"),
        "tiny": Preset(_stunet(8, (1, 2, 2), 1, (2,), head_dim=8, groups=4, context=8, ff=1.0), 3, 4, 8, 8,
                       Published(None, "[ours]", "CPU test size"), "CPU test size", sampling=dict(steps=2)),
    },
    sampling=Sampling(schedule="schedule/cosine", schedule_kwargs={"logsnr_min": -20.0, "logsnr_max": 20.0},
                      parameterization="parameterization/v", sampler="sampler/ddim", sampler_kwargs={"eta": 0.0},
                      steps=256, guidance="guidance/cfg", guidance_kwargs={"scale": 8.0, "form": "scale"},
                      time_input="continuous"),
    summary="STUNet: space-time U-Net that down- and up-samples time as well as space, temporal conv inflation "
            "everywhere and temporal attention at the coarsest level; whole clip in one pass, no TSR cascade",
    conditioning=("context",),
    encoders={"context": ("conditioning/text", {"kind": "t5"})},
    reconstruction=True,
))
