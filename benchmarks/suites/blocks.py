"""Blocks: every ``block/*`` entry (res-blocks, transformer blocks, DiT blocks, alpha merge), forward and backward.

Same machinery as the attention suite (``cases.module_cases``) at ``shapes.BLOCK``; a block containing attention
runs its ``auto`` backend, and the resolved backend of each ``attend`` call is recorded. FLOPs: attention core by
the 4·B·H·N_q·N_k·D convention plus ``FlopCounterMode`` for matmuls and convolutions.
"""

from __future__ import annotations

import components

from ..cases import Context, module_cases
from ..shapes import BLOCK, shapes_for


PATTERNS = ("block/*", "blocks/*")


def run(ctx: Context) -> list[dict]:
    records: list[dict] = []
    keys = components.list_components(PATTERNS)
    if not keys:
        ctx.log("blocks: the registry has no block/* entries yet")
    for key in keys:
        for shape in shapes_for(BLOCK, key.split("/", 1)[1], ctx.tier):
            ctx.log(f"blocks: {key} {shape.label if shape else 'tiny'}")
            records += module_cases(ctx, "blocks", key, shape, [None])
    return records
