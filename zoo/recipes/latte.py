"""Latte (Ma et al. 2024, arXiv 2401.03048, ``Vchitect/Latte``): a latent video diffusion transformer.

Declarations only: ``net/space_time_dit`` with ``block_pattern="alternating"`` (Latte's variant 1: spatial and
temporal transformer blocks interleaved, 28 in all), patch (1, 2, 2) on SD-VAE latents, 2-D sin-cos positions per
frame plus a 1-D sin-cos table over frames (``pos_embed="sincos_2d_1d"``), adaLN-Zero conditioning on the timestep
and a class label (UCF-101), learned Σ.

``latte_t2v`` is Latte-1's text-to-video model (docs/papers.md §5.3; diffusers ``LatteTransformer3DModel``): 28 spatial +
28 temporal blocks (``depth=56`` alternating), T5 tokens (4096 wide) through PixArt-α's caption MLP into a
cross-attention sub-layer of every spatial block (``cross_attention_in=("spatial",)``), adaLN-single conditioning on
the timestep only (``modulation="adaln_single"``), fixed positions kept as buffers (``pos_embed_param=False``, as
diffusers), learned Σ. Its count equals diffusers' 1,057,246,880 exactly (spatial blocks 595,155,456, temporal
446,390,784). One difference in the forward: the 1-D temporal table is added to the input tokens here
(``sincos_2d_1d``), while Latte-1 adds it after the first spatial block (no parameters either way).
"""

from __future__ import annotations

from ..recipe import Preset, Published, Recipe, Sampling, register_recipe
from .autoencoders import IMAGE_VAE


def _latte(depth: int, dim: int, heads: int, *, frames: int = 16, size: int = 32, classes: int = 101,
           frequency: int = 256) -> dict:
    return dict(in_channels=4, learn_sigma=True, input_size=(frames, size, size), patch_size=(1, 2, 2),
                hidden_dim=dim, depth=depth, num_heads=heads, block_pattern="alternating", pos_embed="sincos_2d_1d",
                num_classes=classes, class_dropout_prob=0.1, frequency_dim=frequency, time_scale=1.0)


def _latte_t2v(depth: int, dim: int, heads: int, *, frames: int = 16, size: int = 64, text: int = 4096,
               frequency: int = 256) -> dict:
    return dict(in_channels=4, learn_sigma=True, input_size=(frames, size, size), patch_size=(1, 2, 2),
                hidden_dim=dim, depth=depth, num_heads=heads, block_pattern="alternating", pos_embed="sincos_2d_1d",
                frequency_dim=frequency, time_scale=1.0, context_dim=text, cross_attention_in=("spatial",),
                modulation="adaln_single", pos_embed_param=False)


RECIPE = register_recipe(Recipe(
    name="latte",
    paper="Ma et al. 2024, Latte: Latent Diffusion Transformer for Video Generation (arXiv 2401.03048); "
          "Vchitect/Latte",
    net="net/space_time_dit",
    presets={
        "paper": Preset(_latte(28, 1152, 16), 4, 16, 32, 32,
                        Published(None, "[M]", "Latte-XL/2 (class-conditional UCF-101, 16×256²); docs/papers.md has no "
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
    autoencoder=IMAGE_VAE,
))

T2V_RECIPE = register_recipe(Recipe(
    name="latte_t2v",
    paper="Ma et al. 2024, Latte (arXiv 2401.03048): Latte-1 text-to-video (Vchitect/Latte, PixArt-α style); "
          "diffusers LatteTransformer3DModel",
    net="net/space_time_dit",
    presets={
        "paper": Preset(_latte_t2v(56, 1152, 16), 4, 16, 64, 64,
                        Published(1_057_246_880, "[C]", "diffusers 0.42.1 LatteTransformer3DModel on the assumed "
                                                        "Latte-1 config (docs/papers.md §5.3; the config itself is [M])"),
                        "Latte-1: 28 spatial (with T5 cross-attention) + 28 temporal blocks, D 1152 = 16 heads × 72, "
                        "16 frames of 64×64×4 latents (512²)"),
        "tiny": Preset(_latte_t2v(2, 32, 2, frames=2, size=8, text=8, frequency=32), 4, 2, 8, 8,
                       Published(None, "[ours]", "CPU test size"), "CPU test size", sampling=dict(steps=2)),
    },
    sampling=Sampling(schedule="schedule/linear",
                      schedule_kwargs={"beta_start": 1e-4, "beta_end": 2e-2, "num_train_timesteps": 1000},
                      parameterization="parameterization/eps", sampler="sampler/ddim", sampler_kwargs={"eta": 0.0},
                      steps=50, guidance="guidance/cfg", guidance_kwargs={"scale": 7.5, "form": "scale"},
                      time_input="discrete"),
    summary="Latte-1 text-to-video: interleaved spatial (self + T5 cross-attention) / temporal transformer blocks, "
            "adaLN-single on the timestep, learned Σ",
    conditioning=("context",),
    encoders={"context": ("conditioning/text", {"kind": "t5"})},
    autoencoder=IMAGE_VAE,
))
