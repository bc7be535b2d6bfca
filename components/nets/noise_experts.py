"""``net/noise_experts``: two networks of one architecture, each denoising its own range of noise levels.

Wan 2.2's A14B models (Wan-Video/Wan2.2, README "Mixture-of-Experts"; docs/papers.md §19) split the denoising
trajectory at a boundary time: a high-noise expert lays out the video early in sampling, a low-noise expert refines
details late. Each step runs exactly one expert, so the active size stays that of one expert:

    f(x, t) = f_high(x, t)   if t ≥ boundary          (t: the network's time input, e.g. the flow time in [0, 1])
              f_low(x, t)    otherwise

[V-code: Wan-Video/Wan2.2 wan/text2video.py ``_prepare_model_for_timestep``: ``t >= boundary · num_train_timesteps``
selects ``high_noise_model``; diffusers ``WanPipeline``: ``t >= boundary_ratio · num_train_timesteps`` selects
``transformer``, else ``transformer_2``.] The switch is the recipe's (``boundary`` is a constructor keyword of this
net), so a sampler, a trainer or a user calls one network as for any other recipe. Rows of a batch at different
times (training) each go to their own expert.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from .. import registry
from ..attention.configure import configure_attention
from ..registry import BadInput, register
from .dit import TINY as DIT_TINY
from .dit_parts import dit_inputs, dit_output_shape


def _inputs(cfg: dict, frames: int = 2, batch: int = 2, generator: torch.Generator | None = None):
    """The expert's own example inputs, with times on both sides of the boundary (rows go to different experts)."""
    (x, _), cond = registry.get_component(cfg["net"]).inputs(dict(cfg["config"]), frames=frames, batch=batch,
                                                            generator=generator)
    t = torch.linspace(0.05, 0.95, batch)
    return (x, t), cond


TINY = dict(net="net/space_time_dit", config=dict(DIT_TINY, time_scale=1000.0), boundary=0.5)


@register(
    "net", "noise_experts", paper="Wan Team 2025 (Wan 2.2 A14B mixture of experts by noise level)",
    tiny=TINY, inputs=_inputs, output_shape=lambda cfg, x, *a, **k: dit_output_shape(cfg["config"], x),
    tolerance={"bfloat16": 4e-2, "float16": 2e-2},
    bad_inputs=[
        BadInput(match="boundary must be in", init={"boundary": 1.5}, why="boundary outside the time range"),
        BadInput(match="net must name a registered network", init={"net": "attention/spatial"}),
        BadInput(match="t must be", inputs=lambda cfg: ((dit_inputs(cfg["config"])[0][0], torch.zeros(3)), {}),
                 why="one time per row is needed to pick the expert"),
    ],
)
class NoiseLevelExperts(nn.Module):
    """``(x, t, **cond) -> high_noise(x, t, **cond)`` where ``t >= boundary``, else ``low_noise(x, t, **cond)``.

    Shapes: whatever the expert takes and returns; ``t`` ``(B,)`` (or a scalar). Both experts are built from the same
    registry entry and config (A14B's two experts have one architecture and separate weights).

    Args:
        net: the experts' registry key (``net/wan_transformer``).
        config: their constructor keywords.
        boundary: the switch time, in the units of ``t`` as this net receives it (Wan 2.2 T2V: 0.875 of the flow
            time, I2V: 0.900 [V-code: Wan2.2 wan/configs/wan_t2v_A14B.py, wan_i2v_A14B.py ``boundary``]).
        attention_backend, frame_attention, frame_attention_kwargs, spacetime_attention, spacetime_attention_kwargs:
            as the experts' (set on both, recorded here).
    """

    def __init__(self, net: str, config: Mapping, boundary: float, *, attention_backend: str | None = None,
                 frame_attention: str | None = None, frame_attention_kwargs: dict | None = None,
                 spacetime_attention: str | None = None, spacetime_attention_kwargs: dict | None = None, device=None,
                 dtype=None) -> None:
        super().__init__()
        where = type(self).__name__
        if not (isinstance(net, str) and net.startswith("net/") and registry.has_component(net)):
            raise ValueError(f"{where}: net must name a registered network 'net/<name>', got {net!r}")
        if not 0.0 < float(boundary) < 1.0:
            raise ValueError(f"{where}: boundary must be in (0, 1) (a time between the experts), got {boundary}")
        self.net_key, self.boundary = net, float(boundary)
        self.high_noise = registry.build(net, **dict(config), device=device, dtype=dtype)
        self.low_noise = registry.build(net, **dict(config), device=device, dtype=dtype)
        for name in ("size_multiple", "supported_cond", "in_channels", "out_channels"):
            if hasattr(self.high_noise, name):
                setattr(self, name, getattr(self.high_noise, name))
        configure_attention(self, attention_backend=attention_backend, frame_attention=frame_attention,
                            frame_attention_kwargs=frame_attention_kwargs, spacetime_attention=spacetime_attention,
                            spacetime_attention_kwargs=spacetime_attention_kwargs)

    def expert_for(self, t) -> nn.Module:
        """The expert of one time ``t`` (a float or a 0-d / one-element tensor)."""
        return self.high_noise if float(t) >= self.boundary else self.low_noise

    def forward(self, x: Tensor, t, **cond) -> Tensor:
        t = torch.as_tensor(t, device=x.device)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        if t.ndim != 1 or t.shape[0] != x.shape[0]:
            raise ValueError(f"{type(self).__name__}: t must be a scalar or one time per row (B,) = ({x.shape[0]},), "
                             f"got shape {tuple(t.shape)}")
        high = t >= self.boundary
        if bool(high.all()) or not bool(high.any()):
            return (self.high_noise if bool(high[0]) else self.low_noise)(x, t, **cond)
        out = None
        for rows, expert in ((high, self.high_noise), (~high, self.low_noise)):
            part = expert(x[rows], t[rows], **{k: _rows(v, rows, x.shape[0]) for k, v in cond.items()})
            if out is None:
                out = part.new_empty((x.shape[0], *part.shape[1:]))
            out[rows] = part
        return out


def _rows(value, rows: Tensor, batch: int):
    """The selected rows of a per-sample conditioning tensor (anything else passes unchanged)."""
    return value[rows] if isinstance(value, Tensor) and value.ndim >= 1 and value.shape[0] == batch else value
