"""``cache/teacache``: Timestep Embedding Aware Cache — skip the block stack while the rescaled input change is small.

[V-paper: Liu et al. 2024, TeaCache "Timestep Embedding Tells: It's Time to Cache for Video Diffusion Model",
arXiv:2411.19108, §4.2-4.3, eq. 6-8] [V-code: ali-vilab/TeaCache TeaCache4Wan2.1/teacache_generate.py @ 7c10efc,
``teacache_forward``] The block stack's output residual is reused while the accumulated, polynomial-rescaled relative L1
change of the first block's timestep-modulated input stays below the threshold::

    L1_rel(i) = mean|I_i − I_{i−1}| / mean|I_{i−1}|           I: the first block's modulated input (eq. 6)
    acc      += P(L1_rel(i))                                   P: the per-model polynomial fitted to output changes
    acc < threshold:  x_L ≈ x_0 + Δ                            Δ = x_L − x_0 of the last computed step
    otherwise:        compute every block, Δ ← x_L − x_0, acc ← 0

Steps i < ``retention_steps`` and (``compute_last``) the last step are always computed with acc ← 0; I_{i−1} is the
previous step's input, computed or not. ``input`` chooses I: ``"modulated"`` LN(x)·(1 + scale₁) + shift₁ of the first
block (the paper's, HunyuanVideo / Open-Sora), ``"embedding"`` the timestep embedding e (TeaCache4Wan2.1's default
mode) or ``"modulation"`` the blocks' shared modulation e0 (its ``use_ret_steps`` mode). Shapes: tokens ``(B, N, D)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..blocks.dit_adaln_zero import layer_norm
from ..registry import BadInput, register
from .base import StepCache, check_range, full_loop
from .examples import CACHE_DTYPES, cache_inputs, cache_output_shape, no_blocks, no_step


# name -> (coefficients of P, highest degree first as numpy.poly1d, the input I, retention steps, compute the last)
# [V-code: ali-vilab/TeaCache TeaCache4Wan2.1/teacache_generate.py @ 7c10efc, lines 880-894 and 964-978]
COEFFICIENTS = {
    "identity": ((1.0, 0.0), "modulated", 1, True),  # P(x) = x: the unrescaled distance (no fitted polynomial)
    "wan2.1_t2v_1.3b": ((2.39676752e+03, -1.31110545e+03, 2.01331979e+02, -8.29855975e+00, 1.37887774e-01),
                        "embedding", 1, True),
    "wan2.1_t2v_14b": ((-5784.54975374, 5449.50911966, -1811.16591783, 256.27178429, -13.02252404),
                       "embedding", 1, True),
    "wan2.1_i2v_14b_480p": ((-3.02331670e+02, 2.23948934e+02, -5.25463970e+01, 5.87348440e+00, -2.01973289e-01),
                            "embedding", 1, True),
    "wan2.1_i2v_14b_720p": ((-114.36346466, 65.26524496, -18.82220707, 4.91518089, -0.23412683),
                            "embedding", 1, True),
    "wan2.1_t2v_1.3b_ret": ((-5.21862437e+04, 9.23041404e+03, -5.28275948e+02, 1.36987616e+01, -4.99875664e-02),
                            "modulation", 5, False),
    "wan2.1_t2v_14b_ret": ((-3.03318725e+05, 4.90537029e+04, -2.65530556e+03, 5.87365115e+01, -3.15583525e-01),
                           "modulation", 5, False),
    "wan2.1_i2v_14b_480p_ret": ((2.57151496e+05, -3.54229917e+04, 1.40286849e+03, -1.35890334e+01,
                                 1.32517977e-01), "modulation", 5, False),
    "wan2.1_i2v_14b_720p_ret": ((8.10705460e+03, 2.13393892e+03, -3.72934672e+02, 1.66203073e+01,
                                 -4.17769401e-02), "modulation", 5, False),
}
INPUTS = ("modulated", "embedding", "modulation")


def rescale(coefficients: Sequence[float], x: float) -> float:
    """P(x) with ``coefficients`` highest degree first (``numpy.poly1d``'s order), by Horner's rule."""
    out = 0.0
    for a in coefficients:
        out = out * x + a
    return out


def relative_l1(current: torch.Tensor, previous: torch.Tensor) -> float:
    """mean|I − I'| / mean|I'| (eq. 6), a python float."""
    return float((current - previous).abs().mean() / previous.abs().mean())


@register(
    "cache", "teacache", paper="Liu et al. 2024 (TeaCache, arXiv:2411.19108)",
    tiny=dict(threshold=0.1), inputs=cache_inputs, output_shape=cache_output_shape, frames=(2,), dtypes=CACHE_DTYPES,
    bad_inputs=[BadInput(match="threshold must be a number >= 0", init={"threshold": float("nan")}),
                BadInput(match="coefficients must be one of", init={"coefficients": "wan3"}),
                BadInput(match="input must be one of", init={"input": "latent"}), no_step(), no_blocks()],
)
class TeaCache(StepCache):
    """Reuse the block stack's residual while Σ P(relative L1 of the first block's modulated input) < threshold.

    Args:
        threshold: the accumulated rescaled distance that forces a computation (TeaCache4Wan2.1 1.3B: 0.05 ≈ 1.5×,
            0.08 ≈ 2×; ≥ 0).
        coefficients: a ``COEFFICIENTS`` name (the published per-model polynomials; it also sets ``input``,
            ``retention_steps`` and ``compute_last`` unless given) or P's coefficients, highest degree first.
        input: I: ``"modulated"``, ``"embedding"`` or ``"modulation"`` (module docstring).
        retention_steps: the first steps always computed (≥ 1). compute_last: the last step always computed."""

    key = "cache/teacache"

    def __init__(self, threshold: float = 0.08, coefficients: str | Sequence[float] = "identity",
                 input: str | None = None, retention_steps: int | None = None,
                 compute_last: bool | None = None) -> None:
        super().__init__()
        self.threshold = float(check_range(self.key, "threshold", threshold, 0.0))
        preset = ((1.0, 0.0), "modulated", 1, True)
        if isinstance(coefficients, str):
            if coefficients not in COEFFICIENTS:
                raise ValueError(f"{self.key}: coefficients must be one of {tuple(COEFFICIENTS)} or a list of "
                                 f"polynomial coefficients, got {coefficients!r}")
            preset = COEFFICIENTS[coefficients]
            coefficients = preset[0]
        self.coefficients = tuple(float(a) for a in coefficients)
        if not self.coefficients:
            raise ValueError(f"{self.key}: coefficients must hold at least one number, got []")
        self.input = preset[1] if input is None else input
        if self.input not in INPUTS:
            raise ValueError(f"{self.key}: input must be one of {INPUTS}, got {self.input!r}")
        self.retention_steps = check_range(self.key, "retention_steps",
                                           preset[2] if retention_steps is None else retention_steps, 1,
                                           integer=True)
        self.compute_last = preset[3] if compute_last is None else bool(compute_last)

    def modulated_input(self, net, tokens, facts) -> torch.Tensor:
        """I for this call: the first block's modulated input, or the embedding / shared modulation."""
        if self.input == "embedding":
            return facts["embedding"]
        if self.input == "modulation":
            return facts["c"]
        block = net.blocks[0]
        shift, scale = block._modulation(facts["c"])[:2]
        return layer_norm(block.norm1, tokens, block.upcast) * (1 + scale) + shift

    def decide(self, s: dict, current: torch.Tensor) -> bool:
        """The skip rule on one step: True to compute (updates ``s``'s accumulator and previous input)."""
        i, n = self.step.index, self.step.num_steps
        previous, s["previous_input"] = s.get("previous_input"), current
        if i < self.retention_steps or (self.compute_last and i >= n - 1) or previous is None:
            s["accumulated"] = 0.0
            return True
        s["accumulated"] = s.get("accumulated", 0.0) + rescale(self.coefficients, relative_l1(current, previous))
        if s["accumulated"] < self.threshold and s.get("residual") is not None:
            return False
        s["accumulated"] = 0.0
        return True

    def cached_blocks(self, s, net, tokens, run_block, depth, **facts):
        compute = self.decide(s, self.modulated_input(net, tokens, facts).detach().clone())
        self.record(compute)
        if not compute:
            return tokens + s["residual"]
        out = full_loop(tokens, run_block, depth)
        s["residual"] = out - tokens
        return out
