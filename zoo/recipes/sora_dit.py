"""Sora-style spacetime DiT (Brooks et al. 2024, a reconstruction) and DiT-XL/2 (Peebles & Xie 2023, arXiv 2212.09748).

Declarations only: both are ``net/space_time_dit``. DiT-XL/2 is the class-conditional image DiT as a one-frame video
(patch ``(1, 2, 2)``, the 2-D sin-cos table), whose parameter count must equal the official code's
``sum(p.numel() for p in model.parameters())`` = 675,129,632 (frozen position table included; docs/papers.md §5.2, §15).
The Sora report discloses no sizes, patch sizes, latent channels or parameter counts (docs/papers.md §5.1): ``sora_dit``
is OUR reconstruction — a DiT-XL-sized transformer over spacetime patches of a 4-channel latent video with a 3-D
sin-cos table, full spacetime attention and a pooled text vector entering through adaLN.
"""

from __future__ import annotations

from ..recipe import Preset, Published, Recipe, Sampling, register_recipe
from .autoencoders import IMAGE_VAE


def _dit(depth: int, dim: int, heads: int, patch: int) -> dict:
    return dict(in_channels=4, learn_sigma=True, input_size=(1, 32, 32), patch_size=(1, patch, patch),
                hidden_dim=dim, depth=depth, num_heads=heads, block_pattern="full", pos_embed="sincos_2d",
                num_classes=1000, class_dropout_prob=0.1, frequency_dim=256, time_scale=1.0)


def _official(params: int, name: str) -> Published:
    return Published(params, "[C]", f"official facebookresearch/DiT {name}: sum(p.numel() for p in "
                                    "model.parameters()) incl. the frozen pos_embed (docs/papers.md §5.2)")


DIT_PRESETS = {
    "paper": Preset(_dit(28, 1152, 16, 2), 4, 1, 32, 32, _official(675_129_632, "DiT-XL/2"),
                    "256×256 images via the SD VAE (32×32×4 latents ×0.18215); trainable 674,834,720"),
    "xl_4": Preset(_dit(28, 1152, 16, 4), 4, 1, 32, 32, _official(675_074_432, "DiT-XL/4")),
    "xl_8": Preset(_dit(28, 1152, 16, 8), 4, 1, 32, 32, _official(675_683_072, "DiT-XL/8")),
    "l_2": Preset(_dit(24, 1024, 16, 2), 4, 1, 32, 32, _official(458_102_816, "DiT-L/2")),
    "b_2": Preset(_dit(12, 768, 12, 2), 4, 1, 32, 32, _official(130_512_416, "DiT-B/2")),
    "s_2": Preset(_dit(12, 384, 6, 2), 4, 1, 32, 32, _official(32_963_360, "DiT-S/2")),
    "tiny": Preset(dict(_dit(2, 32, 2, 2), input_size=(1, 8, 8), num_classes=10, frequency_dim=32), 4, 1, 8, 8,
                   Published(None, "[ours]", "CPU test size"), "CPU test size",
                   sampling=dict(steps=2)),
}

register_recipe(Recipe(
    name="dit_xl_2",
    paper="Peebles & Xie 2023, Scalable Diffusion Models with Transformers (arXiv 2212.09748); "
          "facebookresearch/DiT models.py",
    net="net/space_time_dit",
    presets=DIT_PRESETS,
    sampling=Sampling(
        schedule="schedule/linear", schedule_kwargs={"beta_start": 1e-4, "beta_end": 2e-2,
                                                     "num_train_timesteps": 1000},
        parameterization="parameterization/eps", sampler="sampler/ddpm", steps=250,
        guidance="guidance/cfg", guidance_kwargs={"scale": 1.5, "form": "scale"}, time_input="discrete"),
    summary="class-conditional image DiT (adaLN-Zero), learned Σ, as a one-frame video; "
            "also the DiT family sizes S/2, B/2, L/2, XL/4, XL/8 as presets",
    conditioning=("class_labels",),
    autoencoder=IMAGE_VAE,
))


def _sora(**extra) -> dict:
    base = dict(in_channels=4, learn_sigma=True, input_size=(16, 32, 32), patch_size=(2, 2, 2), hidden_dim=1152,
                depth=28, num_heads=16, block_pattern="full", pos_embed="sincos_3d", num_classes=None,
                added_cond_dim=1024, frequency_dim=256, time_scale=1.0)
    return {**base, **extra}


RECONSTRUCTION = Published(None, "[M]", "OpenAI discloses no architecture sizes or parameter counts (docs/papers.md §5.1); "
                                        "our reconstruction's count is in docs/recipes.md")

register_recipe(Recipe(
    name="sora_dit",
    paper="Brooks et al. 2024, Video generation models as world simulators (OpenAI report) — RECONSTRUCTION; "
          "backbone after Peebles & Xie 2023 (DiT)",
    net="net/space_time_dit",
    presets={
        "paper": Preset(_sora(), 4, 16, 32, 32, RECONSTRUCTION,
                        "a reconstruction: DiT-XL width/depth on (2, 2, 2) spacetime patches of a 16×32×32×4 latent "
                        "(4,096 tokens), full spacetime attention, pooled text (1024) through adaLN"),
        "latte_like": Preset(_sora(block_pattern="alternating", patch_size=(1, 2, 2)), 4, 16, 32, 32,
                             RECONSTRUCTION, "factorised variant: alternating spatial / temporal blocks (Latte-style)"),
        "tiny": Preset(dict(_sora(), input_size=(2, 8, 8), hidden_dim=32, depth=2, num_heads=2, added_cond_dim=8,
                            frequency_dim=32), 4, 2, 8, 8, Published(None, "[ours]", "CPU test size"),
                       "CPU test size", sampling=dict(steps=2)),
    },
    sampling=Sampling(
        schedule="schedule/linear", schedule_kwargs={"beta_start": 1e-4, "beta_end": 2e-2,
                                                     "num_train_timesteps": 1000},
        parameterization="parameterization/eps", sampler="sampler/ddim", sampler_kwargs={"eta": 0.0}, steps=50,
        guidance="guidance/cfg", guidance_kwargs={"scale": 4.5, "form": "scale"}, time_input="discrete"),
    summary="spacetime-patch diffusion transformer (reconstruction; Sora publishes no architecture details)",
    conditioning=("added_cond",),
    autoencoder=IMAGE_VAE,
    reconstruction=True,
))
