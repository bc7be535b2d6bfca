"""Rename declarations of the diffusers building blocks that several converters share (module names, before
``param_pairs`` adds ``.{P}``; see ``common.py`` for the template syntax).

* ``ResnetBlock2D`` -> ``block/resnet``: ``time_emb_proj`` -> ``emb_proj.1``, ``conv_shortcut`` -> ``skip``;
* ``BasicTransformerBlock`` -> our transformer layer: ``to_out.0`` -> ``to_out``; GEGLU ``ff.net.0.proj`` /
  ``ff.net.2`` -> timm ``ff.fc1`` / ``ff.fc2`` (same [value | gate] halves);
* ``Transformer2DModel`` / ``TransformerTemporalModel`` -> our spatial / temporal transformer:
  ``transformer_blocks.d`` -> ``layers.d``.
"""

from __future__ import annotations


RESNET = [("norm1", "norm1"), ("conv1", "conv1"), ("norm2", "norm2"), ("conv2", "conv2"),
          ("time_emb_proj", "emb_proj.1"), ("conv_shortcut", "skip")]
TRANSFORMER_LAYER = [("norm1", "norm1"), ("norm2", "norm2"), ("norm3", "norm3"), ("attn1.to_{x}", "attn1.to_{x}"),
                     ("attn2.to_{x}", "attn2.to_{x}"), ("attn1.to_out.0", "attn1.to_out"),
                     ("attn2.to_out.0", "attn2.to_out"), ("ff.net.0.proj", "ff.fc1"), ("ff.net.2", "ff.fc2")]
TRANSFORMER = [("norm", "norm"), ("proj_in", "proj_in"), ("proj_out", "proj_out")] + [
    (f"transformer_blocks.{{d}}.{a}", f"layers.{{d}}.{b}") for a, b in TRANSFORMER_LAYER]
