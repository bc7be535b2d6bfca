"""Latte (Ma et al. 2024, arXiv 2401.03048, ``Vchitect/Latte``): a latent video diffusion transformer.

Declarations only: ``net/space_time_dit`` with ``block_pattern="alternating"`` (Latte's variant 1: spatial and
temporal transformer blocks interleaved, 28 in all), patch (1, 2, 2) on SD-VAE latents, 2-D sin-cos positions per
frame plus a 1-D sin-cos table over frames (``pos_embed="sincos_2d_1d"``), adaLN-Zero conditioning on the timestep
and a class label (UCF-101), learned Σ. Latte-1's text-to-video model (PixArt-α style cross-attention to T5 tokens;
diffusers ``LatteTransformer3DModel``, 1,057,246,880 parameters on an assumed config, papers.md §5.3) needs
cross-attention blocks that ``net/space_time_dit`` does not have, so it is not declared.
"""

from __future__ import annotations

from .recipe import Preset, Published, Recipe, Sampling, register_recipe


def _latte(depth: int, dim: int, heads: int, *, frames: int = 16, size: int = 32, classes: int = 101,
           frequency: int = 256) -> dict:
    return dict(in_channels=4, learn_sigma=True, input_size=(frames, size, size), patch_size=(1, 2, 2),
                hidden_dim=dim, depth=depth, num_heads=heads, block_pattern="alternating", pos_embed="sincos_2d_1d",
                num_classes=classes, class_dropout_prob=0.1, frequency_dim=frequency, time_scale=1.0)


RECIPE = register_recipe(Recipe(
    name="latte",
    paper="Ma et al. 2024, Latte: Latent Diffusion Transformer for Video Generation (arXiv 2401.03048); "
          "Vchitect/Latte",
    net="net/space_time_dit",
    presets={
        "paper": Preset(_latte(28, 1152, 16), 4, 16, 32, 32,
                        Published(None, "[M]", "Latte-XL/2 (class-conditional UCF-101, 16×256²); papers.md has no "
                                               "verified count for this variant"),
                        "Latte-XL/2: 28 alternating spatial/temporal blocks, D 1152, 16 heads, 16 frames of 32×32×4 "
                        "latents (256²)"),
        "tiny": Preset(_latte(2, 32, 2, frames=2, size=8, classes=10, frequency=32), 4, 2, 8, 8,
                       Published(None, "[ours]", "CPU test size"), "CPU test size", sampling=dict(steps=2)),
    },
    sampling=Sampling(schedule="schedule/linear",
                      schedule_kwargs={"beta_start": 1e-4, "beta_end": 2e-2, "num_train_timesteps": 1000},
                      parameterization="parameterization/eps", sampler="sampler/ddpm", steps=250,
                      guidance="guidance/cfg", guidance_kwargs={"scale": 7.0, "form": "scale"},
                      time_input="discrete"),
    summary="latent video DiT with interleaved spatial / temporal transformer blocks (Latte variant 1), adaLN-Zero, "
            "class-conditional, learned Σ",
    conditioning=("class_labels",),
))
