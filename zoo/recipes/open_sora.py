"""Open-Sora 1.2 — a rectified-flow spacetime DiT (hpcaitech/Open-Sora:docs/report_03.md; STDiT3).

Declarations only: ``net/space_time_dit`` with alternating spatial / temporal blocks over (1, 2, 2) patches of a
4-channel latent video, T5 tokens cross-attending in every block, adaLN-single on the timestep (PixArt-α, the
checkpoint Open-Sora 1.2 starts from), QK-norm, trained by rectified flow with logit-normal training times and a
resolution- and length-aware time shift, sampled with 30 Euler (flow) steps and classifier-free guidance 7.0.

Provenance: [V-paper] = the Open-Sora 1.2 report (hpcaitech/Open-Sora:docs/report_03.md): 1.1B parameters, rectified flow, logit-norm
sampling, resolution/length-aware timestep sampling (SD3 §5.3.2 extended to frames), QK-norm, the VAE compressing
8×8 in space and 4× in time. [V-code] = configs/opensora-v1-2/inference/sample.py: ``STDiT3-XL/2``, ``qk_norm=True``,
T5 ``DeepFloyd/t5-v1_1-xxl`` with ``model_max_length=300``, ``rflow`` with ``use_timestep_transform=True``,
30 sampling steps, ``cfg_scale=7.0``. [M] = not re-verified here: XL = depth 28, hidden 1152, 16 heads (PixArt-XL);
T5-XXL width 4096; [V-code] (STDiT3Block in forks of the official code): spatial and temporal blocks alike hold a
self-attention, a T5 cross-attention and an MLP. Our deviations from STDiT3: temporal positions are a 1-D sin-cos table (STDiT3 uses RoPE in its
temporal attention), no fps / aesthetic-score conditioning, and the shift is ``schedule/rectified_flow``'s static
``shift`` (set it per resolution with ``components.diffusion.rectified_flow.shift_mu`` / ``flow_shift``).
Sign convention bridged: Open-Sora regresses x0 − ε with t running from data to noise reversed; ours is u = ε − x0.
"""

from __future__ import annotations

from ..recipe import Preset, Published, Recipe, Sampling, register_recipe
from .autoencoders import IMAGE_VAE


def _stdit(depth: int, dim: int, heads: int, *, frames: int, size: int, text: int = 4096, frequency: int = 256
           ) -> dict:
    return dict(in_channels=4, learn_sigma=True, input_size=(frames, size, size), patch_size=(1, 2, 2),
                hidden_dim=dim, depth=depth, num_heads=heads, block_pattern="alternating", pos_embed="sincos_2d_1d",
                frequency_dim=frequency, time_scale=1000.0, context_dim=text, cross_attention_in=None,
                modulation="adaln_single", qk_norm=True, pos_embed_param=False)


_REPORT = Published(None, "[V-paper]", "Open-Sora 1.2 report: \"a 1.1B model\" (no exact count published); our "
                                       "reconstruction counts 1,206,027,680 (+9.6 %; tested within 10 %)")

RECIPE = register_recipe(Recipe(
    name="open_sora",
    paper="Open-Sora 1.2 (hpcaitech/Open-Sora:docs/report_03.md, 2024): STDiT3-XL/2 trained by rectified flow; "
          "Esser et al. 2024 (SD3) for the flow training recipe",
    net="net/space_time_dit",
    presets={
        "paper": Preset(
            _stdit(56, 1152, 16, frames=16, size=32), 4, 16, 32, 32, _REPORT,
            "STDiT3-XL/2: 28 spatial + 28 temporal blocks (each with T5 cross-attention), D 1152, 16 heads, on "
            "16×32×32×4 latents (a 2 s 240p-class clip after the 8×8×4 VAE); shift 3 for this size"),
        "tiny": Preset(
            _stdit(2, 32, 2, frames=2, size=8, text=8, frequency=32), 4, 2, 8, 8,
            Published(None, "[ours]", "CPU test size"), "CPU test size", sampling=dict(steps=2)),
    },
    sampling=Sampling(
        schedule="schedule/rectified_flow", schedule_kwargs={"shift": 3.0},
        parameterization="parameterization/flow", sampler="sampler/euler", steps=30,
        guidance="guidance/cfg", guidance_kwargs={"scale": 7.0, "form": "scale"},
        train_timesteps="timesteps/logit_normal", train_timesteps_kwargs={"mean": 0.0, "std": 1.0, "shift": 3.0}),
    summary="rectified-flow spacetime DiT (Open-Sora 1.2 STDiT3 style): alternating spatial / temporal blocks with "
            "T5 cross-attention, adaLN-single, QK-norm, logit-normal training times with a time shift, 30 Euler steps",
    conditioning=("context",),
    encoders={"context": ("conditioning/text", {"kind": "t5"})},
    autoencoder=IMAGE_VAE,
))
