"""The context-parallel layout: a DeviceMesh of CFG × Ring × Ulysses ranks, parsed from ``ulysses|ring|ulysses=U,ring=R``.

The world of ``cfg · ring · ulysses`` ranks is one ``torch.distributed.device_mesh.DeviceMesh`` with dimensions
``("cfg", "ring", "ulysses")``:

* ``cfg`` (1 or 2): the conditional and unconditional halves of a guided call's doubled batch, one per rank;
* ``ring``: ranks passing K/V blocks around a ring (Liu et al. 2023);
* ``ulysses``: ranks trading sequence shards for head shards by all-to-all (Jacobs et al. 2023, DeepSpeed-Ulysses).

The token sequence is cut into ``ring · ulysses`` contiguous shards; the rank at mesh coordinate ``(c, r, u)`` holds
shard ``r · ulysses + u``, so an all-to-all over the ulysses ranks leaves each with the contiguous chunk ``r`` of the
ring (USP, Fang & Zhao 2024, the 2-D layout xDiT uses).

Training (``data_parallel=True``) puts a leading ``dp`` axis in front, ``("dp", "cfg", "ring", "ulysses")`` with
``cfg = 1``: the world of ``dp · ring · ulysses`` ranks is ``dp`` sequence groups, each one data-parallel replica
whose ``ring · ulysses`` ranks see the same batch (torchtitan's ``dp_shard × cp`` layout; FSDP shards over both).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh


__all__ = ["ContextParallel", "attention_bytes", "divisors", "gather_bytes", "init_context_parallel",
           "mesh_shape", "parse_context_parallel"]

MODES = ("ulysses", "ring")


def divisors(n: int) -> list[int]:
    """The positive divisors of ``n`` (the Ulysses degrees a head count allows)."""
    return [d for d in range(1, n + 1) if n % d == 0]


def parse_context_parallel(spec: str, ranks: int) -> dict[str, int]:
    """``"ulysses"`` / ``"ring"`` (all ``ranks`` on that axis) or ``"ulysses=U,ring=R"`` -> ``{"ulysses": U,
    "ring": R}``; ValueError naming ``context_parallel`` and the value otherwise."""
    where = "context_parallel"
    if spec in MODES:
        return {mode: ranks if mode == spec else 1 for mode in MODES}
    degrees = dict.fromkeys(MODES, 1)
    for part in str(spec).split(","):
        name, _, value = part.partition("=")
        if name.strip() not in MODES or not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"{where}: must be 'ulysses', 'ring' or 'ulysses=U,ring=R' with positive integers, got "
                             f"{spec!r}")
        degrees[name.strip()] = int(value)
    return degrees


@dataclass(frozen=True)
class ContextParallel:
    """This rank's place in the CFG × Ring × Ulysses mesh (``init_context_parallel`` builds it)."""

    mesh: DeviceMesh
    ulysses: int
    ring: int
    cfg: int = 1
    data: int = 1  # sequence groups (training's "dp" axis; 1 when sampling)

    @property
    def data_rank(self) -> int:
        """This rank's sequence group along ``dp`` (0 without a ``dp`` axis): the index of its slice of a global
        batch, the same on every rank of one sequence."""
        return self.coordinate("dp") if "dp" in (self.mesh.mesh_dim_names or ()) else 0

    @property
    def degree(self) -> int:
        """Ranks sharing one sequence: ``ring · ulysses``."""
        return self.ring * self.ulysses

    def group(self, axis: str) -> dist.ProcessGroup:
        """The process group of mesh axis ``"cfg"``, ``"ring"`` or ``"ulysses"`` through this rank."""
        return self.mesh.get_group(axis)

    def coordinate(self, axis: str) -> int:
        """This rank's index along ``axis``."""
        return self.mesh.get_local_rank(axis)

    @property
    def shard_index(self) -> int:
        """Which of the ``degree`` contiguous sequence shards this rank holds: ``ring_rank · ulysses + ulysses_rank``."""
        return self.coordinate("ring") * self.ulysses + self.coordinate("ulysses")

    def check_heads(self, num_heads: int, where: str = "context_parallel") -> None:
        """ValueError unless the Ulysses degree divides ``num_heads`` (each rank takes ``num_heads / U`` heads)."""
        if num_heads % self.ulysses:
            raise ValueError(f"{where}: the ulysses degree must divide num_heads={num_heads}, got ulysses="
                             f"{self.ulysses}; degrees that would: {divisors(num_heads)}")


def mesh_shape(spec: str, world: int, *, cfg_parallel: bool = False, data_parallel: bool = False) -> dict[str, int]:
    """The mesh sizes ``{"dp", "cfg", "ring", "ulysses"}`` for ``spec`` on ``world`` ranks, or ValueError (one line,
    naming ``context_parallel``, the product and the world size).

    Sampling: ``cfg · ring · ulysses`` must equal ``world``; a bare ``ulysses`` / ``ring`` takes every rank the
    ``cfg`` axis leaves. Training (``data_parallel``): it must divide ``world``, the quotient is ``dp``; a bare
    ``ulysses`` / ``ring`` takes every rank (``dp = 1``).
    """
    where = "context_parallel"
    if data_parallel and cfg_parallel:
        raise ValueError(f"{where}: cfg_parallel splits a guided sampling call; training has no such batch, got "
                         f"cfg_parallel=True with data_parallel=True")
    cfg = 2 if cfg_parallel else 1
    if world % cfg:
        raise ValueError(f"{where}: cfg_parallel needs an even world size, got {world}")
    degrees = parse_context_parallel(spec, world // cfg)
    size = degrees["ulysses"] * degrees["ring"] * cfg
    if data_parallel:
        if world % size:
            raise ValueError(f"{where}: the sequence group ring × ulysses = {degrees['ring']} × {degrees['ulysses']} "
                             f"= {size} does not divide the world size {world} ({spec!r}); a world of dp × {size} "
                             f"ranks would")
        return {"dp": world // size, "cfg": 1, **degrees}
    if size != world:
        relation = "exceeds" if size > world else "does not fill"
        raise ValueError(f"{where}: the mesh cfg × ring × ulysses = {cfg} × {degrees['ring']} × {degrees['ulysses']} "
                         f"= {size} {relation} the world size {world} ({spec!r}, cfg_parallel={cfg_parallel})")
    return {"dp": 1, "cfg": cfg, **degrees}


def init_context_parallel(spec: str = "ulysses", *, cfg_parallel: bool = False, data_parallel: bool = False,
                          device_type: str | None = None) -> ContextParallel:
    """The mesh for ``spec`` (``parse_context_parallel``) over the initialised default process group.

    ``cfg_parallel`` puts the two halves of a guided batch on two ranks (a ``cfg`` axis of 2). ``ulysses · ring ·
    cfg`` must equal the world size (torchrun's ``--nproc_per_node`` × nodes); a bare ``ulysses`` / ``ring`` takes
    every rank the ``cfg`` axis leaves. ``data_parallel`` (training): the mesh is ``("dp", "cfg", "ring",
    "ulysses")`` and ``ring · ulysses`` need only divide the world (``mesh_shape``). ``device_type``: ``"cuda"``
    (nccl) or ``"cpu"`` (gloo); default: the process group's.
    """
    where = "context_parallel"
    if not dist.is_available() or not dist.is_initialized():
        raise ValueError(f"{where}: needs torch.distributed initialised (run under torchrun), got {spec!r} in a "
                         f"single process")
    shape = mesh_shape(spec, dist.get_world_size(), cfg_parallel=cfg_parallel, data_parallel=data_parallel)
    if device_type is None:
        device_type = "cuda" if dist.get_backend() == "nccl" and torch.cuda.is_available() else "cpu"
    names = ("dp", "cfg", "ring", "ulysses") if data_parallel else ("cfg", "ring", "ulysses")
    mesh = init_device_mesh(device_type, tuple(shape[n] for n in names), mesh_dim_names=names)
    return ContextParallel(mesh, ulysses=shape["ulysses"], ring=shape["ring"], cfg=shape["cfg"], data=shape["dp"])


def attention_bytes(batch: int, tokens: int, dim: int, *, ulysses: int = 1, ring: int = 1,
                    element_size: int = 2) -> int:
    """Bytes leaving one rank for one sharded self-attention over ``tokens`` tokens of width ``dim = H·D``
    (docs/perf.md §10), with ``S = ⌈tokens / (U·R)⌉`` tokens per rank:

        Ulysses:  4 · B·S·dim · (U − 1)/U      (q, k, v to head shards; the output back)
        Ring:     2 · B·S·dim · (R − 1)        (K and V of S·U tokens, H/U heads, R − 1 passes)
    """
    s = -(-tokens // (ulysses * ring))
    elements = 4 * batch * s * dim * (ulysses - 1) // ulysses + 2 * batch * s * dim * (ring - 1)
    return elements * element_size


def gather_bytes(batch: int, tokens: int, width: int, *, ulysses: int = 1, ring: int = 1,
                 element_size: int = 2) -> int:
    """Bytes leaving one rank to all-gather a net's ``width``-wide output tokens (over ulysses, then ring)."""
    s = -(-tokens // (ulysses * ring))
    return batch * s * width * ((ulysses - 1) + ulysses * (ring - 1)) * element_size
