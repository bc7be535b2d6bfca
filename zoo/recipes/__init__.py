"""The paper recipes, one file per paper: declarations only (presets of registered nets, published numbers,
sampling defaults; ``zoo.recipe`` is the format). Importing this package registers every recipe.

The runtime that consumes them lives one level up: ``zoo.plan`` (resolve once), ``zoo.pipeline``, ``zoo.objective``,
``zoo.train`` and the CLI.
"""

from . import (  # noqa: F401  (each module registers its recipes on import)
    cogvideox,
    controlvideo,
    gen1,
    hunyuan_video,
    imagen_video,
    latte,
    ltx_video,
    lumiere,
    make_a_video,
    mochi,
    modelscope_t2v,
    open_sora,
    sora_dit,
    stable_diffusion,
    svd,
    text2video_zero,
    tune_a_video,
    vdm,
    video_ldm,
    wan,
)
