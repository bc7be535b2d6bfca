"""The explicit step context a sampler hands its denoiser (and every wrapper around it) at each call.

    step = Step(index=i, num_steps=N, row=i, sigmas=grid, tables=run_tables)
    x0 = call_denoiser(denoiser, x, sigma, step, **cond)      # passes step= only to a denoiser that takes it

A sampler run (``sampling._Run``) makes one ``Step`` per denoiser call: the sampler step ``index`` i ∈ [0, N − 1] the
call belongs to (every call inside step i carries i: Heun's corrector and DPM-2's midpoint too), the run's grid
``sigmas`` σ_0 > … > σ_N (compute dtype), the ``row`` of that grid the call's level is (None for a level off the grid,
e.g. a midpoint σ_mid = √(σ_i σ_{i+1})), and ``tables``: one dict per run in which an adapter keeps per-grid
coefficient tables (``Step.table``) so each is computed once per run, as one vectorised op over the grid, and looked up
by row afterwards. Nothing outlives the run: a second call of the same sampler starts with empty tables and a step index
0, so the same seeded call twice gives bit-identical output.

A denoiser or wrapper opts in with ``takes_step = True`` and a ``step=None`` keyword; ``call_denoiser`` passes the
step only to those, so plain functions ``D(x, σ, **cond)`` keep working. A wrapper forwards ``step`` unchanged to the
denoiser it wraps when it calls it at the same level (guidance, replacement, windows); one that calls it at another
level passes ``step.off_grid()`` (the index without a row).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from torch import Tensor


__all__ = ["Step", "call_denoiser", "takes_step"]


@dataclass(frozen=True)
class Step:
    """One denoiser call's place in a sampler run (see the module docstring).

    index: the sampler step i ∈ [0, num_steps − 1]; num_steps: N; row: the grid row of the call's level or None;
    sigmas: the run's grid ``(N + 1,)``; tables: the run's per-grid coefficient tables (``table``)."""

    index: int
    num_steps: int
    row: int | None = None
    sigmas: Tensor | None = None
    tables: dict = field(default_factory=dict, repr=False, compare=False)

    def table(self, owner: object, make: Callable[[Tensor], tuple[Tensor, ...]]) -> tuple[Tensor, ...]:
        """``make(sigmas)`` for ``owner`` (an adapter), computed once per run: a tuple of tensors ``(N + 1, ...)``
        indexed by ``row``. Owners are told apart by identity."""
        key = id(owner)
        hit = self.tables.get(key)
        if hit is None or hit[0] is not owner:
            hit = self.tables[key] = (owner, make(self.sigmas))
        return hit[1]

    @property
    def on_grid(self) -> bool:
        return self.row is not None and self.sigmas is not None

    def off_grid(self) -> Step:
        """The same step for a call at a level that is not the grid's (no table lookups)."""
        return replace(self, row=None)


def takes_step(denoiser) -> bool:
    """Whether ``denoiser`` takes the step context (``takes_step = True``)."""
    return bool(getattr(denoiser, "takes_step", False))


def call_denoiser(denoiser, x: Tensor, sigma, step: Step | None, **cond) -> Tensor:
    """``denoiser(x, sigma, **cond)``, with ``step=step`` when the denoiser takes it and a step is known."""
    if step is not None and takes_step(denoiser):
        return denoiser(x, sigma, step=step, **cond)
    return denoiser(x, sigma, **cond)
