"""Numbers that judge samples, each computed the same way for real clips and for a model's samples.

- ``pixel``: temporal coherence, frame difference, the seam error of an extension, held-out bits/dim;
- ``i3d``: I3D features (the 400 Kinetics logits) of videos, prepared as the FVD reference prepares them;
- ``gaussian``: streaming feature moments and the Fréchet distance with a stable matrix square root;
- ``kernel``: the polynomial-kernel MMD (KVD);
- ``fvd``: FVD and KVD of two sets of videos or features, with a bootstrap standard error.

Every public name is importable from ``zoo.metrics`` directly (docs/evaluation.md).
"""

from .fvd import (
    FVD,
    KVD,
    SAMPLE_SIZE_CAVEAT,
    feature_stats,
    frechet_video_distance,
    kernel_video_distance,
    video_distances,
)
from .gaussian import FeatureStats, frechet_distance, sqrtm_psd, trace_sqrt_product
from .i3d import FVD_FRAMES, FVD_SIZE, check_range, fit_length, i3d_features, i3d_network, resize_tf1_bilinear
from .kernel import polynomial_mmd, polynomial_mmd_subsets
from .pixel import (
    BITS_PER_DIM,
    FRAME_DIFFERENCE,
    TEMPORAL_COHERENCE,
    bits_per_dim,
    frame_difference,
    frame_jump,
    gaussian_baseline_bits_per_dim,
    quantize_8bit,
    seam_error,
    standard_error,
    summary,
    temporal_coherence,
)


__all__ = ["BITS_PER_DIM", "FRAME_DIFFERENCE", "FVD", "FVD_FRAMES", "FVD_SIZE", "KVD", "SAMPLE_SIZE_CAVEAT",
           "TEMPORAL_COHERENCE", "FeatureStats", "bits_per_dim", "check_range", "feature_stats", "fit_length",
           "frame_difference", "frame_jump", "frechet_distance", "frechet_video_distance",
           "gaussian_baseline_bits_per_dim", "i3d_features", "i3d_network", "kernel_video_distance",
           "polynomial_mmd", "polynomial_mmd_subsets", "quantize_8bit", "resize_tf1_bilinear", "seam_error",
           "sqrtm_psd", "standard_error", "summary", "temporal_coherence", "trace_sqrt_product", "video_distances"]
