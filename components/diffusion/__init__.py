"""Diffusion math: schedules, forward process, parameterizations, weightings, denoisers, samplers, guidance.

Importing this package registers every entry (``schedule/*``, ``forward/*``, ``parameterization/*``,
``weighting/*``, ``denoiser/*``, ``sampler/*``, ``guidance/*``). See docs/diffusion.md.
"""

from . import (
    ancestral,
    denoisers,
    forward,
    guidance,
    parameterizations,
    preconditioning,
    samplers,
    schedules,
    weighting,
)


__all__ = ["ancestral", "denoisers", "forward", "guidance", "parameterizations", "preconditioning", "samplers",
           "schedules", "weighting"]
