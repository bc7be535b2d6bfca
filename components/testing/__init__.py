"""Test helpers for users and for the zoo's own tests: public hypothesis strategies (``strategies``).

Needs the dev extra (hypothesis); never imported by ``import components``.
"""
