"""(2+1)-D factorized convolution (Tran et al. 2018, R(2+1)D): a ``1×d×d`` spatial conv, then a ``t×1×1`` temporal one.

The mid-channel count ``M`` is chosen so the pair has the parameters of the full ``t×d×d`` conv it replaces
(Tran et al. 2018, §3.5):

    M = floor( t·d²·N_in·N_out / (d²·N_in + t·N_out) )

(weights only: ``d²·N_in·M + t·M·N_out ≈ t·d²·N_in·N_out``). A non-linearity between the two convs doubles the
non-linearities at equal cost. Lumiere's convolution-based inflation blocks use the same spatial-then-temporal
factorisation.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ..checks import check_video
from ..registry import BadInput, register
from .common import BAD_EVEN_KERNEL, BAD_VIDEO, VIDEO_INPUTS, conv_output_shape, same_padding, triple
from .temporal_conv import TemporalConv3d


_ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "none": nn.Identity}


def r2plus1d_mid_channels(in_channels: int, out_channels: int, kernel_size: int | Sequence[int] = 3) -> int:
    """Tran et al. 2018's ``M = floor(t·d²·N_in·N_out / (d²·N_in + t·N_out))`` for a ``(t, d, d)`` kernel."""
    t, kh, kw = triple(kernel_size, "kernel_size", where="r2plus1d_mid_channels")
    d2 = kh * kw
    return (t * d2 * in_channels * out_channels) // (d2 * in_channels + t * out_channels)


@register(
    "conv", "factorized_2plus1d", paper="Tran et al. 2018 (R(2+1)D); Bar-Tal et al. 2024 (Lumiere)",
    tiny=dict(in_channels=8, out_channels=16), inputs=VIDEO_INPUTS, output_shape=conv_output_shape,
    bad_inputs=[
        *BAD_VIDEO, BAD_EVEN_KERNEL,
        BadInput(match="activation", init={"activation": "gelu"}, why="unknown activation name"),
        BadInput(match="mid_channels", init={"mid_channels": 0}, why="mid_channels must be positive"),
    ],
)
class FactorizedConv2Plus1d(nn.Module):
    """Spatial ``(1, d, d)`` conv -> activation -> temporal ``(t, 1, 1)`` conv, both with "same" padding.

    Shapes: ``(B, C_in, T, H, W) -> (B, C_mid, T, H, W) -> (B, C_out, T, H, W)``.

    Args:
        in_channels, out_channels: channels.
        kernel_size: ``k`` or ``(t, d, d)`` of the full conv being factorised (odd on every axis).
        mid_channels: channels between the two convs; default Tran et al.'s parameter-matching ``M``
            (``r2plus1d_mid_channels``).
        activation: ``"relu"`` (R(2+1)D), ``"silu"`` or ``"none"`` (a purely linear factorisation).
        bias: additive biases on both convs.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int] = 3,
                 mid_channels: int | None = None, *, activation: str = "relu", bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        t, kh, kw = triple(kernel_size, "kernel_size", where=where)
        pt, ph, pw = same_padding((t, kh, kw), where=where)
        if mid_channels is None:
            mid_channels = r2plus1d_mid_channels(in_channels, out_channels, (t, kh, kw))
        if mid_channels <= 0:
            raise ValueError(f"{where}: mid_channels must be positive, got {mid_channels}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"{where}: activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        factory = {"device": device, "dtype": dtype}
        self.in_channels, self.out_channels, self.mid_channels = in_channels, out_channels, mid_channels
        self.spatial = nn.Conv3d(in_channels, mid_channels, (1, kh, kw), padding=(0, ph, pw), bias=bias, **factory)
        self.act = _ACTIVATIONS[activation]()
        self.temporal = TemporalConv3d(mid_channels, out_channels, t, padding=pt, bias=bias, **factory)

    def forward(self, x: Tensor) -> Tensor:
        check_video(x, channels=self.in_channels, where=type(self).__name__)
        return self.temporal(self.act(self.spatial(x)))
