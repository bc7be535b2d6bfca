"""Diffusion math: schedules, forward process, parameterizations and preconditionings, weightings, denoisers, samplers,
guidance and the other denoiser wrappers.

Importing this package registers every entry (``schedule/*``, ``forward/*``, ``parameterization/*``,
``preconditioning/*``, ``weighting/*``, ``timesteps/*``, ``denoiser/*``, ``sampler/*``, ``guidance/*``,
``wrapper/*``). See docs/diffusion.md; the sampling-time video
techniques (reconstruction guidance, extension, MultiDiffusion, Text2Video-Zero, ControlVideo, Tune-A-Video
editing, masked conditioning) are in docs/sampling.md.
"""

from . import (
    ancestral,
    deis,
    denoisers,
    dpm_solver,
    dpmpp_sde,
    extension,
    forward,
    frame_attention,
    guidance,
    hierarchical,
    inversion_editing,
    likelihood,
    linear_quadratic,
    lms,
    masked_conditioning,
    motion_latents,
    multidiffusion,
    parameterizations,
    preconditioning,
    reconstruction,
    rectified_flow,
    samplers,
    schedules,
    smoother,
    timesteps,
    unipc,
    weighting,
)
from .extension import extend_video
from .frame_attention import swap_spatial_attention, use_cross_frame_attention
from .hierarchical import hierarchical_denoiser, key_frame_indices
from .inversion_editing import edit_video
from .masked_conditioning import mask_channels
from .motion_latents import background_smoothing, motion_dynamics_latents, translate_frames
from .multidiffusion import sample_windows, window_starts
from .smoother import linear_interpolator, smooth_frames
from .step import Step, call_denoiser


__all__ = ["Step", "ancestral", "call_denoiser", "background_smoothing", "deis", "denoisers", "dpm_solver", "dpmpp_sde", "edit_video", "extend_video", "extension", "forward",
           "frame_attention", "guidance", "hierarchical", "hierarchical_denoiser", "inversion_editing",
           "key_frame_indices", "likelihood", "linear_interpolator", "linear_quadratic", "lms", "mask_channels", "masked_conditioning",
           "motion_dynamics_latents",
           "motion_latents", "multidiffusion", "parameterizations", "preconditioning", "reconstruction",
           "rectified_flow", "sample_windows", "samplers", "schedules", "smooth_frames", "smoother",
           "swap_spatial_attention", "timesteps", "translate_frames", "unipc", "use_cross_frame_attention", "weighting", "window_starts"]
