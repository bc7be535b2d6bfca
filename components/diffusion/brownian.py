"""A Brownian-tree noise source for the SDE samplers (torchsde, optional: ``pip install -e ".[sde]"``).

``noise = brownian_noise(x, sigmas, seed=0)`` then ``sample(denoiser, x, sigmas, noise_sampler=noise)``. The draw for a
step σ → σ' is the increment of ONE Brownian path W over noise level, normalised: (W(σ') − W(σ)) / sqrt(|σ' − σ|). The
path is fixed by the seed whatever grid queries it, so a stochastic sampler run with more steps refines the same
sample path and converges (strongly) as the grid is refined; fresh ``randn`` draws converge only in distribution.
This is k-diffusion's ``BrownianTreeNoiseSampler`` (the same torchsde tree, seed and normalisation; tested equal).

Samplers that know their step's levels pass them (``run.noise(x, sigma, sigma_next)``): dpm_2_ancestral,
dpmpp_2s_ancestral, dpmpp_sde, dpmpp_2m_sde, dpmpp_3m_sde. Each draw reads the two levels on the host (the tree is
queried with python floats), so this source is for quality runs, not for the no-host-sync fast path.
"""

from __future__ import annotations

import torch
from torch import Tensor


__all__ = ["BrownianNoise", "brownian_noise"]


class BrownianNoise:
    """``noise_sampler(k, sigma, sigma_next) -> (B, ...)`` from a torchsde ``BrownianTree`` on [σ_min, σ_max]."""

    uses_levels = True

    def __init__(self, x: Tensor, sigma_min: float, sigma_max: float, seed: int = 0) -> None:
        try:
            import torchsde
        except ImportError as err:
            raise ImportError("brownian_noise needs torchsde: pip install -e \".[sde]\"") from err
        lo, hi = float(sigma_min), float(sigma_max)
        if not 0 <= lo < hi:
            raise ValueError(f"brownian_noise: need 0 <= sigma_min < sigma_max, got {lo}, {hi}")
        # the tree's times in the sample's precision (fp32, or float64 for a float64 sample), as k-diffusion's
        # tensors give them: a Brownian path moves by ~sqrt(Δt) over a time rounding Δt
        self.dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        self.tree = torchsde.BrownianTree(torch.as_tensor(lo, dtype=self.dtype), torch.zeros_like(x),
                                          torch.as_tensor(hi, dtype=self.dtype), entropy=int(seed))

    def __call__(self, k: int, sigma: Tensor, sigma_next: Tensor) -> Tensor:
        a, b = float(sigma), float(sigma_next)
        lo, hi, sign = (a, b, 1.0) if a < b else (b, a, -1.0)
        times = torch.as_tensor(lo, dtype=self.dtype), torch.as_tensor(hi, dtype=self.dtype)
        return self.tree(*times) * sign / abs(b - a) ** 0.5


def brownian_noise(x: Tensor, sigmas: Tensor, seed: int = 0) -> BrownianNoise:
    """A ``BrownianNoise`` spanning the grid's positive levels (k-diffusion's default interval)."""
    positive = sigmas[sigmas > 0]
    return BrownianNoise(x, float(positive.min()), float(sigmas.max()), seed)
