"""Attention variants × backends at recipe shapes (``attention/*`` from the registry; no per-variant code).

For every registered ``attention/<name>`` and every shape of ``shapes.ATTENTION[tier][name]`` (default row ``*``),
each backend that ``available_backends(device)`` reports usable, plus ``auto``, is pinned on the module with
``set_attention_backend`` and timed forward and backward (``cases.module_cases``). Records name the backend the zoo
resolved for each ``attend`` call and, on GPU, the kernel family the profiler saw — a backend that silently falls
back shows up as such. TFLOP/s uses the whole module's logical FLOPs (attention core 4·B·H·N_q·N_k·D + projections);
``attn_flops`` and GB/s (logical Q, K, V, O bytes) isolate the core.
"""

from __future__ import annotations

import components
from components.attention import available_backends

from ..cases import Context, module_cases
from ..shapes import ATTENTION, shapes_for


def backends(device) -> list[str]:
    """``auto`` then every backend usable on ``device``."""
    return ["auto"] + [name for name, why in available_backends(device).items() if why is None]


def run(ctx: Context) -> list[dict]:
    records: list[dict] = []
    names = backends(ctx.device)
    for key in components.list_components("attention/*"):
        for shape in shapes_for(ATTENTION, key.split("/", 1)[1], ctx.tier):
            ctx.log(f"attention: {key} {shape.label if shape else 'tiny'} × {', '.join(names)}")
            records += module_cases(ctx, "attention", key, shape, names)
    return records
