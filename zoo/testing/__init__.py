"""Helpers for the zoo's tests, the docs/use pages and the benchmarks; the library never imports them at run time.

- ``tiny_pipelines``: tiny random diffusers pipelines (SVD, ModelScope T2V) built offline from configs;
- ``tiny_folders``: tiny random diffusers-format weights folders that fit each recipe's ``tiny`` preset.

Both need the dev extra (diffusers, transformers); never imported by ``import zoo``.
"""
